//! The real Codex (`codex exec`, npm `@openai/codex`, installed by `scripts/install-peers.sh` as
//! FUSION_CODEX) run offline against a real `fusion serve`: a temp CODEX_HOME whose
//! config.toml defines a model provider with `base_url` = Fusion's `/v1` and
//! `wire_api = "responses"`, its key in an env var holding a Fusion key, and
//! `[aliases] "gpt-*"` sending the model Codex asks for to a model on mock-provider,
//! `router/auto` or a council. Codex prints the scripted answer; when the scripted model calls
//! Codex's `exec_command` function, Codex runs the command in its work dir, sends the output
//! back as a `function_call_output`, and prints the answer made from it. Once, the model is
//! SmolLM2-135M on llama.cpp's `llama-server`. A missing Codex or model fails the test; it is
//! never skipped. Never the user's ~/.codex.
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
const KEY: &str = "sk-fusion-codex-0123456789abcdef";

/// `chat` answers a fixed text; `agent` calls Codex's `exec_command` to echo a marker into a
/// file, then answers with what the tool returned; the standard council.
fn script() -> Script {
    healthy_script()
        .with_model("chat", ModelScript::fixed(PLAIN_TEXT))
        .with_model(
            "agent",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new(
                    "exec_command",
                    json!({"cmd": format!("echo {MARKER} | tee marker.txt")}),
                )]),
                Reply::Template("The tool said: {tool_result}".into()),
            ),
        )
}

/// `chat` on a local provider (what `router/auto` picks), the others on a paid one; every
/// `gpt-*` model Codex asks for goes to `target`.
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
# Codex's turns are code tasks (the router asks 0.64 of a model for code); a local model's
# default prior is 0.5.
quality = {{ default = 0.9 }}

{paid}
[councils.default]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}

[aliases]
"gpt-*" = "{target}"
"#
    )
}

/// Codex's config.toml: a model provider speaking Responses at Fusion's `/v1`, then `extra`
/// top-level keys.
fn codex_config(fusion_url: &str, extra: &str) -> String {
    format!(
        r#"model = "gpt-5-codex"
model_provider = "fusion"
{extra}

[model_providers.fusion]
name = "Fusion"
base_url = "{fusion_url}/v1"
wire_api = "responses"
env_key = "FUSION_API_KEY"
"#
    )
}

/// One `codex exec` run against a fresh `fusion serve`.
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
            "codex exited {}:\nstdout:\n{}\nstderr:\n{}\n--- fusion serve log ---\n{}",
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

    /// Every request the mock received for `model`, in order, as JSON bodies.
    fn sent(&self, model: &str) -> Vec<Value> {
        self.mock()
            .requests_for(model)
            .into_iter()
            .map(|r| r.body)
            .collect()
    }
}

/// Starts `fusion serve` with `gpt-*` aliased to `target`, then runs
/// `codex exec ARGS PROMPT` in a work dir of its own, offline, with a temp home.
async fn codex(target: &str, prompt: &str, sandbox: &str) -> Run {
    let mock = MockProvider::start(script()).await.expect("mock-provider");
    let config = config(&mock.base_url(), target);
    let limit = Duration::from_secs(180);
    let mut run = codex_on(&config, "", prompt, sandbox, limit).await;
    run.mock = Some(mock);
    run
}

/// Starts `fusion serve` with `config`, then runs `codex exec` (within `limit`) with
/// `codex_extra` in its config.toml.
async fn codex_on(
    config: &str,
    codex_extra: &str,
    prompt: &str,
    sandbox: &str,
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
    let home = dir.path().join("home");
    let codex_home = dir.path().join("codex-home");
    let work = dir.path().join("work");
    for d in [&home, &codex_home, &work] {
        std::fs::create_dir_all(d).expect("dir");
    }
    let codex_config = codex_config(&fusion.url, codex_extra);
    std::fs::write(codex_home.join("config.toml"), codex_config).expect("config");
    let out = codex_command(&home, &codex_home, &work)
        .args(["exec", "--skip-git-repo-check", "--sandbox", sandbox])
        .arg(prompt)
        .output();
    let out = tokio::time::timeout(limit, out)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "codex did not finish within {limit:?}; fusion serve log:\n{}",
                fusion.log()
            )
        })
        .expect("codex runs");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
        mock: None,
        fusion,
        dir,
    }
}

