//! Client compatibility on `/v1/messages`: the official Anthropic Python SDK (the `anthropic`
//! package that `scripts/install-peers.sh` installs) against a real `fusion serve` whose models
//! are on the mock provider, reached by Claude-style model names through `[aliases]`. Each test
//! runs one scenario of `clients/anthropic_client.py`: create, stream, a tool round trip (plain
//! and streamed), councils and the router, count_tokens, and the errors the SDK must raise. A
//! missing Python or `anthropic` package fails the test; it is never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{FusionServer, healthy_script};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Reply, Script, ToolCall};
use serde_json::json;
use tempfile::TempDir;
use tokio::process::Command;

// These mirror the constants at the top of `clients/anthropic_client.py`.
const PLAIN_TEXT: &str = "Hello from the mock provider.";
const BROKEN_REASON: &str = "scripted upstream failure: disk on fire";

const INSTALL_HINT: &str = "run scripts/install-peers.sh (it installs the `anthropic` package \
                            into ~/.cache/fusion-peers/venv and prints FUSION_PEERS_PYTHON)";

/// The standard council, a plain model, a tool-calling agent and two failures.
fn script() -> Script {
    healthy_script()
        .with_model("chat", ModelScript::fixed(PLAIN_TEXT))
        .with_model(
            "agent",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new("get_weather", json!({"city": "Paris"}))]),
                Reply::Template("The tool said: {tool_result}".into()),
            ),
        )
        .with_model(
            "broken",
            ModelScript::failing(Failure::status(500, BROKEN_REASON)),
        )
        .with_model(
            "cut",
            ModelScript::fixed("one two three four five").with_cut_after_chunks(2),
        )
}

/// `chat` on a local provider (what `router/auto` picks), the rest on a paid one; Claude-style
/// names mapped by `[aliases]`.
fn config(mock_url: &str, server_extra: &str) -> String {
    let paid: String = [
        "m-a", "m-b", "m-c", "judge", "synth", "agent", "broken", "cut",
    ]
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
{server_extra}

[router]
discover = false

[[providers]]
name = "local"
kind = "openai"
tier = "local"
base_url = "{mock_url}"
timeout = "10s"
retries = 0

[[providers]]
name = "paid"
kind = "openai"
tier = "paid"
base_url = "{mock_url}"
timeout = "10s"
retries = 0

[[models]]
id = "chat"
provider = "local"

{paid}
[councils.default]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}

[aliases]
"claude-opus-*" = "chat"
"claude-agent-*" = "agent"
"claude-council-*" = "fusion/default"
"claude-router-*" = "router/auto"
"claude-broken-*" = "broken"
"claude-cut-*" = "cut"
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
    async fn start(server_extra: &str, env: &[(&str, &str)]) -> Self {
        let mock = MockProvider::start(script())
            .await
            .expect("mock-provider starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("fusion.toml");
        std::fs::write(&config_path, config(&mock.base_url(), server_extra)).expect("config");
        let config_arg = config_path.to_str().expect("utf-8 path");
        let args = ["--config", config_arg, "--listen", "127.0.0.1:0"];
        let fusion = FusionServer::start(dir.path(), &args, env).await;
        Self { fusion, mock, dir }
    }

    /// Runs one scenario of the Python client against this server (its root URL, no `/v1`, as
    /// `ANTHROPIC_BASE_URL` is written); panics with the client's output and the server's log
    /// unless it exits 0.
    async fn client(&self, scenario: &str, api_key: Option<&str>) {
        let python = python();
        let mut cmd = Command::new(&python);
        cmd.arg(common::test_client("anthropic_client.py"))
            .arg(&self.fusion.url)
            .arg(scenario)
            .args(api_key)
            .current_dir(self.dir.path())
            // No ambient ANTHROPIC_* variables or proxies: the client talks to this server only.
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
            "the `anthropic` package is missing for {}: {INSTALL_HINT}\n{output}",
            python.display()
        );
        assert_eq!(
            code,
            0,
            "Anthropic SDK scenario `{scenario}` failed (exit {code}):\n{output}\n\
             --- fusion serve log ---\n{}",
            self.fusion.log()
        );
    }

    async fn stop(self) {
        self.fusion.stop().await;
    }
}

/// The venv Python with the `anthropic` package: `FUSION_PEERS_PYTHON`, else the default peers
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
        "no Python for the Anthropic client at {}: {INSTALL_HINT}",
        path.display()
    );
    path
}

async fn run(scenario: &str) -> Server {
    let server = Server::start("", &[]).await;
    server.client(scenario, None).await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_creates_a_message_from_a_chat_model() {
    let server = run("create").await;
    let sent = &server.mock.requests_for("chat")[0].body;
    assert_eq!(sent["messages"][0]["content"], "Be terse.");
    assert_eq!(sent["max_tokens"], 64);
    assert!(sent.get("metadata").is_none(), "metadata is dropped");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_streams_a_message_as_the_messages_event_sequence() {
    run("stream").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_round_trips_a_tool_call_plain_and_streamed() {
    let server = run("tools").await;
    let last = server.mock.requests_for("agent").pop().unwrap().body;
    let tool = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap();
    assert_eq!(tool["content"], "sunny, 24 C");
    assert_eq!(last["tools"][0]["function"]["name"], "get_weather");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_gets_answers_from_a_council_and_the_router() {
    run("councils").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_counts_tokens_without_calling_a_model() {
    let server = run("count").await;
    assert!(server.mock.requests().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_raises_not_found_bad_request_and_server_errors() {
    run("errors").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_authenticates_with_x_api_key() {
    let key = "sk-fusion-test-0123456789";
    let server = Server::start(
        r#"api_keys_env = ["FUSION_TEST_API_KEY"]"#,
        &[("FUSION_TEST_API_KEY", key)],
    )
    .await;
    server.client("auth", Some(key)).await;
    assert_eq!(
        server.mock.requests_for("chat").len(),
        1,
        "the refused request never reaches the upstream"
    );
    server.stop().await;
}
