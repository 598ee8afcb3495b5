//! End-to-end: the real `fusion serve` binary on port 0 against mock-provider — serving,
//! client disconnects cancelling upstream calls, cut streams, keys, exposure and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{FusionServer, run_fusion};
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use serde_json::{Value, json};

fn script() -> Script {
    Script::new()
        .with_model("fast", ModelScript::fixed("quick answer"))
        .with_model(
            "slow",
            ModelScript::fixed("late answer").with_latency_ms(30_000),
        )
        .with_model(
            "second",
            ModelScript::fixed("after a second").with_latency_ms(1_000),
        )
        .with_model(
            "trickle",
            ModelScript::fixed("a b c d e f g h").with_chunk_delay_ms(1_000),
        )
        .with_model(
            "cut",
            ModelScript::fixed("one two three four").with_cut_after_chunks(2),
        )
}

fn config(mock: &MockProvider, server: &str) -> String {
    let models: String = ["fast", "slow", "second", "trickle", "cut"]
        .iter()
        .map(|m| format!("[[models]]\nid = \"{m}\"\nprovider = \"mock\"\n"))
        .collect();
    format!(
        "{server}\n[[providers]]\nname = \"mock\"\nkind = \"openai\"\nbase_url = \"{}\"\nretries = 0\n{models}",
        mock.base_url()
    )
}

async fn start(
    server_section: &str,
    env: &[(&str, &str)],
) -> (MockProvider, FusionServer, tempfile::TempDir) {
    let mock = MockProvider::start(script()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fusion.toml"),
        config(&mock, server_section),
    )
    .unwrap();
    let server = FusionServer::start(dir.path(), &["--listen", "127.0.0.1:0"], env).await;
    (mock, server, dir)
}

fn ask(model: &str, stream: bool) -> Value {
    json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] })
}

async fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_chat_on_the_announced_address() {
    let (_mock, server, _dir) = start("", &[]).await;
    let client = reqwest::Client::new();
    let r: Value = client
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&ask("fast", false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["choices"][0]["message"]["content"], "quick answer");
    let health = client
        .get(format!("{}/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_cancels_the_upstream_call() {
    let (mock, server, _dir) = start("", &[]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = client
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&ask("slow", false))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(
        mock.requests_for("slow").len(),
        1,
        "the upstream was called"
    );
    assert!(
        wait_for(|| mock.in_flight() == 0).await,
        "the upstream call outlived the client"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_leaves_a_stream_cancels_the_upstream_stream() {
    let (mock, server, _dir) = start("", &[]).await;
    let mut response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&ask("trickle", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("data: "));
    assert_eq!(mock.in_flight(), 1, "the upstream stream is open");
    drop(response);
    assert!(
        wait_for(|| mock.in_flight() == 0).await,
        "the upstream stream outlived the client"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_upstream_stream_reaches_the_client_as_an_error_event() {
    let (_mock, server, _dir) = start("", &[]).await;
    let text = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&ask("cut", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("[DONE]"), "{text}");
    assert!(text.contains("\"code\":\"stream_cut\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_from_the_environment_are_required() {
    let (_mock, server, _dir) = start(
        "[server]\napi_keys_env = [\"FUSION_TEST_SERVE_KEY\"]",
        &[("FUSION_TEST_SERVE_KEY", "sk-serve-1")],
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", server.url);
    let denied = client
        .post(&url)
        .json(&ask("fast", false))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let allowed = client
        .post(&url)
        .bearer_auth("sk-serve-1")
        .json(&ask("fast", false))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_address_without_keys_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fusion.toml"),
        "[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    )
    .unwrap();
    let run = run_fusion(dir.path(), &["serve", "--listen", "0.0.0.0:0"], None, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--allow-unauthenticated"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "it must not have started listening");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish() {
    let (mock, mut server, _dir) = start("", &[]).await;
    let url = format!("{}/v1/chat/completions", server.url);
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&ask("second", false))
            .send()
            .await
    });
    assert!(wait_for(|| mock.in_flight() == 1).await);
    server.terminate();
    let response = pending
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "after a second");
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    // No new connections after shutdown.
    assert!(
        reqwest::get(format!("{}/health", server.url))
            .await
            .is_err()
    );
}
