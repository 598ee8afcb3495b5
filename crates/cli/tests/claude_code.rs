//! The real Claude Code (`claude -p`, npm `@anthropic-ai/claude-code`, installed by
//! `scripts/install-peers.sh` as FUSION_CLAUDE) run offline against a real `fusion serve`: its
//! `ANTHROPIC_BASE_URL` is Fusion's address, its `ANTHROPIC_API_KEY` a Fusion key, its home a
//! temp dir, and `[aliases] "claude-*"` sends the model it asks for to a model on mock-provider,
//! `router/auto` or a council. It prints the scripted answer; when the scripted model asks for
//! its Bash tool, Claude Code runs the command in its working dir, sends the `tool_result` back,
//! and prints the answer made from it. Once, the model is SmolLM2-135M on llama.cpp's
//! `llama-server`. A missing Claude Code or model fails the test; it is never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{FusionServer, healthy_script, peer};
use fusion_mock_provider::{MockProvider, ModelScript, Reply, Script, ToolCall};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::Command;

const PLAIN_TEXT: &str = "Hello from Fusion's mock model.";
const COUNCIL_ANSWER: &str = "FINAL: Paris.";
const MARKER: &str = "fusion-tool-ran";
const KEY: &str = "sk-fusion-claude-code-0123456789";

/// `chat` answers a fixed text; `agent` asks for Bash to echo a marker into a file, then
/// answers with what the tool returned; the standard council.
fn script() -> Script {
    healthy_script()
        .with_model("chat", ModelScript::fixed(PLAIN_TEXT))
        .with_model(
            "agent",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new(
                    "Bash",
                    json!({"command": format!("echo {MARKER} | tee marker.txt"),
                           "description": "Write the marker"}),
                )]),
                Reply::Template("The tool said: {tool_result}".into()),
            ),
        )
}

/// `chat` on a local provider (what `router/auto` picks), the others on a paid one; every
/// `claude-*` model Claude Code asks for goes to `target`.
fn config(mock_url: &str, target: &str) -> String {
    let paid: String = ["m-a", "m-b", "m-c", "judge", "synth", "agent"]
        .iter()
        .map(|id| {
            format!(
                "[[models]]\nid = \"{id}\"\nprovider = \"paid\"\n\
                 price = {{ input_per_mtok = 1.0, output_per_mtok = 1.0 }}\n\n"
            )
        })
        .collect();
    format!(
        r#"[server]
shutdown_grace = "2s"
api_keys_env = ["FUSION_TEST_API_KEY"]

[router]
discover = false

[[providers]]
name = "local"
kind = "openai"
tier = "local"
base_url = "{mock_url}"
timeout = "30s"
retries = 0

[[providers]]
name = "paid"
kind = "openai"
tier = "paid"
base_url = "{mock_url}"
timeout = "30s"
retries = 0

[[models]]
id = "chat"
provider = "local"
# Claude Code's turns are code tasks (the router asks 0.64 of a model for code); a local
# model's default prior is 0.5.
quality = {{ default = 0.9 }}

{paid}
[councils.default]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}

[aliases]
"claude-*" = "{target}"
"#
    )
}

/// One `claude -p` run against a fresh `fusion serve`.
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
    mock: Option<MockProvider>,
    fusion: FusionServer,
    dir: TempDir,
}

impl Run {
    fn assert_ok(&self) {
        assert_eq!(
            self.code,
            0,
            "claude exited {}:\nstdout:\n{}\nstderr:\n{}\n--- fusion serve log ---\n{}",
            self.code,
            self.stdout,
            self.stderr,
            self.fusion.log()
        );
    }

    fn workdir(&self) -> std::path::PathBuf {
        self.dir.path().join("work")
    }

    fn mock(&self) -> &MockProvider {
        self.mock.as_ref().expect("a run on the mock provider")
    }
}

/// Starts `fusion serve` with `claude-*` aliased to `target`, then runs
/// `claude -p PROMPT ARGS` in a work dir of its own, offline, with a temp home.
async fn claude(target: &str, prompt: &str, args: &[&str]) -> Run {
    let mock = MockProvider::start(script()).await.expect("mock-provider");
    let config = config(&mock.base_url(), target);
    let mut run = claude_on(&config, prompt, args, &[], Duration::from_secs(180)).await;
    run.mock = Some(mock);
    run
}

/// Starts `fusion serve` with `config`, then runs `claude -p PROMPT ARGS` with `env` added
/// (within `limit`).
async fn claude_on(
    config: &str,
    prompt: &str,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("fusion.toml");
    std::fs::write(&config_path, config).expect("config");
    let fusion = FusionServer::start(
        dir.path(),
        &[
            "--config",
            config_path.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ],
        &[("FUSION_TEST_API_KEY", KEY)],
    )
    .await;
    let home = dir.path().join("claude-home");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(&work).expect("work dir");
    let out = claude_command(&fusion.url, &home, &work)
        .arg("-p")
        .arg(prompt)
        .args(args)
        .envs(env.iter().copied())
        .output();
    let out = tokio::time::timeout(limit, out)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "claude did not finish within {limit:?}; fusion serve log:\n{}",
                fusion.log()
            )
        })
        .expect("claude runs");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
        mock: None,
        fusion,
        dir,
    }
}

