//! Scripted failures and rejected requests: status errors, fail-first retries, malformed and
//! empty bodies, resets, hangs, unknown models and bad bodies.

mod common;

use std::time::Duration;

use common::{chat, completions_url, post, post_json};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
use serde_json::json;

#[tokio::test]
async fn status_failure_sends_openai_error_and_retry_after() {
    let script = Script::new().with_model(
        "m",
        ModelScript::failing(Failure::status_retry_after(429, "slow down", 7)),
    );
    let mock = MockProvider::start(script).await.unwrap();
    let response = post(&mock, &chat("m", "hi")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "slow down", "type": "requests", "param": null,
                         "code": "rate_limit_exceeded"}})
    );
}

#[tokio::test]
async fn status_failure_without_retry_after_has_no_header() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::status(500, "")));
    let mock = MockProvider::start(script).await.unwrap();
    let response = post(&mock, &chat("m", "hi")).await;
    assert_eq!(response.status(), 500);
    assert!(response.headers().get("retry-after").is_none());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(body["error"]["message"], "Internal Server Error");
}

#[tokio::test]
async fn fail_first_fails_then_succeeds() {
    let script = Script::new().with_model(
        "m",
        ModelScript::fixed("fine").failing_first(2, Failure::status(503, "busy")),
    );
    let mock = MockProvider::start(script).await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(post(&mock, &chat("m", "hi")).await.status().as_u16());
    }
    assert_eq!(statuses, [503, 503, 200]);
    let (_, body) = post_json(&mock, &chat("m", "hi")).await;
    assert_eq!(body["choices"][0]["message"]["content"], "fine");
}

#[tokio::test]
async fn malformed_body_is_200_but_not_json() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::Malformed));
    let mock = MockProvider::start(script).await.unwrap();
    let response = post(&mock, &chat("m", "hi")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.starts_with('{'));
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
}

#[tokio::test]
async fn empty_choices_is_valid_json_without_choices() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::EmptyChoices));
    let mock = MockProvider::start(script).await.unwrap();
    let (status, body) = post_json(&mock, &chat("m", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"], json!([]));
}

#[tokio::test]
async fn reset_closes_the_connection_without_a_response() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::Reset));
    let mock = MockProvider::start(script).await.unwrap();
    let err = reqwest::Client::new()
        .post(completions_url(&mock))
        .json(&chat("m", "hi"))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
    assert!(is_connection_reset(&err), "{err:?}");
    // The server keeps serving other requests afterwards.
    mock.set_script(Script::echo_any());
    assert_eq!(post(&mock, &chat("m", "hi")).await.status(), 200);
}

/// Whether an I/O "connection reset" is somewhere in the error's source chain.
fn is_connection_reset(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionReset
        {
            return true;
        }
        source = err.source();
    }
    false
}

#[tokio::test]
async fn hang_never_answers_until_the_client_times_out() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::Hang));
    let mock = MockProvider::start(script).await.unwrap();
    let err = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .post(completions_url(&mock))
        .json(&chat("m", "hi"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn hung_request_is_released_on_shutdown() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::Hang));
    let mock = MockProvider::start(script).await.unwrap();
    let url = completions_url(&mock);
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&chat("m", "hi"))
            .send()
            .await
    });
    fusion_test_support::wait_until(
        "the request hangs in the mock",
        Duration::from_secs(5),
        || std::future::ready(mock.in_flight() == 1),
    )
    .await;
    mock.shutdown().await;
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn unknown_model_is_404_model_not_found() {
    let mock = MockProvider::start(Script::new().with_model("known", ModelScript::echo()))
        .await
        .unwrap();
    let (status, body) = post_json(&mock, &chat("other", "hi")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "model");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("other"));
}

#[tokio::test]
async fn invalid_json_body_is_400() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let response = reqwest::Client::new()
        .post(completions_url(&mock))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn missing_model_or_messages_is_400_naming_the_param() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let (status, body) = post_json(&mock, &json!({"messages": []})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "model");
    let (status, body) = post_json(&mock, &json!({"model": "m"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "messages");
}
