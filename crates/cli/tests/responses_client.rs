//! Client compatibility on `/v1/responses`, `/v1/embeddings` and `/v1/completions`: the official
//! OpenAI Python SDK (the `openai` package that `scripts/install-peers.sh` installs) against a
//! real `fusion serve` whose models are on the mock provider, reached by GPT-style model names
//! through `[aliases]`. Each test runs one scenario of `clients/responses_client.py`:
//! `responses.create` plain and streamed, function calls continued through
//! `previous_response_id` (and sent back whole with `store: false`), a council, the errors the
//! SDK must raise, embeddings and completions (plain and streamed). A missing Python or
//! `openai` package fails the test; it is never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{FusionServer, healthy_script};
use fusion_mock_provider::{MockProvider, ModelScript, Reply, Script, ToolCall};
use serde_json::json;
use tempfile::TempDir;
use tokio::process::Command;

// These mirror the constants at the top of `clients/responses_client.py`.
const PLAIN_TEXT: &str = "Hello from the mock provider.";

const INSTALL_HINT: &str = "run scripts/install-peers.sh (it installs the `openai` package \
                            into ~/.cache/fusion-peers/venv and prints FUSION_PEERS_PYTHON)";

/// The standard council, a plain model, a tool-calling agent and an echo model for the raw
/// endpoints.
fn script() -> Script {
    healthy_script()
        .with_model("chat", ModelScript::fixed(PLAIN_TEXT))
        .with_model("echo", ModelScript::echo())
        .with_model(
            "agent",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new("get_weather", json!({"city": "Paris"}))]),
                Reply::Template("The tool said: {tool_result}".into()),
            ),
        )
}

fn config(mock_url: &str) -> String {
    let models: String = ["chat", "agent", "m-a", "m-b", "m-c", "judge", "synth"]
        .iter()
        .map(|id| format!("[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n\n"))
        .collect();
    format!(
        r#"[server]
shutdown_grace = "2s"

[router]
discover = false

[[providers]]
name = "mock"
kind = "openai"
tier = "local"
base_url = "{mock_url}"
timeout = "10s"
retries = 0

{models}
[[models]]
id = "embedder"
provider = "mock"
model = "echo"

[councils.default]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}

[aliases]
"gpt-5-chat" = "chat"
"gpt-5-agent" = "agent"
"#
    )
}

/// A running `fusion serve` (killed on drop) and the mock provider behind it.
struct Server {
    fusion: FusionServer,
    mock: MockProvider,
    dir: TempDir,
}

impl Server {
    async fn start() -> Self {
        let mock = MockProvider::start(script())
            .await
            .expect("mock-provider starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("fusion.toml");
        std::fs::write(&config_path, config(&mock.base_url())).expect("config");
        let config_arg = config_path.to_str().expect("utf-8 path");
        let args = ["--config", config_arg, "--listen", "127.0.0.1:0"];
        let fusion = FusionServer::start(dir.path(), &args, &[]).await;
        Self { fusion, mock, dir }
    }

    /// Runs one scenario of the Python client against this server; panics with the client's
    /// output and the server's log unless it exits 0.
    async fn client(&self, scenario: &str) {
        let python = python();
        let mut cmd = Command::new(&python);
        cmd.arg(common::test_client("responses_client.py"))
            .arg(&self.fusion.url)
            .arg(scenario)
            .current_dir(self.dir.path())
            // No ambient OPENAI_* variables or proxies: the client talks to this server only.
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", python.display()));
        let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("the `{scenario}` client did not finish within 90 s"))
            .expect("the client runs");
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let code = out.status.code().unwrap_or(-1);
        assert_ne!(
            code,
            3,
            "the `openai` package is missing for {}: {INSTALL_HINT}\n{output}",
            python.display()
        );
        assert_eq!(
            code,
            0,
            "OpenAI SDK scenario `{scenario}` failed (exit {code}):\n{output}\n\
             --- fusion serve log ---\n{}",
            self.fusion.log()
        );
    }

    async fn stop(self) {
        self.fusion.stop().await;
    }
}

/// The venv Python with the `openai` package: `FUSION_PEERS_PYTHON`, else the default peers
/// venv.
fn python() -> PathBuf {
    let path = match std::env::var_os("FUSION_PEERS_PYTHON") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| {
                panic!("neither FUSION_PEERS_PYTHON nor HOME is set; {INSTALL_HINT}")
            });
            Path::new(&home).join(".cache/fusion-peers/venv/bin/python")
        }
    };
    assert!(
        path.is_file(),
        "no Python for the OpenAI client at {}: {INSTALL_HINT}",
        path.display()
    );
    path
}

async fn run(scenario: &str) -> Server {
    let server = Server::start().await;
    server.client(scenario).await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_creates_and_retrieves_a_response_from_a_model_behind_an_alias() {
    let server = run("create").await;
    let sent = &server.mock.requests_for("chat")[0].body;
    assert_eq!(sent["messages"][0]["content"], "Be brief.");
    assert_eq!(sent["max_tokens"], 64);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_streams_a_response_as_the_responses_event_sequence() {
    run("stream").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_round_trips_a_function_call_through_previous_response_id() {
    let server = run("function_call").await;
    let last = server.mock.requests_for("agent").pop().unwrap().body;
    let messages = last["messages"].as_array().unwrap();
    assert_eq!(messages[0]["content"], "Weather in Paris?");
    let tool = messages.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(tool["content"], "sunny");
    assert_eq!(last["tools"][0]["function"]["name"], "get_weather");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_streams_a_function_call_and_sends_the_conversation_back_whole() {
    run("function_call_stream").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_gets_a_response_from_a_council() {
    run("council").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_raises_bad_request_and_not_found_on_the_responses_api() {
    run("errors").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_embeddings_pass_through_to_the_models_provider() {
    let server = run("embeddings").await;
    let sent = &server.mock.requests_for("echo")[0].body;
    assert_eq!(sent["model"], "echo", "the upstream's model id is sent");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_completions_pass_through_plain_and_streamed() {
    run("completions").await.stop().await;
}
