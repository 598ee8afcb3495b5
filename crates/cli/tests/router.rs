//! End-to-end routing through the real binary against mock-provider: `router/<priority>` on
//! `/v1/chat/completions` (decision in the body and the header, fallback, circuit breaker),
//! `fusion route`, model discovery and catalog sync, and the usage ledger (`/api/usage`,
//! `fusion usage`) counting every call, none lost at shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{FusionServer, Harness};
use fusion_mock_provider::{Failure, ModelScript, Pricing, Script};
use serde_json::{Value, json};

/// A local model (weak, small window), a paid model (strong, priced), a broken local model
/// and a catalog entry, all on one mock; `local` and `paid` are two providers in front of it.
fn script() -> Script {
    Script::new()
        .with_model("small", ModelScript::fixed("small says hi"))
        .with_model("big", ModelScript::fixed("big says hi"))
        .with_model(
            "broken",
            ModelScript::failing(Failure::status(500, "kaput")),
        )
}

/// Discovery is off unless `router` turns it on: the mock lists every model it serves, and
/// those would join the routing tables of tests about something else.
fn config(h: &Harness, router: &str, small_extra: &str) -> String {
    let url = h.mock.base_url();
    let discover = if router.contains("discover") {
        ""
    } else {
        "discover = false"
    };
    format!(
        r#"[router]
{discover}
{router}

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

[[models]]
id = "small"
provider = "local"
context_window = 4096
quality = {{ default = 0.5 }}
{small_extra}

[[models]]
id = "big"
provider = "paid"
context_window = 128000
price = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}
quality = {{ default = 0.9 }}

[[models]]
id = "broken"
provider = "local"
quality = {{ default = 0.1 }}
"#
    )
}

async fn serve(h: &Harness, config: &str) -> FusionServer {
    let path = h.write_config("fusion.toml", config);
    FusionServer::with_config(h.dir.path(), &path).await
}

async fn chat(server: &FusionServer, body: Value) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let route = response
        .headers()
        .get("x-fusion-route")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, route, value)
}

fn ask(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
}