/// Codex with nothing of the user's: a cleared environment, a temp home and CODEX_HOME, the
/// Fusion key in the variable its provider's `env_key` names, stdin closed.
fn codex_command(home: &Path, codex_home: &Path, work: &Path) -> Command {
    let mut cmd = Command::new(peer("FUSION_CODEX"));
    cmd.current_dir(work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("CODEX_HOME", codex_home)
        .env("SHELL", "/bin/bash")
        .env("FUSION_API_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_exec_prints_the_scripted_answer_of_a_model_behind_an_alias() {
    let run = codex("chat", "say hi", "read-only").await;
    run.assert_ok();
    assert_eq!(run.stdout.trim(), PLAIN_TEXT);
    let requests = run.sent("chat");
    assert!(!requests.is_empty());
    let first = &requests[0];
    assert_eq!(
        first["messages"][0]["role"], "system",
        "Codex's developer instructions"
    );
    assert_eq!(first["stream"], true, "Codex streams");
    let tools = first["tools"].as_array().cloned().unwrap_or_default();
    assert!(
        tools
            .iter()
            .any(|t| t["function"]["name"] == "exec_command"),
        "Codex's exec_command reaches the model as a function: {tools:?}"
    );
    assert!(
        tools.iter().all(|t| t["type"] == "function"),
        "hosted tools (web_search) are dropped"
    );
    for dropped in [
        "reasoning",
        "include",
        "prompt_cache_key",
        "client_metadata",
        "store",
    ] {
        assert!(first.get(dropped).is_none(), "{dropped} reached the model");
    }
    run.fusion.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_runs_the_command_the_model_asks_for_and_sends_the_output_back() {
    let run = codex("agent", "write the marker", "workspace-write").await;
    run.assert_ok();
    assert_eq!(
        std::fs::read_to_string(run.workdir().join("marker.txt"))
            .unwrap_or_default()
            .trim(),
        MARKER,
        "Codex ran the command in its work dir; stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("The tool said:") && run.stdout.contains(MARKER),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    let requests = run.sent("agent");
    let last = requests.last().unwrap();
    let messages = last["messages"].as_array().unwrap();
    let call = messages
        .iter()
        .find_map(|m| m["tool_calls"].as_array().and_then(|c| c.first()))
        .expect("the assistant's call is in the history");
    assert_eq!(call["function"]["name"], "exec_command");
    let result = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the command's output came back");
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
async fn codex_is_answered_by_router_auto() {
    let run = codex("router/auto", "say hi", "read-only").await;
    run.assert_ok();
    assert_eq!(
        run.stdout.trim(),
        PLAIN_TEXT,
        "the local model is the cheapest"
    );
    run.fusion.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_is_answered_by_a_council() {
    let run = codex(
        "fusion/default",
        "What is the capital of France?",
        "read-only",
    )
    .await;
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
/// answers capped at 256 tokens (Codex asks for no limit, and a 135M model may not stop) and
/// chosen greedily (a sampled answer sometimes rambled past the cap, and Codex fails an
/// incomplete response; greedy answers to a greeting are one or two sentences), killed when
/// dropped.
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
            .args([
                "-c", "8192", "-n", "256", "-np", "1", "-a", "smollm2", "-t", "2",
            ])
            .args(["--temp", "0", "--seed", "7"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start llama-server");
        let base_url = format!("http://127.0.0.1:{port}/v1");
        let client = reqwest::Client::new();
        for _ in 0..240 {
            if let Ok(r) = client.get(format!("{base_url}/models")).send().await
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
async fn codex_gets_an_answer_from_smollm2_on_llama_server() {
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
"gpt-*" = "smollm2"
"#,
        llama.base_url
    );
    // A 135M model with an 8k context: a short instructions file in place of Codex's own keeps
    // the request within it.
    let dir = tempfile::tempdir().expect("temp dir");
    let instructions = dir.path().join("instructions.md");
    std::fs::write(
        &instructions,
        "You are a friendly assistant. Answer in one short sentence.",
    )
    .expect("instructions");
    let extra = format!(
        "model_instructions_file = {}",
        toml_string(instructions.to_str().expect("utf-8"))
    );
    let limit = Duration::from_secs(300);
    let run = codex_on(&config, &extra, "say hi", "read-only", limit).await;
    run.assert_ok();
    assert!(
        !run.stdout.trim().is_empty(),
        "SmolLM2 answered nothing; stderr: {}",
        run.stderr
    );
    run.fusion.stop().await;
    llama.stop().await;
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
