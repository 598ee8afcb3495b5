//! Every endpoint's bad input: the status, the field named in `param` and the message.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::Dash;

/// Each request with what is wrong in it, and the status and `param` of the answer.
#[tokio::test]
async fn bad_input_is_refused_with_a_4xx_naming_the_field() {
    let d = Dash::start().await;
    let long_id = "x".repeat(65);
    let gets: Vec<(String, u16, Option<&str>, &str)> = vec![
        ("/api/councils?limit=0".into(), 400, Some("limit"), "limit"),
        (
            "/api/councils?limit=501".into(),
            400,
            Some("limit"),
            "limit",
        ),
        ("/api/councils?limit=many".into(), 400, None, "limit"),
        (
            "/api/councils?before_ms=soon".into(),
            400,
            None,
            "before_ms",
        ),
        ("/api/councils?bogus=1".into(), 400, None, "bogus"),
        (
            "/api/councils/council_0000".into(),
            404,
            None,
            "council_0000",
        ),
        (format!("/api/councils/{long_id}"), 400, Some("id"), "id"),
        (
            "/api/decisions?limit=9999".into(),
            400,
            Some("limit"),
            "limit",
        ),
        ("/api/usage/series?by=day".into(), 400, Some("by"), "by"),
        (
            "/api/usage/series?since=soon".into(),
            400,
            Some("since"),
            "since",
        ),
        (
            "/api/usage/series?since=1000d".into(),
            400,
            Some("since"),
            "400 days",
        ),
        (
            "/api/bench/runs?limit=0".into(),
            400,
            Some("limit"),
            "limit",
        ),
        ("/api/bench/stats?run=nope".into(), 404, None, "run"),
        (
            "/api/bench/stats?since=x".into(),
            400,
            Some("since"),
            "since",
        ),
        (
            "/api/bench/chart.svg?kind=pie".into(),
            400,
            Some("kind"),
            "kind",
        ),
        (
            "/api/bench/chart.svg?category=poetry".into(),
            400,
            Some("category"),
            "poetry",
        ),
    ];
    for (path, status, param, says) in gets {
        let (got, body) = d.get(&path).await;
        check(&path, got, &body, status, param, says);
    }
    let posts: Vec<(&str, Value, u16, Option<&str>, &str)> = vec![
        ("/api/route", json!("{"), 400, None, "invalid body"),
        (
            "/api/route",
            json!({"task": "x", "bogus": 1}),
            400,
            None,
            "bogus",
        ),
        ("/api/route", json!({"task": 5}), 400, Some("task"), "task"),
        (
            "/api/route",
            json!({"task": " "}),
            400,
            Some("task"),
            "task",
        ),
        (
            "/api/route",
            json!({"task": "x", "category": "poetry"}),
            400,
            Some("category"),
            "poetry",
        ),
        (
            "/api/route",
            json!({"task": "x", "complexity": 2.0}),
            400,
            Some("complexity"),
            "complexity",
        ),
        (
            "/api/route",
            json!({"task": "x", "priority": "fastest"}),
            400,
            Some("priority"),
            "priority",
        ),
        (
            "/api/route",
            json!({"task": "x", "context_length": 1_000_000_000u64}),
            400,
            Some("context_length"),
            "context_length",
        ),
        ("/api/bench", json!({}), 400, None, "suites"),
        (
            "/api/bench",
            json!({"suites": []}),
            400,
            Some("suites"),
            "suites",
        ),
        (
            "/api/bench",
            json!({"suites": ["/etc/passwd"]}),
            400,
            Some("suites"),
            "not a built-in suite",
        ),
        (
            "/api/bench",
            json!({"suites": ["builtin:poetry"]}),
            400,
            Some("suites"),
            "poetry",
        ),
        (
            "/api/bench",
            json!({"suites": ["builtin"], "models": ["nope"]}),
            400,
            Some("models"),
            "nope",
        ),
        (
            "/api/bench",
            json!({"suites": ["builtin"], "models": []}),
            400,
            Some("models"),
            "models",
        ),
        (
            "/api/bench",
            json!({"suites": ["builtin"], "models": ["cheap"], "runs_per_task": 0}),
            400,
            Some("runs_per_task"),
            "runs_per_task",
        ),
        (
            "/api/bench",
            json!({"suites": ["builtin"], "models": ["cheap"], "max_tokens": 0}),
            400,
            Some("max_tokens"),
            "max_tokens",
        ),
        (
            "/api/bench",
            json!({"suites": ["builtin"], "parallel": 3}),
            400,
            None,
            "parallel",
        ),
    ];
    for (path, body, status, param, says) in posts {
        let text = match &body {
            Value::String(raw) => raw.clone(),
            other => other.to_string(),
        };
        let (got, answer) = d.post(path, text).await;
        check(
            &format!("POST {path} {body}"),
            got,
            &answer,
            status,
            param,
            says,
        );
    }
    let (_, runs) = d.get("/api/bench/runs").await;
    assert!(
        runs["runs"].as_array().unwrap().is_empty(),
        "nothing was queued: {runs}"
    );
}

fn check(what: &str, got: StatusCode, body: &Value, status: u16, param: Option<&str>, says: &str) {
    assert_eq!(got.as_u16(), status, "{what}: {body}");
    let error = &body["error"];
    let message = error["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {body}"));
    assert!(message.contains(says), "{what}: `{says}` not in {message}");
    if let Some(param) = param {
        assert_eq!(error["param"], param, "{what}: {body}");
    }
}
