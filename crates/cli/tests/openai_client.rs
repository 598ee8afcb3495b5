//! Client compatibility: the official OpenAI Python client (the `openai` package that
//! `scripts/install-peers.sh` installs) against a real `fusion serve` in front of the mock
//! provider. Each test runs one scenario of `clients/openai_client.py`: models, chat, streaming,
//! councils, and every error class a client must see as the right exception with the right
//! status. A missing Python or `openai` package fails the test; it is never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{FusionServer, healthy_script};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
use tempfile::TempDir;
use tokio::process::Command;

// These mirror the constants at the top of `clients/openai_client.py`.
const CHAT_TEXT: &str = "Hello from the mock provider, one word per chunk.";
const BROKEN_REASON: &str = "scripted upstream failure: disk on fire";
const MAX_BODY_BYTES: usize = 16384;

const INSTALL_HINT: &str = "run scripts/install-peers.sh (it installs the `openai` package into \
                            ~/.cache/fusion-peers/venv and prints FUSION_PEERS_PYTHON)";

/// Every model the scenarios use: the standard council, a plain model, and one per failure.
fn script() -> Script {
    healthy_script()
        .with_model("chat", ModelScript::fixed(CHAT_TEXT))
        .with_model(
            "slow",
            ModelScript::fixed("slow answer").with_latency_ms(2000),
        )
        .with_model(
            "broken",
            ModelScript::failing(Failure::status(500, BROKEN_REASON)),
        )
        .with_model("hang", ModelScript::failing(Failure::Hang))
        .with_model(
            "cut",
            ModelScript::fixed(CHAT_TEXT)
                .with_chunk_delay_ms(10)
                .with_cut_after_chunks(2),
        )
}

/// Three providers on the one mock: the default lane, a lane with one slot and no queue (429s),
/// and a lane with a 1 s timeout (504s).
fn config(mock_url: &str, server_extra: &str) -> String {
    let model = |id: &str, provider: &str| {
        format!("[[models]]\nid = \"{id}\"\nprovider = \"{provider}\"\n\n")
    };
    let mut models: String = [
        "chat", "m-a", "m-b", "m-c", "judge", "synth", "broken", "cut",
    ]
    .iter()
    .map(|id| model(id, "mock"))
    .collect();
    models.push_str(&model("slow", "one-slot"));
    models.push_str(&model("hang", "short-timeout"));
    format!(
        r#"[server]
max_body_bytes = {MAX_BODY_BYTES}
shutdown_grace = "2s"
{server_extra}

[[providers]]
name = "mock"
kind = "openai"
base_url = "{mock_url}"
timeout = "10s"
retries = 0

[[providers]]
name = "one-slot"
kind = "openai"
base_url = "{mock_url}"
timeout = "10s"
retries = 0
max_concurrency = 1
max_queue = 0

[[providers]]
name = "short-timeout"
kind = "openai"
base_url = "{mock_url}"
timeout = "1s"
retries = 0

{models}
[councils.default]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
"#
    )
}

/// A running `fusion serve` (killed on drop) and the mock provider behind it.
struct Server {
    fusion: FusionServer,
    url: String,
    mock: MockProvider,
    dir: TempDir,
}

impl Server {
    async fn start() -> Self {
        Self::start_with("", &[]).await
    }

    /// `server_extra` goes into `[server]`; `env` is added to the server's (cleared) environment.
    async fn start_with(server_extra: &str, env: &[(&str, &str)]) -> Self {
        let mock = MockProvider::start(script())
            .await
            .expect("mock-provider starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("fusion.toml");
        std::fs::write(&config_path, config(&mock.base_url(), server_extra)).expect("config");
        let fusion = FusionServer::start(
            dir.path(),
            &[
                "--config",
                config_path.to_str().expect("utf-8 path"),
                "--listen",
                "127.0.0.1:0",
            ],
            env,
        )
        .await;
        Self {
            url: fusion.url.clone(),
            fusion,
            mock,
            dir,
        }
    }

    /// Runs one scenario of the Python client against this server; panics with the client's
    /// output (and the server's log) unless it exits 0.
    async fn client(&self, scenario: &str, api_key: Option<&str>) {
        let python = python();
        let mut cmd = Command::new(&python);
        cmd.arg(common::test_client("openai_client.py"))
            .arg(&self.url)
            .arg(scenario)
            .args(api_key)
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
            "OpenAI client scenario `{scenario}` failed (exit {code}):\n{output}\n\
             --- fusion serve log ---\n{}",
            self.fusion.log()
        );
    }

    /// SIGTERM, then a graceful exit with status 0.
    async fn stop(self) {
        self.fusion.stop().await;
    }
}

/// The venv Python with the `openai` package: `FUSION_PEERS_PYTHON` (set by scripts/test.sh from
/// install-peers' output), else the default peers venv.
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

/// Starts a default server, runs `scenario`, stops the server.
async fn run(scenario: &str) -> Server {
    let server = Server::start().await;
    server.client(scenario, None).await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_lists_models_and_councils() {
    run("models").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_gets_a_chat_completion_with_usage() {
    run("chat").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_streams_a_chat_completion_ending_with_a_usage_chunk() {
    let server = run("stream").await;
    let requests = server.mock.requests_for("chat");
    assert_eq!(
        requests[0].body["stream_options"]["include_usage"], true,
        "stream_options reach the upstream"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_gets_a_council_answer_with_the_fusion_trace() {
    run("council").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_streams_a_council_answer_past_the_progress_comments() {
    run("council_stream").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_raises_bad_request_error_for_empty_messages() {
    run("bad_request").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_raises_authentication_error_for_a_wrong_key() {
    let key = "sk-fusion-test-0123456789";
    let server = Server::start_with(
        r#"api_keys_env = ["FUSION_TEST_API_KEY"]"#,
        &[("FUSION_TEST_API_KEY", key)],
    )
    .await;
    server.client("unauthorized", Some(key)).await;
    assert!(
        server.mock.requests_for("chat").is_empty(),
        "a refused request never reaches the upstream"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_raises_not_found_error_for_an_unknown_model() {
    run("not_found").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_raises_api_status_error_413_for_a_body_over_the_limit() {
    let server = run("too_large").await;
    assert_eq!(
        server.mock.requests_for("chat").len(),
        1,
        "only the normal request after the 413 reaches the upstream"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_raises_rate_limit_error_when_the_queue_is_full() {
    let server = run("rate_limited").await;
    assert_eq!(
        server.mock.requests_for("slow").len(),
        1,
        "the refused request never reaches the upstream"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_raises_internal_server_error_502_with_the_upstream_reason() {
    run("upstream_error").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_raises_internal_server_error_504_when_the_upstream_hangs() {
    run("timeout").await.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_client_raises_api_error_when_the_upstream_stream_is_cut() {
    run("stream_cut").await.stop().await;
}
