//! The dashboard's REST endpoints through `tower::ServiceExt::oneshot` over a real store
//! (SQLite in a temp dir) and a real upstream (mock-provider): council traces recorded from
//! `/v1` and from tasks, routing decisions recorded from routed calls but not from the preview,
//! usage per day and the savings, models with their circuit and quality sources, benchmarks
//! queued, listed, summarized and charted — and every bad input answered with a 4xx naming the
//! field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{Ledger, Store};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
use fusion_server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const JUDGE: &str = r#"{"consensus":["c"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}"#;

struct Dash {
    state: AppState,
    _mock: MockProvider,
    _dir: tempfile::TempDir,
}

impl Dash {
    async fn start() -> Self {
        let script = Script::new()
            .with_model("cheap", ModelScript::fixed("Hello there friend"))
            .with_model("dear", ModelScript::fixed("A dear answer"))
            .with_model("a", ModelScript::fixed("Answer A."))
            .with_model("b", ModelScript::fixed("Answer B."))
            .with_model("judge", ModelScript::fixed(JUDGE))
            .with_model("synth", ModelScript::fixed("The final answer"))
            .with_model(
                "broken",
                ModelScript::failing(Failure::status(500, "kaboom")),
            );
        let mock = MockProvider::start(script).await.unwrap();
        let local: String = ["cheap", "a", "b", "judge", "synth", "broken"]
            .iter()
            .map(|m| format!("[[models]]\nid = \"{m}\"\nprovider = \"local\"\n"))
            .collect();
        let text = format!(
            r#"[router]
discover = false
failure_threshold = 1
[[providers]]
name = "local"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "5s"
[[providers]]
name = "paid"
kind = "openai"
base_url = "{url}"
tier = "paid"
retries = 0
timeout = "5s"
{local}
[[models]]
id = "dear"
provider = "paid"
price = {{ input_per_mtok = 2.0, output_per_mtok = 10.0 }}
[councils.default]
panel = [{{ model = "a" }}, {{ model = "b" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
[councils.doomed]
panel = [{{ model = "broken" }}]
judge = {{ model = "judge" }}
"#,
            url = mock.base_url()
        );
        let config: Config = toml::from_str(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fusion.db").display());
        let store = Store::open(Some(&url)).await.unwrap();
        let registry = ProviderRegistry::from_config(&config)
            .unwrap()
            .with_ledger(Ledger::start(store));
        let state = AppState::with_keys(config, registry, vec![], None);
        state
            .runtime()
            .start_tasks()
            .unwrap()
            .set_bench_runner(fusion_bench::task::runner());
        Self {
            state,
            _mock: mock,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, String, String) {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, kind, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        (status, parse(&body))
    }

    async fn post(&self, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap();
        let (status, _, body) = self.send(request).await;
        (status, parse(&body))
    }

    async fn chat(&self, model: &str) -> Value {
        let body = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
        let (status, value) = self.post("/v1/chat/completions", body.to_string()).await;
        let fails = ["broken", "fusion/doomed"].contains(&model);
        assert_eq!(status.is_success(), !fails, "{model}: {status}: {value}");
        value
    }

    /// Waits until the task has ended and answers its view.
    async fn ended_task(&self, id: &str) -> Value {
        for _ in 0..1_200 {
            let (status, task) = self.get(&format!("/api/tasks/{id}")).await;
            assert_eq!(status, 200, "{task}");
            if ["completed", "failed", "cancelled"].contains(&task["state"].as_str().unwrap()) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("task {id} did not end");
    }
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn councils_from_every_front_door_are_listed_newest_first_with_their_trace() {
    let d = Dash::start().await;
    d.chat("fusion/default").await;
    d.chat("fusion/doomed").await;
    let (status, submitted) = d
        .post(
            "/api/tasks",
            json!({"work": {"kind": "council", "question": "Why is the sky blue?"}}).to_string(),
        )
        .await;
    assert_eq!(status, 202, "{submitted}");
    d.ended_task(submitted["id"].as_str().unwrap()).await;

    let (status, listing) = d.get("/api/councils").await;
    assert_eq!(status, 200, "{listing}");
    let councils = listing["councils"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str, bool)> = councils
        .iter()
        .map(|c| {
            (
                c["council"].as_str().unwrap(),
                c["caller"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["degraded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("default", "task", "ok", false),
            ("doomed", "http", "error", true),
            ("default", "http", "ok", false),
        ],
        "newest first, one row per run"
    );
    assert_eq!(councils[0]["question"], "Why is the sky blue?");
    assert_eq!(councils[2]["question"], "hi");
    assert_eq!(councils[2]["cost_usd"], 0.0, "local models cost nothing");
    assert!(councils[2]["total_ms"].as_u64().is_some());

    let (_, page) = d.get("/api/councils?limit=1").await;
    assert_eq!(page["councils"].as_array().unwrap().len(), 1);
    let oldest_ms = councils[2]["at_ms"].as_i64().unwrap();
    let (_, older) = d.get(&format!("/api/councils?before_ms={oldest_ms}")).await;
    assert!(older["councils"].as_array().unwrap().is_empty());

    let id = councils[2]["id"].as_str().unwrap();
    let (status, run) = d.get(&format!("/api/councils/{id}")).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        (run["id"].as_str(), run["caller"].as_str()),
        (Some(id), Some("http"))
    );
    let result = &run["result"];
    assert_eq!(result["final_answer"], "The final answer");
    assert_eq!(result["analysis"]["consensus"], json!(["c"]));
    assert_eq!(result["labels"].as_array().unwrap().len(), 2);
    assert_eq!(result["responses"].as_array().unwrap().len(), 2);
    assert!(result["timings"]["judge_ms"].as_u64().is_some(), "{result}");
    let doomed = councils[1]["id"].as_str().unwrap();
    let (_, run) = d.get(&format!("/api/councils/{doomed}")).await;
    assert!(
        run["result"]["degradation_reasons"][0]
            .as_str()
            .unwrap()
            .contains("failed"),
        "{run}"
    );
    assert_eq!(run["result"]["failed_models"][0]["model"], "broken");
}

#[tokio::test]
async fn routed_calls_are_recorded_as_decisions_and_the_route_preview_is_not() {
    let d = Dash::start().await;
    d.chat("router/auto").await;
    let (status, listing) = d.get("/api/decisions").await;
    assert_eq!(status, 200, "{listing}");
    let decisions = listing["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{listing}");
    let decision = &decisions[0];
    assert_eq!(decision["caller"], "http");
    assert!(decision["chosen"].is_string(), "{decision}");
    assert_eq!(decision["chosen"], decision["decision"]["chosen"]);
    assert!(!decision["summary"].as_str().unwrap().is_empty());
    assert!(decision["decision"]["candidates"].as_array().unwrap().len() >= 2);
    assert_eq!(listing["dropped"], 0);

    let (status, preview) = d
        .post(
            "/api/route",
            json!({"task": "Write a function that reverses a list", "category": "code",
                   "priority": "quality", "complexity": 0.9, "expected_output_length": 300})
            .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["estimate"]["category"], "code");
    assert_eq!(preview["estimate"]["category_estimated"], false);
    assert_eq!(preview["estimate"]["output_tokens"], 300);
    assert_eq!(preview["priority"], "quality");
    assert!(preview["summary"].is_string() && preview["candidates"].is_array());
    let (_, after) = d.get("/api/decisions?limit=10").await;
    assert_eq!(
        after["decisions"].as_array().unwrap().len(),
        1,
        "a preview is not recorded"
    );
}

#[tokio::test]
async fn usage_comes_per_day_by_model_tier_and_caller_with_the_savings() {
    let d = Dash::start().await;
    for model in ["cheap", "cheap", "dear"] {
        d.chat(model).await;
    }
    let (status, series) = d.get("/api/usage/series?since=1d&by=model").await;
    assert_eq!(status, 200, "{series}");
    assert_eq!(series["buckets"].as_array().unwrap().len(), 2, "{series}");
    let calls = |series: &Value, key: &str| -> u64 {
        let found = series["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no series {key}: {series}"));
        found["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    assert_eq!((calls(&series, "cheap"), calls(&series, "dear")), (2, 1));
    assert_eq!(series["series"][0]["key"], "dear", "the costliest first");
    let (_, by_tier) = d.get("/api/usage/series?by=tier").await;
    assert_eq!(
        by_tier["buckets"].as_array().unwrap().len(),
        8,
        "7 days back and today"
    );
    assert_eq!((calls(&by_tier, "local"), calls(&by_tier, "paid")), (2, 1));
    let (_, by_caller) = d.get("/api/usage/series?by=caller&since=2h").await;
    assert_eq!(calls(&by_caller, "http"), 3);

    let (status, usage) = d.get("/api/usage").await;
    assert_eq!(status, 200, "{usage}");
    let savings = &usage["savings"];
    assert_eq!(savings["most_expensive_model"], "dear", "{usage}");
    let total = &usage["total"];
    let on_dear = (total["tokens_in"].as_f64().unwrap() * 2.0
        + total["tokens_out"].as_f64().unwrap() * 10.0)
        / 1e6;
    let cost = total["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0 && on_dear > cost, "{usage}");
    assert!((savings["on_most_expensive_usd"].as_f64().unwrap() - on_dear).abs() < 1e-12);
    assert!((savings["saved_usd"].as_f64().unwrap() - (on_dear - cost)).abs() < 1e-12);
    assert_eq!(savings["cost_usd"], total["cost_usd"]);
}

#[tokio::test]
async fn models_show_their_circuit_last_error_latency_and_quality_sources() {
    let d = Dash::start().await;
    d.chat("cheap").await;
    d.chat("broken").await;
    let (status, listing) = d.get("/api/models").await;
    assert_eq!(status, 200, "{listing}");
    let model = |id: &str| -> Value {
        listing["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no model {id}: {listing}"))
    };
    let cheap = model("cheap");
    assert_eq!(cheap["circuit"], "closed");
    assert_eq!(cheap["tier"], "local");
    assert!(cheap["latency_p50_ms"].as_f64().is_some(), "{cheap}");
    for category in ["code", "reasoning", "writing", "summarization", "chat"] {
        let quality = &cheap["quality_by_category"][category];
        assert_eq!(quality["source"], "prior", "{cheap}");
        assert!(quality["quality"].as_f64().is_some(), "{cheap}");
    }
    let broken = model("broken");
    assert_eq!(broken["circuit"], "open", "{broken}");
    assert_eq!(broken["health"]["state"], "circuit_open");
    assert!(
        broken["last_error"].as_str().unwrap().contains("kaboom"),
        "{broken}"
    );
    assert_eq!(model("dear")["price"]["output_per_mtok"], 10.0);
}

#[tokio::test]
async fn a_bench_run_is_queued_then_listed_summarized_and_charted() {
    let d = Dash::start().await;
    let body = json!({"suites": ["builtin:reasoning"], "models": ["cheap"], "max_tokens": 64});
    let (status, queued) = d.post("/api/bench", body.to_string()).await;
    assert_eq!(status, 202, "{queued}");
    let run_id = queued["run_id"].as_str().unwrap().to_owned();
    assert_eq!(queued["models"], json!(["cheap"]));
    assert!(queued["calls"].as_u64().unwrap() > 0, "{queued}");
    let task = d.ended_task(queued["task_id"].as_str().unwrap()).await;
    assert_eq!(task["state"], "completed", "{task}");

    let (status, runs) = d.get("/api/bench/runs?limit=5").await;
    assert_eq!(status, 200, "{runs}");
    let run = &runs["runs"][0];
    assert_eq!(run["id"], run_id.as_str());
    assert_eq!(run["suites"], json!(["builtin:reasoning"]));
    assert_eq!(run["status"], "completed");
    assert_eq!(run["models"], json!(["cheap"]));
    assert!(run["finished_ms"].as_i64().unwrap() >= run["created_ms"].as_i64().unwrap());

    let (status, stats) = d.get(&format!("/api/bench/stats?run={run_id}")).await;
    assert_eq!(status, 200, "{stats}");
    let stat = &stats["stats"][0];
    assert_eq!(
        (stat["model"].as_str(), stat["category"].as_str()),
        (Some("cheap"), Some("reasoning"))
    );
    assert_eq!(stat["n"], queued["calls"], "{stats}");
    let (_, recent) = d.get("/api/bench/stats?since=1h").await;
    assert_eq!(recent["stats"], stats["stats"]);
    // What the run measured is the quality the models page shows, and says so.
    let (_, models) = d.get("/api/models").await;
    let cheap = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "cheap")
        .unwrap();
    let reasoning = &cheap["quality_by_category"]["reasoning"];
    assert_eq!(reasoning["source"], "measured", "{cheap}");
    assert_eq!(reasoning["n"], stat["n"]);
    assert_eq!(reasoning["quality"], stat["quality"]);

    let (status, kind, svg) = d
        .send(
            Request::get("/api/bench/chart.svg?kind=quality_cost&category=reasoning")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{svg}");
    assert!(kind.starts_with("image/svg+xml"), "{kind}");
    assert!(svg.contains("<svg") && svg.contains("cheap"), "{svg}");
    let (status, none) = d.get("/api/bench/chart.svg?kind=over_time").await;
    assert_eq!(status, 404, "one run draws no line over time: {none}");
}

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

#[tokio::test]
async fn without_a_store_the_history_is_unavailable() {
    let config: Config = toml::from_str("").unwrap();
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let d = AppState::with_keys(config, registry, vec![], None);
    for path in [
        "/api/councils",
        "/api/decisions",
        "/api/usage/series",
        "/api/bench/runs",
    ] {
        let response = app(d.clone())
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{path}");
    }
}
