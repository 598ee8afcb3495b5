//! End-to-end routing through the real binary against mock-provider: `router/<priority>` on
//! `/v1/chat/completions` (decision in the body and the header, fallback, circuit breaker),
//! `fusion route`, escalation to a council (`[router.escalate]`), model discovery and catalog
//! sync, and the usage ledger (`/api/usage`, `fusion usage`) counting every call, none lost at
//! shutdown. The harness is here; each behaviour has its module (one test binary, linked once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod catalog;
mod decisions;
mod escalate;
mod fallback;
mod ledger;
mod route_command;

use std::time::Duration;

use common::{FusionServer, Harness, wait_until};
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
