//! End-to-end: each class of upstream failure is classified, retried only when retryable,
//! and reported on the failing member while the council goes on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Harness, healthy_script};
use fusion_mock_provider::{Failure, ModelScript};
use serde_json::Value;

/// Runs the standard council with `m-b` scripted as `member` and the provider settings
/// replaced by `provider`; returns the result and how many requests `m-b` received.
async fn run_with_failing_member(
    member: ModelScript,
    retries: u32,
    timeout: &str,
) -> (Value, usize) {
    let mut script = healthy_script();
    script.models.insert("m-b".into(), member);
    let h = Harness::start(script).await;
    let text = h
        .standard_config("", "")
        .replace("retries = 0", &format!("retries = {retries}"))
        .replace("timeout = \"3s\"", &format!("timeout = \"{timeout}\""));
    let run = h.ask(&text, &["--json", "Q?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    (run.json(), h.mock.requests_for("m-b").len())
}

fn error_of(r: &Value, model: &str) -> String {
    r["failed_models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["model"] == model)
        .unwrap_or_else(|| panic!("{model} did not fail: {r}"))["error"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn status(code: u16) -> Failure {
    Failure::Status {
        status: code,
        message: format!("scripted {code}"),
        retry_after: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_then_reported_with_the_upstream_reason() {
    let (r, calls) =
        run_with_failing_member(ModelScript::fixed("x").with_failure(status(500)), 2, "3s").await;
    assert_eq!(calls, 3, "one call and two retries");
    let err = error_of(&r, "m-b");
    assert!(
        err.contains("HTTP 500") && err.contains("scripted 500"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_never_retried() {
    let (r, calls) =
        run_with_failing_member(ModelScript::fixed("x").with_failure(status(400)), 2, "3s").await;
    assert_eq!(calls, 1);
    assert!(error_of(&r, "m-b").contains("HTTP 400"));
    let (_, calls) =
        run_with_failing_member(ModelScript::fixed("x").with_failure(status(401)), 2, "3s").await;
    assert_eq!(calls, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_retried_honouring_retry_after() {
    let limited = Failure::Status {
        status: 429,
        message: "slow down".into(),
        retry_after: Some(1),
    };
    let mut script = healthy_script();
    script.models.insert(
        "m-b".into(),
        ModelScript::fixed("after the wait").failing_first(1, limited),
    );
    let h = Harness::start(script).await;
    let text = h
        .standard_config("", "")
        .replace("retries = 0", "retries = 1");
    let r = h.ask_json(&text, &["--json", "Q?"]).await;
    assert_eq!(r["failed_models"], Value::Array(vec![]), "{r}");
    let calls = h.mock.requests_for("m-b");
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1]
            .received_at
            .duration_since(calls[0].received_at)
            .as_millis()
            >= 1000,
        "Retry-After: 1 was not honoured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_recover_within_the_retry_budget() {
    let (r, calls) = run_with_failing_member(
        ModelScript::fixed("recovered").failing_first(2, status(503)),
        2,
        "3s",
    )
    .await;
    assert_eq!(calls, 3);
    assert_eq!(r["failed_models"], Value::Array(vec![]));
    let b = r["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["model"] == "m-b")
        .unwrap()
        .clone();
    assert_eq!(b["content"], "recovered");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_upstream_times_out() {
    let (r, calls) =
        run_with_failing_member(ModelScript::fixed("x").with_failure(Failure::Hang), 0, "1s").await;
    assert_eq!(calls, 1);
    let err = error_of(&r, "m-b");
    assert!(err.contains("no answer within 1s"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_body_is_an_invalid_response() {
    let (r, calls) = run_with_failing_member(
        ModelScript::fixed("x").with_failure(Failure::Malformed),
        2,
        "3s",
    )
    .await;
    assert_eq!(calls, 1, "a malformed body is not retried");
    assert!(
        error_of(&r, "m-b").contains("invalid response"),
        "{}",
        error_of(&r, "m-b")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_without_choices_is_an_invalid_response() {
    let (r, _) = run_with_failing_member(
        ModelScript::fixed("x").with_failure(Failure::EmptyChoices),
        0,
        "3s",
    )
    .await;
    assert!(
        error_of(&r, "m-b").contains("no choices"),
        "{}",
        error_of(&r, "m-b")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_connection_is_retried_and_reported() {
    let (r, calls) = run_with_failing_member(
        ModelScript::fixed("x").with_failure(Failure::Reset),
        1,
        "3s",
    )
    .await;
    assert_eq!(calls, 2, "a reset is retryable");
    let err = error_of(&r, "m-b");
    assert!(
        err.contains("connection reset") || err.contains("cannot connect"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_reported_as_such() {
    let h = Harness::start(healthy_script()).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let text = h.standard_config("", "").replace(
        "[[models]]\nid = \"m-b\"\nprovider = \"mock\"",
        &format!("[[providers]]\nname = \"down\"\nkind = \"openai\"\nbase_url = \"http://{closed}/v1\"\nretries = 0\n\n[[models]]\nid = \"m-b\"\nprovider = \"down\""),
    );
    let run = h.ask(&text, &["--json", "Q?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let err = error_of(&run.json(), "m-b");
    assert!(err.contains("provider `down`: cannot connect"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_api_key_variable_fails_only_that_member() {
    let h = Harness::start(healthy_script()).await;
    let text = h.standard_config("", "").replace(
        "[[models]]\nid = \"m-b\"\nprovider = \"mock\"",
        &format!("[[providers]]\nname = \"keyed\"\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"FUSION_TEST_UNSET_KEY\"\n\n[[models]]\nid = \"m-b\"\nprovider = \"keyed\"", h.mock.base_url()),
    );
    let run = h.ask(&text, &["--json", "Q?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let err = error_of(&run.json(), "m-b");
    assert!(err.contains("FUSION_TEST_UNSET_KEY"), "{err}");
    assert!(h.mock.requests_for("m-b").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_key_is_sent_as_a_bearer_token() {
    let h = Harness::start(healthy_script()).await;
    let text = h.standard_config("api_key_env = \"FUSION_TEST_KEY\"", "");
    let config = h.write_config("fusion.toml", &text);
    let run = h
        .fusion_with(
            &["ask", "--config", config.to_str().unwrap(), "Q?"],
            None,
            &[("FUSION_TEST_KEY", "sk-test-123")],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let req = &h.mock.requests_for("m-a")[0];
    let auth = req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str());
    assert_eq!(auth, Some("Bearer sk-test-123"));
    assert!(!run.stderr.contains("sk-test-123"));
}
