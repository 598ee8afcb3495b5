//! The router's MCP tools and the usage resource over an in-process duplex pipe with the SDK's
//! client: `preemptive_route_task` decides without calling a model, `get_cost_estimate` prices
//! a named model or the routed choice, `fusion://usage` reports what the ledger recorded, and
//! bad arguments come back as tool errors that say what is wrong; a task handed off with
//! `route_task` is recorded as submitted over MCP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{Ledger, Store};
use fusion_mcp::{Fusion, FusionMcp};
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

struct Setup {
    tasks: fusion_core::tasks::TaskEngine,
    mock: MockProvider,
    client: RunningService<RoleClient, ()>,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let script = Script::new()
        .with_model("small", ModelScript::fixed("small answer"))
        .with_model("big", ModelScript::fixed("big answer"));
    let mock = MockProvider::start(script).await.unwrap();
    let url = mock.base_url();
    let text = format!(
        r#"[router]
discover = false
[[providers]]
name = "local"
kind = "openai"
base_url = "{url}"
tier = "local"
[[providers]]
name = "paid"
kind = "openai"
base_url = "{url}"
tier = "paid"
[[models]]
id = "small"
provider = "local"
context_window = 4096
quality = {{ default = 0.5 }}
[[models]]
id = "big"
provider = "paid"
price = {{ input_per_mtok = 2.0, output_per_mtok = 10.0 }}
quality = {{ default = 0.9 }}
[councils.default]
panel = [{{ model = "small" }}]
judge = {{ model = "small" }}
"#
    );
    let config: Config = toml::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fusion.db").display());
    let store = Store::open(Some(&url)).await.unwrap();
    let registry = Arc::new(
        ProviderRegistry::from_config(&config)
            .unwrap()
            .with_ledger(Ledger::start(store.clone())),
    );
    let config = Arc::new(config);
    let tasks = fusion_core::tasks::TaskEngine::start(
        store,
        fusion_core::tasks::fixed_source(Arc::clone(&config), Arc::clone(&registry)),
        config.tasks.clone(),
    );
    let server = FusionMcp::new(Fusion::new(config, registry).with_tasks(tasks.clone()));
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let client = ().serve(client_io).await.unwrap();
    Setup {
        tasks,
        mock,
        client,
        _dir: dir,
    }
}

async fn call(s: &Setup, tool: &str, arguments: Value) -> CallToolResult {
    let Value::Object(map) = arguments else {
        panic!("arguments must be an object")
    };
    s.client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
        .await
        .unwrap()
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn preemptive_route_task_decides_without_calling_any_model() {
    let s = setup().await;
    let result = call(&s, "preemptive_route_task", json!({"task": "say hello"})).await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let decision = result.structured_content.clone().unwrap();
    assert_eq!(decision["chosen"], "small", "{decision}");
    assert!(text(&result).contains("small"), "{}", text(&result));
    // The replaced server's camelCase names work; a long context rules the local model out.
    let result = call(
        &s,
        "preemptive_route_task",
        json!({"task": "review", "contextLength": 5000, "priority": "cost"}),
    )
    .await;
    let decision = result.structured_content.clone().unwrap();
    assert_eq!(decision["chosen"], "big", "{decision}");
    assert!(s.mock.requests().is_empty(), "no model was called");
}

#[tokio::test]
async fn get_cost_estimate_prices_a_named_model_and_the_routed_choice() {
    let s = setup().await;
    let result = call(
        &s,
        "get_cost_estimate",
        json!({"model": "big", "context_length": 1_000_000, "output_length": 100_000}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let estimate = result.structured_content.clone().unwrap();
    assert_eq!(estimate["cost_usd"], 3.0, "{estimate}");
    assert_eq!(estimate["routed"], false);
    let result = call(&s, "get_cost_estimate", json!({"contextLength": 100})).await;
    let estimate = result.structured_content.clone().unwrap();
    assert_eq!(estimate["model"], "small", "{estimate}");
    assert_eq!(estimate["cost_usd"], 0.0);
    assert_eq!(estimate["free"], true);
    assert_eq!(estimate["routed"], true);
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_that_name_the_problem() {
    let s = setup().await;
    let cases = [
        ("preemptive_route_task", json!({}), "task"),
        ("preemptive_route_task", json!({"task": " "}), "empty"),
        (
            "preemptive_route_task",
            json!({"task": "x", "complexity": 7}),
            "complexity",
        ),
        (
            "preemptive_route_task",
            json!({"task": "x", "priority": "cheap"}),
            "cheap",
        ),
        (
            "get_cost_estimate",
            json!({"model": "nope", "context_length": 1}),
            "unknown model `nope`",
        ),
        (
            "get_cost_estimate",
            json!({"context_length": "many"}),
            "invalid type",
        ),
    ];
    for (tool, args, needle) in cases {
        let result = call(&s, tool, args.clone()).await;
        assert_eq!(result.is_error, Some(true), "{tool} {args}");
        assert!(
            text(&result).contains(needle),
            "{tool} {args}: {}",
            text(&result)
        );
    }
    // The server keeps serving.
    let result = call(&s, "preemptive_route_task", json!({"task": "hi"})).await;
    assert_eq!(result.is_error, Some(false));
}

#[tokio::test]
async fn the_usage_resource_reports_the_calls_the_ledger_recorded() {
    let s = setup().await;
    let result = call(&s, "fusion_ask", json!({"prompt": "hello"})).await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let read = s
        .client
        .read_resource(ReadResourceRequestParams::new("fusion://usage"))
        .await
        .unwrap();
    let body = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("not text: {other:?}"),
    };
    let report: Value = serde_json::from_str(&body).unwrap();
    // Every call the council made (member, judge and its retry, synthesizer) is counted.
    let made = s.mock.requests().len();
    assert!(made >= 3);
    assert_eq!(report["total"]["calls"], made as u64, "{report}");
    assert_eq!(report["by_model"][0]["key"], "small", "{report}");
}

#[tokio::test]
async fn a_task_handed_off_over_mcp_is_recorded_as_submitted_by_mcp() {
    let s = setup().await;
    let result = call(
        &s,
        "route_task",
        json!({"task": "say hello", "model": "small"}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let id = result.structured_content.clone().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = s.tasks.get(&id).await.unwrap();
    assert_eq!(task.task.caller, "mcp", "{:?}", task.task);
    s.tasks.shutdown().await;
}

#[tokio::test]
async fn get_cost_estimate_takes_the_router_servers_arguments_and_answers_per_tier() {
    let s = setup().await;
    let result = call(
        &s,
        "get_cost_estimate",
        json!({"context_length": 1000, "expected_output_length": 200}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let answer = result.structured_content.clone().unwrap();
    assert_eq!(answer["output_tokens"], 200, "{answer}");
    let tiers = &answer["tiers"];
    assert_eq!(tiers["local"]["model"], "small", "{answer}");
    assert_eq!(tiers["local"]["cost_usd"], 0.0, "{answer}");
    assert_eq!(tiers["paid"]["model"], "big", "{answer}");
    let paid = tiers["paid"]["cost_usd"].as_f64().unwrap();
    assert!(
        (paid - (1000.0 * 2.0 + 200.0 * 10.0) / 1e6).abs() < 1e-12,
        "{answer}"
    );
    // A local model whose window is too small is not offered for a longer call.
    let long = call(
        &s,
        "get_cost_estimate",
        json!({"context_length": 5000, "expected_output_length": 200}),
    )
    .await;
    let tiers = &long.structured_content.clone().unwrap()["tiers"];
    assert!(tiers.get("local").is_none(), "{tiers}");
}