/// Claude Code with nothing of the user's: a cleared environment, a temp home, Fusion as its
/// API, and every non-essential call (telemetry, updates, error reports) turned off.
fn claude_command(url: &str, home: &Path, work: &Path) -> Command {
    let mut cmd = Command::new(peer("FUSION_CLAUDE"));
    cmd.current_dir(work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SHELL", "/bin/bash")
        .env("ANTHROPIC_BASE_URL", url)
        .env("ANTHROPIC_API_KEY", KEY)
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Every request the mock received, in order, as JSON bodies.
fn sent(mock: &MockProvider, model: &str) -> Vec<Value> {
    mock.requests_for(model)
        .into_iter()
        .map(|r| r.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_prints_the_scripted_answer_of_a_model_behind_an_alias() {
    let run = claude("chat", "say hi", &[]).await;
    run.assert_ok();
    assert_eq!(run.stdout.trim(), PLAIN_TEXT);
    let requests = sent(run.mock(), "chat");
    assert!(!requests.is_empty());
    let first = &requests[0];
    assert_eq!(
        first["messages"][0]["role"], "system",
        "Claude Code's system prompt"
    );
    assert_eq!(first["stream"], true, "Claude Code streams");
    let tools = first["tools"].as_array().map_or(0, Vec::len);
    assert!(
        tools > 5,
        "Claude Code's tools reach the model as functions: {tools}"
    );
    for dropped in [
        "thinking",
        "metadata",
        "context_management",
        "output_config",
    ] {
        assert!(first.get(dropped).is_none(), "{dropped} reached the model");
    }
    run.fusion.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_runs_the_tool_the_model_asks_for_and_sends_the_result_back() {
    let run = claude("agent", "write the marker", &["--allowedTools", "Bash"]).await;
    run.assert_ok();
    assert_eq!(
        std::fs::read_to_string(run.workdir().join("marker.txt"))
            .unwrap_or_default()
            .trim(),
        MARKER,
        "Claude Code ran the Bash command in its work dir; stdout: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("The tool said: {MARKER}")),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    let requests = sent(run.mock(), "agent");
    let last = requests.last().unwrap();
    let messages = last["messages"].as_array().unwrap();
    let call = messages
        .iter()
        .find_map(|m| m["tool_calls"].as_array().and_then(|c| c.first()))
        .expect("the assistant's call is in the history");
    assert_eq!(call["function"]["name"], "Bash");
    let result = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool result came back");
    assert_eq!(result["tool_call_id"], call["id"]);
    assert!(
        result["content"]
            .as_str()
            .unwrap_or_default()
            .contains(MARKER),
        "{result}"
    );
    run.fusion.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_is_answered_by_router_auto() {
    let run = claude("router/auto", "say hi", &[]).await;
    run.assert_ok();
    assert_eq!(
        run.stdout.trim(),
        PLAIN_TEXT,
        "the local model is the cheapest"
    );
    run.fusion.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_is_answered_by_a_council() {
    let run = claude("fusion/default", "What is the capital of France?", &[]).await;
    run.assert_ok();
    assert_eq!(run.stdout.trim(), COUNCIL_ANSWER);
    for member in ["m-a", "m-b", "m-c", "judge", "synth"] {
        assert!(
            !run.mock().requests_for(member).is_empty(),
            "{member} was not asked"
        );
    }
    run.fusion.stop().await;
}

/// llama.cpp's `llama-server` with SmolLM2-135M-Instruct (both from scripts/install-peers.sh),
/// killed when dropped.
struct LlamaServer {
    child: tokio::process::Child,
    base_url: String,
}

impl LlamaServer {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(peer("FUSION_LLAMA_SERVER"))
            .args(["-m", &peer("FUSION_SMOLLM_GGUF"), "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["-c", "8192", "-np", "1", "-a", "smollm2", "-t", "2"])
            // Greedy sampling (Claude Code sends no temperature): the same prompt, the same
            // short answer.
            .args(["--temp", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start llama-server");
        let base_url = format!("http://127.0.0.1:{port}/v1");
        let client = reqwest::Client::new();
        // `/health` answers 200 only once the model is loaded (503 before).
        for _ in 0..240 {
            if let Ok(r) = client
                .get(format!("http://127.0.0.1:{port}/health"))
                .send()
                .await
                && r.status().is_success()
            {
                return Self { child, base_url };
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("llama-server did not become ready");
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_gets_an_answer_from_smollm2_on_llama_server() {
    let llama = LlamaServer::start().await;
    let config = format!(
        r#"[server]
api_keys_env = ["FUSION_TEST_API_KEY"]

[router]
discover = false

[[providers]]
name = "llama"
kind = "openai"
tier = "local"
base_url = "{}"
timeout = "240s"
retries = 0

[[models]]
id = "smollm2"
provider = "llama"

[aliases]
"claude-*" = "smollm2"
"#,
        llama.base_url
    );
    // A 135M model with an 8k context: no tools and a short system prompt keep Claude Code's
    // request within it, and a cap on its answer keeps it from rambling to the end of its
    // context (minutes on two cores; llama-server's own `-n` does not cap a request's
    // max_tokens).
    let args = [
        "--tools",
        "",
        "--system-prompt",
        "You are a friendly assistant. Answer in one short sentence.",
    ];
    let env = [("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "256")];
    let run = claude_on(&config, "say hi", &args, &env, Duration::from_secs(300)).await;
    run.assert_ok();
    assert!(
        !run.stdout.trim().is_empty(),
        "SmolLM2 answered nothing; stderr: {}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("API Error"),
        "Claude Code reported an error: {}",
        run.stdout
    );
    run.fusion.stop().await;
    llama.stop().await;
}
