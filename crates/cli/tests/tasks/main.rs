//! End-to-end async tasks through the real binary against mock-provider: the REST API
//! (`/api/tasks`, `/api/queue`, `/api/events`) and `fusion tasks`, the local slot bound,
//! cancelling a running task (the upstream request is aborted), kill -9 and restart (every task
//! ends, none lost, none run twice at once), two replicas sharing one PostgreSQL queue (each
//! task executed exactly once; behind a balancer under load: cancels across replicas, usage
//! totals, kill -9 of one; a cancel while the owner shuts down), and bad input. The harness is here; each behaviour has its
//! module (one test binary, linked once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod balanced;
mod cancel;
mod replicas;
mod restart;
mod slots;
mod stopping_owner;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::{FusionServer, Harness, wait_for, wait_until};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::{Value, json};

fn script(latency_ms: u64) -> Script {
    Script::new()
        .with_model(
            "slow-local",
            ModelScript::echo().with_latency_ms(latency_ms),
        )
        .with_model("hang", ModelScript::echo().with_latency_ms(60_000))
}

/// One local provider with two models; `[tasks]` as given; the store as given (default: the
/// SQLite file in the server's data dir).
fn config(h: &Harness, tasks: &str, storage: &str) -> String {
    format!(
        r#"{storage}
[router]
discover = false

[tasks]
poll_interval = "200ms"
{tasks}

[[providers]]
name = "local"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "120s"
max_concurrency = 8

[[models]]
id = "slow-local"
provider = "local"

[[models]]
id = "hang"
provider = "local"
"#,
        url = h.mock.base_url()
    )
}

async fn serve_in(dir: &Path, config: &str) -> FusionServer {
    let path = dir.join("fusion.toml");
    std::fs::write(&path, config).unwrap();
    FusionServer::with_config(dir, &path).await
}

fn completion(model: &str, text: &str) -> Value {
    json!({"work": {"kind": "completion", "model": model,
                    "messages": [{"role": "user", "content": text}]}})
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn submit(server: &FusionServer, body: Value) -> Value {
    let (status, submitted) = post(&format!("{}/api/tasks", server.url), body).await;
    assert_eq!(status, 202, "{submitted}\n{}", server.log());
    submitted
}

async fn task(url: &str, id: &str) -> Value {
    let (status, view) = get(&format!("{url}/api/tasks/{id}")).await;
    assert_eq!(status, 200, "{view}");
    view
}

fn is_final(state: &Value) -> bool {
    matches!(state.as_str(), Some("completed" | "failed" | "cancelled"))
}

/// Polls until every task is final (or `limit` passes); returns their views.
async fn wait_final(url: &str, ids: &[String], limit: Duration) -> Vec<Value> {
    wait_for(&format!("{} tasks are final", ids.len()), limit, || async {
        let mut views = Vec::new();
        for id in ids {
            views.push(task(url, id).await);
        }
        views.iter().all(|v| is_final(&v["state"])).then_some(views)
    })
    .await
}
