//! Request recording and the provider's lifecycle (shutdown and drop stop serving).

mod common;

use std::time::Duration;

use common::{chat, completions_url, post};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};

#[tokio::test]
async fn every_chat_request_is_recorded_in_order_even_failures() {
    let script = Script::new()
        .with_model("ok", ModelScript::echo())
        .with_model("bad", ModelScript::failing(Failure::status(500, "boom")));
    let mock = MockProvider::start(script).await.unwrap();
    let client = reqwest::Client::new();
    client
        .post(completions_url(&mock))
        .header("authorization", "Bearer sk-test")
        .json(&chat("ok", "first"))
        .send()
        .await
        .unwrap();
    post(&mock, &chat("bad", "second")).await;
    post(&mock, &chat("missing", "third")).await;
    client
        .post(completions_url(&mock))
        .body("not json")
        .send()
        .await
        .unwrap();

    let requests = mock.requests();
    let models: Vec<_> = requests.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(models, ["ok", "bad", "missing", ""]);
    assert_eq!(requests[0].header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(requests[0].body["messages"][1]["content"], "first");
    assert_eq!(requests[3].body, "not json");
    assert!(requests[0].received_at <= requests[1].received_at);

    let bad = mock.requests_for("bad");
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].body["messages"][1]["content"], "second");

    mock.clear_requests();
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn recording_can_be_turned_off() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    mock.set_recording(false);
    assert_eq!(post(&mock, &chat("m", "hi")).await.status(), 200);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn shutdown_stops_serving_even_pooled_connections() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let url = completions_url(&mock);
    let client = reqwest::Client::new();
    let ok = client
        .post(&url)
        .json(&chat("m", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    ok.bytes().await.unwrap();
    mock.shutdown().await;
    let err = client.post(&url).json(&chat("m", "hi")).send().await;
    assert!(err.is_err(), "served after shutdown: {err:?}");
}

#[tokio::test]
async fn dropping_the_provider_stops_it() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let url = completions_url(&mock);
    drop(mock);
    // The server task stops soon after the drop, not at once.
    let client = reqwest::Client::new();
    fusion_test_support::wait_until(
        "nothing serves after the drop",
        Duration::from_secs(5),
        || {
            let sent = client.post(&url).json(&chat("m", "hi")).send();
            async move { sent.await.is_err() }
        },
    )
    .await;
}
