//! End-to-end through the real binary against mock-provider: paid models never pass as free.
//! A hosted provider's listed models are free only when the listing says so; an unknown price is
//! rejected under `free_only` and ranks last otherwise; catalogs are synced at start and every
//! `catalog_refresh`; a 429 cools only that model down for its `Retry-After`, which Fusion's own
//! 429 passes on; a stated daily cap is tracked per model in the store; and a local server's
//! context window (llama.cpp `/props`, Ollama `/api/show`, LM Studio `/api/v0/models`, vLLM
//! `max_model_len`) keeps a task that does not fit away from it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{FusionServer, Harness};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script, ServerFlavor};
use serde_json::{Value, json};

async fn serve(h: &Harness, config: &str) -> FusionServer {
    let path = h.write_config("fusion.toml", config);
    FusionServer::with_config(h.dir.path(), &path).await
}

/// Posts a chat request: status, `Retry-After` header, body.
async fn chat(server: &FusionServer, model: &str, prompt: &str) -> (u16, Option<String>, Value) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": prompt}]});
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry_after, value)
}

async fn api_models(server: &FusionServer) -> Vec<Value> {
    let body: Value = reqwest::get(format!("{}/api/models", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["models"].as_array().cloned().unwrap_or_default()
}

/// Polls `/api/models` (for up to 30 s) until `done` holds for model `id`; returns that model.
async fn wait_for_model(server: &FusionServer, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let models = api_models(server).await;
        if let Some(model) = models.iter().find(|m| m["id"] == id)
            && done(model)
        {
            return model.clone();
        }
        assert!(
            Instant::now() < deadline,
            "model {id} never got there: {models:#?}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn candidate<'a>(decision: &'a Value, model: &str) -> &'a Value {
    decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .unwrap_or_else(|| panic!("{model} is not a candidate: {decision:#}"))
}

fn reason(decision: &Value, model: &str) -> String {
    candidate(decision, model)["reason"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A provider of tier `tier` on the mock, `retries = 0`, plus `extra` lines.
fn provider(name: &str, url: &str, tier: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"{name}\"\nkind = \"openai\"\nbase_url = \"{url}\"\ntier = \"{tier}\"\nretries = 0\ntimeout = \"5s\"\n{extra}\n\n"
    )
}

/// `fusion route --json ARGS TASK` with `config` as fusion.toml.
async fn route(h: &Harness, config: &str, args: &[&str]) -> (i32, Value, String) {
    let path = h.write_config("fusion.toml", config);
    let mut full = vec!["route", "--config", path.to_str().unwrap(), "--json"];
    full.extend_from_slice(args);
    let run = h.fusion(&full).await;
    let json = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run.code, json, run.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paid_model_listed_by_a_free_provider_is_not_routed_under_free_only() {
    let script = Script::new()
        .with_model(
            "anthropic/claude-opus-4",
            ModelScript::fixed("opus says hi").with_pricing("0.000015", "0.000075"),
        )
        .with_model(
            "meta/llama-3.3:free",
            ModelScript::fixed("llama says hi").with_pricing("0", "0"),
        );
    let h = Harness::start(script).await;
    // The README's OpenRouter example: a provider of tier free, discovery on.
    let config = format!(
        "[router]\nfree_only = true\n\n{}",
        provider("openrouter", &h.mock.base_url(), "free", "")
    );
    let server = serve(&h, &config).await;
    let opus = wait_for_model(&server, "openrouter/anthropic/claude-opus-4", |_| true).await;
    assert_eq!(opus["tier"], "paid", "{opus}");
    assert_eq!(opus["price"]["input_per_mtok"], 15.0, "{opus}");
    assert_eq!(opus["price"]["output_per_mtok"], 75.0, "{opus}");
    wait_for_model(&server, "openrouter/meta/llama-3.3:free", |m| {
        m["tier"] == "free"
    })
    .await;

    let (status, _, body) = chat(&server, "router/auto", "hi").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "llama says hi");
    let decision = &body["fusion"]["route"];
    assert_eq!(decision["chosen"], "openrouter/meta/llama-3.3:free");
    assert_eq!(
        reason(decision, "openrouter/anthropic/claude-opus-4"),
        "paid model, and router.free_only is set"
    );
    assert!(h.mock.requests_for("anthropic/claude-opus-4").is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_price_is_rejected_under_free_only_with_the_reason_and_ranks_last_otherwise() {
    let script = Script::new()
        .with_model("a/mystery", ModelScript::fixed("mystery"))
        .with_model(
            "m/priced",
            ModelScript::fixed("priced").with_pricing("0.0000001", "0.0000002"),
        )
        .with_model("z/open:free", ModelScript::fixed("free"));
    let h = Harness::start(script).await;
    let url = h.mock.base_url();
    let free_only = format!(
        "[router]\nfree_only = true\n\n{}",
        provider("or", &url, "free", "")
    );
    let (code, decision, stderr) = route(&h, &free_only, &["say hi"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(decision["chosen"], "or/z/open:free", "{decision:#}");
    assert_eq!(
        reason(&decision, "or/a/mystery"),
        "price unknown (not in config or catalog), and router.free_only is set"
    );

    let open = provider("or", &url, "free", "");
    for priority in ["cost", "quality", "speed"] {
        let (code, decision, stderr) = route(&h, &open, &["--priority", priority, "say hi"]).await;
        assert_eq!(code, 0, "{stderr}");
        let ranked: Vec<&str> = decision["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["verdict"] == "ranked")
            .map(|c| c["model"].as_str().unwrap())
            .collect();
        assert_eq!(
            ranked.last(),
            Some(&"or/a/mystery"),
            "{priority}: {decision:#}"
        );
        assert!(
            reason(&decision, "or/a/mystery").contains("price unknown"),
            "{decision:#}"
        );
    }
    let run = h
        .fusion(&["models", "--config", "fusion.toml", "--json"])
        .await;
    let listed = run.json();
    let mystery = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "or/a/mystery")
        .cloned()
        .unwrap();
    assert_eq!(mystery["price_unknown"], true, "{mystery}");
    assert_eq!(mystery["price"], Value::Null, "never $0: {mystery}");
}

#[tokio::test(flavor = "multi_thread")]
async fn catalogs_are_synced_at_start_and_every_catalog_refresh_with_prices_and_context() {
    let catalog = |big_prompt: &str| {
        Script::new()
            .with_model(
                "vendor/big",
                ModelScript::fixed("big")
                    .with_context_length(200_000)
                    .with_pricing(big_prompt, "0.000015"),
            )
            .with_model(
                "vendor/small:free",
                ModelScript::fixed("small")
                    .with_context_length(131_072)
                    .with_pricing("0", "0"),
            )
    };
    let h = Harness::start(catalog("0.000003")).await;
    let url = h.mock.base_url();
    // A paid provider is synced because it says `catalog = true`; a free one because its
    // listing carries prices.
    let config = format!(
        "[router]\nhealth_interval = \"1s\"\n\n{}{}",
        provider(
            "paidcat",
            &url,
            "paid",
            "catalog = true\ncatalog_refresh = \"1s\""
        ),
        provider("detected", &url, "free", "")
    );
    let server = serve(&h, &config).await;
    let big = wait_for_model(&server, "paidcat/vendor/big", |_| true).await;
    assert_eq!(big["source"], "catalog", "{big}");
    assert_eq!(big["tier"], "paid");
    assert_eq!(big["context_window"], 200_000);
    assert_eq!(big["price"]["input_per_mtok"], 3.0);
    assert_eq!(big["price"]["output_per_mtok"], 15.0);
    let small = wait_for_model(&server, "paidcat/vendor/small:free", |_| true).await;
    assert_eq!(small["tier"], "free", "{small}");
    assert_eq!(small["context_window"], 131_072);
    wait_for_model(&server, "detected/vendor/big", |m| m["source"] == "catalog").await;

    // The next refresh brings the new price.
    h.mock.set_script(catalog("0.000001"));
    wait_for_model(&server, "paidcat/vendor/big", |m| {
        m["price"]["input_per_mtok"] == 1.0
    })
    .await;
    server.stop().await;

    // Both catalogs are in the store: a one-shot command reads them back.
    let run = h
        .fusion(&["models", "--config", "fusion.toml", "--json"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed = run.json();
    let model = |id: &str| {
        listed["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {listed:#}"))
    };
    let big = model("paidcat/vendor/big");
    assert_eq!(big["source"], "catalog");
    assert_eq!(big["price"]["input_per_mtok"], 1.0);
    assert_eq!(model("detected/vendor/big")["source"], "catalog");
}

/// Two local models behind one provider; `a-limited` is the better one, so it is tried first.
fn two_models(url: &str, router: &str) -> String {
    format!(
        "[router]\ndiscover = false\npriority = \"cost\"\n{router}\n\n{}\
         [[models]]\nid = \"a-limited\"\nprovider = \"local\"\nquality = {{ default = 0.9 }}\n\n\
         [[models]]\nid = \"b-steady\"\nprovider = \"local\"\nquality = {{ default = 0.5 }}\n",
        provider("local", url, "local", "")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_cools_only_that_model_down_for_its_retry_after_then_it_is_tried_again() {
    let script = Script::new()
        .with_model(
            "a-limited",
            ModelScript::fixed("a is back")
                .failing_first(1, Failure::status_retry_after(429, "slow down", 4)),
        )
        .with_model("b-steady", ModelScript::fixed("b answers"));
    let h = Harness::start(script).await;
    let server = serve(&h, &two_models(&h.mock.base_url(), "")).await;

    let (status, _, body) = chat(&server, "router/auto", "hi").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "b answers");
    assert_eq!(body["fusion"]["failed"][0]["model"], "a-limited", "{body}");

    // Cooling down: routing skips it and says why; the provider is not asked again.
    let (status, _, body) = chat(&server, "router/auto", "hi").await;
    assert_eq!(status, 200, "{body}");
    let decision = &body["fusion"]["route"];
    let limited = candidate(decision, "a-limited");
    assert_eq!(limited["health"]["state"], "rate_limited", "{limited}");
    assert!(
        reason(decision, "a-limited").starts_with("rate-limited by its provider (HTTP 429)"),
        "{decision:#}"
    );
    assert_eq!(h.mock.requests_for("a-limited").len(), 1);
    // Only that model: the other one of the same provider kept answering.
    assert_eq!(body["choices"][0]["message"]["content"], "b answers");

    // After the Retry-After it is tried again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = chat(&server, "router/auto", "hi").await;
        assert_eq!(status, 200, "{body}");
        if body["choices"][0]["message"]["content"] == "a is back" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a-limited never came back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(h.mock.requests_for("a-limited").len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fusions_own_429_passes_the_upstreams_retry_after_on() {
    let script = Script::new().with_model(
        "busy",
        ModelScript::failing(Failure::status_retry_after(429, "slow down", 7)),
    );
    let h = Harness::start(script).await;
    let config = format!(
        "[router]\ndiscover = false\n\n{}[[models]]\nid = \"busy\"\nprovider = \"local\"\n",
        provider("local", &h.mock.base_url(), "local", "")
    );
    let server = serve(&h, &config).await;
    let (status, retry_after, body) = chat(&server, "busy", "hi").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry_after.as_deref(), Some("7"), "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    // Routed to the only model, now cooling down for those 7 s: 429 too, saying when to retry.
    let (status, retry_after, body) = chat(&server, "router/auto", "hi").await;
    assert_eq!(status, 429, "{body}");
    let secs: u64 = retry_after.as_deref().unwrap_or("none").parse().unwrap();
    assert!((1..=7).contains(&secs), "{secs}: {body}");
    assert_eq!(
        h.mock.requests_for("busy").len(),
        1,
        "not asked again while cooling down"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daily_cap_the_provider_states_is_tracked_per_model_and_survives_a_restart() {
    let script = Script::new()
        .with_model(
            "a-limited",
            ModelScript::fixed("capped answers").with_rate_limit(2, 86_400),
        )
        .with_model("b-steady", ModelScript::fixed("b answers"));
    let h = Harness::start(script).await;
    let config = two_models(&h.mock.base_url(), "");
    let server = serve(&h, &config).await;
    for _ in 0..2 {
        let (status, _, body) = chat(&server, "router/auto", "hi").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["choices"][0]["message"]["content"], "capped answers");
    }
    let (status, _, body) = chat(&server, "router/auto", "hi").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "b answers");
    let decision = &body["fusion"]["route"];
    assert_eq!(
        candidate(decision, "a-limited")["health"]["state"],
        "daily_cap_reached"
    );
    assert!(
        reason(decision, "a-limited")
            .starts_with("daily request cap of its provider reached (2 of 2 requests today)"),
        "{decision:#}"
    );
    assert_eq!(h.mock.requests_for("a-limited").len(), 2);
    server.stop().await;

    // The count is in the store: after a restart the model is still skipped.
    let server = serve(&h, &config).await;
    let (status, _, body) = chat(&server, "router/auto", "hi").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "b answers");
    assert_eq!(h.mock.requests_for("a-limited").len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_servers_own_context_window_keeps_a_larger_task_away_from_it() {
    for flavor in [
        ServerFlavor::LlamaCpp,
        ServerFlavor::Ollama,
        ServerFlavor::LmStudio,
        ServerFlavor::Vllm,
    ] {
        let local = MockProvider::start(
            Script::new()
                .with_server(flavor)
                .with_model("tiny", ModelScript::fixed("tiny").with_context_length(8192)),
        )
        .await
        .unwrap();
        let h = Harness::start(Script::echo_any()).await;
        let config = format!(
            "{}{}[[models]]\nid = \"big\"\nprovider = \"hosted\"\ncontext_window = 128000\nprice = {{ input_per_mtok = 0.1, output_per_mtok = 0.1 }}\n",
            provider("local", &local.base_url(), "local", ""),
            provider("hosted", &h.mock.base_url(), "paid", ""),
        );
        let (code, decision, stderr) = route(&h, &config, &["say hi"]).await;
        assert_eq!(code, 0, "{flavor:?}: {stderr}");
        assert_eq!(decision["chosen"], "local/tiny", "{flavor:?}: {decision:#}");

        let (code, decision, stderr) = route(
            &h,
            &config,
            &["--context-length", "50000", "review this diff"],
        )
        .await;
        assert_eq!(code, 0, "{flavor:?}: {stderr}");
        assert_eq!(decision["chosen"], "big", "{flavor:?}: {decision:#}");
        let why = reason(&decision, "local/tiny");
        assert!(why.contains("8192-token window"), "{flavor:?}: {why}");
    }
}