fn verdict<'a>(decision: &'a Value, model: &str) -> &'a Value {
    decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .unwrap_or_else(|| panic!("{model} is not a candidate: {decision}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simple_task_goes_to_the_local_model_with_the_decision_in_body_and_header() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    let (status, route, body) = chat(&server, ask("router/auto", "hi there")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "small says hi");
    assert_eq!(route.as_deref(), Some("small; priority=balanced"));
    let decision = &body["fusion"]["route"];
    assert_eq!(decision["chosen"], "small", "{decision}");
    assert_eq!(verdict(decision, "small")["verdict"], "ranked");
    // The broken model's quality is below any task's bar.
    assert_eq!(verdict(decision, "broken")["verdict"], "rejected");
    assert!(
        decision["estimate"]["category_estimated"] == true,
        "{decision}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn router_quality_picks_the_stronger_paid_model_and_hints_are_honoured() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    let (status, route, body) = chat(&server, ask("router/quality", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(route.as_deref(), Some("big; priority=quality"));
    // A hint of full complexity lifts the bar above the local model's 0.5.
    let mut hinted = ask("router/cost", "hi");
    hinted["fusion"] = json!({"complexity": 1.0, "category": "code"});
    let (status, _, body) = chat(&server, hinted).await;
    assert_eq!(status, 200, "{body}");
    let decision = &body["fusion"]["route"];
    assert_eq!(decision["chosen"], "big", "{decision}");
    assert_eq!(decision["estimate"]["complexity_estimated"], false);
    assert!(
        verdict(decision, "small")["reason"]
            .as_str()
            .unwrap()
            .contains("quality"),
        "{decision}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_router_requests_get_clear_errors() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    let (status, _, body) = chat(&server, ask("router/cheapest", "hi")).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("router/cost")
    );
    let mut bad = ask("router/auto", "hi");
    bad["fusion"] = json!({"complexity": 3});
    let (status, _, body) = chat(&server, bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "fusion.complexity");
    let mut unknown = ask("router/auto", "hi");
    unknown["fusion"] = json!({"budget": 1});
    let (status, _, body) = chat(&server, unknown).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{body}"
    );
    // Nothing fits a task larger than every context window: 503 naming why.
    let huge = "word ".repeat(200_000);
    let (status, _, body) = chat(&server, ask("router/auto", &huge)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_route");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_model_falls_back_to_the_next_ranked_one_and_says_so() {
    let mut s = script();
    s = s.with_model(
        "small",
        ModelScript::failing(Failure::status(503, "overloaded")),
    );
    let h = Harness::start(s).await;
    let server = serve(&h, &config(&h, "failure_threshold = 10", "")).await;
    let (status, route, body) = chat(&server, ask("router/auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "big says hi");
    assert_eq!(route.as_deref(), Some("big; priority=balanced"));
    assert_eq!(body["fusion"]["failed"][0]["model"], "small", "{body}");
    assert_eq!(h.mock.requests_for("small").len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_open_the_circuit_then_one_trial_after_the_cooldown_restores_it() {
    let mut s = script();
    let mut flaky = ModelScript::fixed("small is back");
    flaky.failure = Some(Failure::status(500, "down"));
    flaky.fail_first = Some(2);
    s = s.with_model("small", flaky);
    let h = Harness::start(s).await;
    let server = serve(
        &h,
        &config(&h, "failure_threshold = 2\ncooldown = \"1s\"", ""),
    )
    .await;
    for _ in 0..2 {
        let (status, _, body) = chat(&server, ask("router/auto", "hi")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["fusion"]["failed"][0]["model"], "small", "{body}");
    }
    // Open: the decision skips the model and says when it retries; the mock is not called.
    let (_, _, body) = chat(&server, ask("router/auto", "hi")).await;
    let small = verdict(&body["fusion"]["route"], "small");
    assert_eq!(small["health"]["state"], "circuit_open", "{body}");
    assert_eq!(small["verdict"], "rejected");
    assert_eq!(h.mock.requests_for("small").len(), 2);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Half-open: one trial call, which succeeds and closes the circuit.
    let (status, _, body) = chat(&server, ask("router/auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "small is back");
    let (_, route, _) = chat(&server, ask("router/auto", "hi")).await;
    assert_eq!(route.as_deref(), Some("small; priority=balanced"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_routed_answer_carries_the_decision_in_its_first_chunk() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    let mut body = ask("router/auto", "hi");
    body["stream"] = json!(true);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-fusion-route"].to_str().unwrap(),
        "small; priority=balanced"
    );
    let text = response.text().await.unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["fusion"]["route"]["chosen"], "small", "{text}");
    assert!(chunks[1..].iter().all(|c| c.get("fusion").is_none()));
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_counts_every_call_and_loses_none_at_shutdown() {
    let h = Harness::start(script()).await;
    let config_text = config(&h, "", "");
    let server = serve(&h, &config_text).await;
    for i in 0..10 {
        let (status, _, _) = chat(&server, ask("small", &format!("call {i}"))).await;
        assert_eq!(status, 200);
    }
    for _ in 0..5 {
        let (status, _, _) = chat(&server, ask("router/quality", "one two three")).await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = chat(&server, ask("broken", "x")).await;
    assert_eq!(status, 502);
    let report: Value = reqwest::get(format!("{}/api/usage", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["total"]["calls"], 16, "{report}");
    assert_eq!(report["total"]["failed_calls"], 1, "{report}");
    // Each call is attributed to the front door that made it.
    for (caller, calls) in [("http", 16), ("cli", 0), ("mcp", 0)] {
        let report: Value = reqwest::get(format!("{}/api/usage?caller={caller}", server.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(report["total"]["calls"], calls, "{caller}: {report}");
    }
    // SIGTERM right after a burst: every row is written before the process exits.
    for i in 0..20 {
        chat(&server, ask("small", &format!("late {i}"))).await;
    }
    server.stop().await;
    let path = h.dir.path().join("fusion.toml");
    let run = h
        .fusion(&["usage", "--json", "--config", path.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["total"]["calls"], 36, "{report}");
    let by_model = |id: &str| {
        report["by_model"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {report}"))
    };
    assert_eq!(by_model("small")["calls"], 30);
    assert_eq!(by_model("small")["cost_usd"], 0.0);
    assert_eq!(by_model("big")["calls"], 5);
    assert!(
        by_model("big")["cost_usd"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert_eq!(by_model("broken")["failed_calls"], 1);
    assert_eq!(report["by_day"].as_array().unwrap().len(), 1);
    let text = h
        .fusion(&["usage", "--config", path.to_str().unwrap()])
        .await;
    assert!(
        text.stdout.contains("36 calls (1 failed)"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_usage_queries_are_400_naming_the_parameter() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    for (query, param) in [("since=soon", "since"), ("caller=robot", "caller")] {
        let response = reqwest::get(format!("{}/api/usage?{query}", server.url))
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    let response = reqwest::get(format!("{}/api/usage?colour=red", server.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_route_explains_each_candidate_and_fails_when_nothing_fits() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h, "", ""));
    let path = path.to_str().unwrap();
    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--json",
            "--context-length",
            "8000",
            "fix the bug",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let decision = run.json();
    assert_eq!(decision["chosen"], "big", "{decision}");
    let small = verdict(&decision, "small");
    assert_eq!(small["verdict"], "rejected");
    assert!(
        small["reason"].as_str().unwrap().contains("context"),
        "{small}"
    );
    assert_eq!(decision["estimate"]["input_tokens"], 8000);
    assert_eq!(decision["estimate"]["input_tokens_estimated"], false);

    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--context-length",
            "999999999",
            "x",
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("rejected"), "{}", run.stdout);

    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--run",
            "--priority",
            "cost",
            "say hi",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "small says hi");
    assert!(run.stderr.contains("routed to small"), "{}", run.stderr);

    let run = h
        .fusion(&["route", "--config", path, "--complexity", "2", "x"])
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn models_lists_discovered_models_and_sync_imports_a_catalog_marking_free_ones() {
    let mut free = ModelScript::fixed("free answer");
    free.context_length = Some(131_072);
    free.pricing = Some(Pricing {
        prompt: "0".into(),
        completion: "0".into(),
    });
    let mut priced = ModelScript::fixed("priced answer");
    priced.context_length = Some(200_000);
    priced.pricing = Some(Pricing {
        prompt: "0.000003".into(),
        completion: "0.000015".into(),
    });
    let s = script()
        .with_model("vendor/free-model:free", free)
        .with_model("vendor/priced-model", priced);
    let h = Harness::start(s).await;
    let url = h.mock.base_url();
    let text = format!(
        "{}\n[[providers]]\nname = \"catalog\"\nkind = \"openai\"\nbase_url = \"{url}\"\ntier = \"paid\"\n",
        config(&h, "discover = true", "")
    );
    let path = h.write_config("fusion.toml", &text);
    let path = path.to_str().unwrap();

    let run = h.fusion(&["models", "--config", path, "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed = run.json();
    let ids: Vec<&str> = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    // The local provider lists what the mock serves; configured models are not repeated,
    // and the paid provider is not crawled.
    assert!(ids.contains(&"local/vendor/priced-model"), "{ids:?}");
    assert!(!ids.contains(&"local/small"), "{ids:?}");
    assert!(!ids.iter().any(|id| id.starts_with("catalog/")), "{ids:?}");

    let run = h
        .fusion(&["models", "--config", path, "sync", "catalog", "--free-only"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("synced 1 models"), "{}", run.stdout);
    // The mock's other models have no prices: a catalog entry without one is not imported.
    let run = h
        .fusion(&["models", "--config", path, "sync", "catalog"])
        .await;
    assert!(
        run.stdout
            .contains("synced 2 models of `catalog` (1 free, 1 priced)"),
        "{}",
        run.stdout
    );

    let listed = h
        .fusion(&["models", "--config", path, "--json"])
        .await
        .json();
    let model = |id: &str| {
        listed["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {listed}"))
    };
    let free = model("catalog/vendor/free-model:free");
    assert_eq!(free["tier"], "free");
    assert_eq!(free["source"], "catalog");
    assert_eq!(free["context_window"], 131_072);
    let priced = model("catalog/vendor/priced-model");
    assert_eq!(priced["tier"], "paid");
    assert_eq!(priced["price"]["input_per_mtok"], 3.0);
    assert_eq!(priced["price"]["output_per_mtok"], 15.0);

    let run = h
        .fusion(&["models", "--config", path, "sync", "nope"])
        .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no provider named `nope`"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_the_ledger_counts_every_call_and_synced_models_persist() {
    let h = Harness::start(script()).await;
    let db = common::PgDatabase::create();
    let url = &db.url;
    let text = format!("[storage]\nurl = \"{url}\"\n\n{}", config(&h, "", ""));
    let server = serve(&h, &text).await;
    for i in 0..12 {
        let (status, _, _) = chat(&server, ask("router/auto", &format!("call {i}"))).await;
        assert_eq!(status, 200);
    }
    server.stop().await;
    let path = h.dir.path().join("fusion.toml");
    let report = h
        .fusion(&["usage", "--json", "--config", path.to_str().unwrap()])
        .await
        .json();
    assert_eq!(report["total"]["calls"], 12, "{report}");
    assert_eq!(report["by_model"][0]["key"], "small", "{report}");
    // Nothing went to the SQLite default: the store is the configured one.
    assert!(!h.dir.path().join("xdg-data/fusion/fusion.db").exists());
}
