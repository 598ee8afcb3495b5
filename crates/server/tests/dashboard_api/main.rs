//! The dashboard's REST endpoints through `tower::ServiceExt::oneshot` over a real store
//! (SQLite in a temp dir) and a real upstream (mock-provider): council traces recorded from
//! `/v1` and from tasks, routing decisions recorded from routed calls but not from the preview,
//! usage per day and the savings, models with their circuit and quality sources, benchmarks
//! queued, listed, summarized and charted — and every bad input answered with a 4xx naming the
//! field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod harness;

use axum::body::Body;
use axum::http::Request;
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_server::{AppState, app};
use harness::Dash;
use serde_json::{Value, json};
use tower::ServiceExt;

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
