//! End-to-end: quorum and deadline councils through the real binary. The panel's third member
//! is scripted to answer only after two minutes (and the provider timeout is longer still), so
//! the mock-provider's in-flight count falling to 0 while `fusion serve` keeps running can only
//! mean Fusion dropped that member's upstream request; the trace — the HTTP answer's, the
//! stored run's and `fusion ask`'s — names it as cut, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{FusionServer, Harness, healthy_script};
use fusion_mock_provider::ModelScript;
use fusion_test_support::wait_until;
use serde_json::{Value, json};

/// How long the straggler would take to answer: far beyond any poll of these tests.
const STRAGGLER_MS: u64 = 120_000;

/// The standard council, `m-c` answering after [`STRAGGLER_MS`], with `council_extra` in its
/// section and a provider timeout that never fires first.
async fn with_straggler(council_extra: &str) -> (Harness, String) {
    let mut script = healthy_script();
    script.models.insert(
        "m-c".into(),
        ModelScript::fixed("Paris, eventually.").with_latency_ms(STRAGGLER_MS),
    );
    let h = Harness::start(script).await;
    let text = h
        .standard_config("", council_extra)
        .replace("timeout = \"3s\"", "timeout = \"600s\"");
    (h, text)
}

async fn post_chat(server: &FusionServer, body: Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn get_json(server: &FusionServer, path: &str) -> Value {
    let text = reqwest::get(format!("{}{path}", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Waits until no upstream request is open while the server still runs: the straggler's
/// request, scripted to stay open for minutes, was aborted.
async fn straggler_request_aborted(h: &Harness) {
    assert_eq!(
        h.mock.requests_for("m-c").len(),
        1,
        "the straggler was asked"
    );
    wait_until(
        "the straggler's upstream request was aborted",
        Duration::from_secs(30),
        || async { h.mock.in_flight() == 0 },
    )
    .await;
}

/// The trace of the newest council run, as the dashboard reads it from the store.
async fn stored_trace(server: &FusionServer) -> Value {
    let listing = get_json(server, "/api/councils").await;
    let id = listing["councils"][0]["id"].as_str().unwrap().to_owned();
    get_json(server, &format!("/api/councils/{id}")).await["result"].clone()
}

fn chat(stream: bool) -> Value {
    json!({
        "model": "fusion/default",
        "stream": stream,
        "messages": [{"role": "user", "content": "What is the capital of France?"}]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quorum_of_two_goes_to_the_judge_without_the_straggler_and_aborts_its_request() {
    let (h, text) = with_straggler("quorum = 2").await;
    let config = h.write_config("fusion.toml", &text);
    let server = FusionServer::with_config(h.dir.path(), &config).await;

    let (status, body) = post_chat(&server, chat(false)).await;
    assert_eq!(status, 200, "{body}\n{}", server.log());
    straggler_request_aborted(&h).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "FINAL: Paris.");
    let trace = &answer["fusion"];
    assert_eq!(trace["status"], "ok");
    assert_eq!(trace["responses"].as_array().unwrap().len(), 2);
    assert_eq!(trace["cut"].as_array().unwrap().len(), 1, "{trace}");
    assert_eq!(trace["cut"][0]["model"], "m-c");
    assert_eq!(trace["cut"][0]["reason"], "quorum_reached");
    assert_eq!(trace["cut"][0]["cancelled"], true);
    assert_eq!(
        trace["failed_models"],
        json!([]),
        "a quorum cut is no failure"
    );
    assert_eq!(trace["degradation_reasons"], json!([]));
    assert_eq!(stored_trace(&server).await["cut"], trace["cut"]);
    server.stop().await;

    // `fusion ask`: the cut in its progress lines, its summary and its --json result.
    let run = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "Q?"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "FINAL: Paris.");
    assert!(
        run.stderr.contains("m-c: cut (quorum_reached)")
            && run
                .stderr
                .contains("fusion: cut: m-c: quorum_reached after")
            && run.stderr.contains("its call cancelled"),
        "{}",
        run.stderr
    );
    let json = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "--json", "Q?"])
        .await
        .json();
    assert_eq!(json["cut"][0]["model"], "m-c");
    assert_eq!(json["cut"][0]["reason"], "quorum_reached");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deadline_goes_on_with_what_answered_and_aborts_the_late_request() {
    let (h, text) = with_straggler("deadline = \"1s\"").await;
    let config = h.write_config("fusion.toml", &text);
    let server = FusionServer::with_config(h.dir.path(), &config).await;

    let (status, body) = post_chat(&server, chat(true)).await;
    assert_eq!(status, 200, "{body}\n{}", server.log());
    straggler_request_aborted(&h).await;
    assert!(
        body.contains(r#"{"event":"member_cut","member":"m-c","reason":"deadline"}"#),
        "the stream's progress tells the client: {body}"
    );
    let last: Value = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|chunk| chunk.get("fusion").is_some())
        .unwrap_or_else(|| panic!("no chunk carries the trace: {body}"));
    let trace = &last["fusion"];
    assert_eq!(trace["status"], "ok");
    assert_eq!(trace["responses"].as_array().unwrap().len(), 2);
    assert_eq!(trace["cut"][0]["model"], "m-c");
    assert_eq!(trace["cut"][0]["reason"], "deadline");
    assert_eq!(trace["cut"][0]["cancelled"], true);
    assert_eq!(trace["failed_models"][0]["model"], "m-c");
    assert!(
        trace["failed_models"][0]["error"]
            .as_str()
            .unwrap()
            .contains("council timeout of 1s (the panel deadline)"),
        "{trace}"
    );
    assert_eq!(stored_trace(&server).await["cut"], trace["cut"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quorum_larger_than_the_panel_is_a_config_error_naming_the_key() {
    let (h, text) = with_straggler("quorum = 4").await;
    let config = h.write_config("fusion.toml", &text);
    let run = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "Q?"])
        .await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("councils.default.quorum")
            && run
                .stderr
                .contains("between 1 and the panel's size (3 members)"),
        "{}",
        run.stderr
    );
    assert!(h.mock.requests().is_empty(), "nothing was asked");
}
