//! The MCP handler over an in-process duplex pipe, with the SDK's own client on the other end,
//! in both protocol eras: the `initialize` handshake and the stateless `server/discover` one.
//! Model calls go to a mock-provider on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_mcp::{Fusion, FusionMcp};
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use rmcp::model::{
    CallToolRequestParams, ClientRequest, ErrorCode, ProgressNotificationParam, ProtocolVersion,
    ReadResourceRequestParams,
};
use rmcp::service::{
    ClientLifecycleMode, NotificationContext, PeerRequestOptions, RoleClient, RunningService,
    serve_client_with_lifecycle,
};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};

const JUDGE: &str = r#"{"consensus":["both agree"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}"#;

/// Records the progress notifications it receives.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

struct Setup {
    mock: MockProvider,
    client: RunningService<RoleClient, Recorder>,
    recorder: Recorder,
}

fn lifecycle(era: &str) -> ClientLifecycleMode {
    match era {
        "legacy" => ClientLifecycleMode::Initialize,
        _ => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    }
}

async fn setup(era: &str, slow_member_ms: u64) -> Setup {
    let script = Script::new()
        .with_model("a", ModelScript::fixed("Answer A."))
        .with_model(
            "b",
            ModelScript::fixed("Answer B.").with_latency_ms(slow_member_ms),
        )
        .with_model("judge", ModelScript::fixed(JUDGE))
        .with_model("synth", ModelScript::fixed("The final answer."))
        .with_model(
            "down",
            ModelScript::failing(fusion_mock_provider::Failure::Reset),
        );
    let mock = MockProvider::start(script).await.unwrap();
    let text = format!(
        r#"[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
retries = 0
[[models]]
id = "a"
provider = "mock"
[[models]]
id = "b"
provider = "mock"
[[models]]
id = "judge"
provider = "mock"
[[models]]
id = "synth"
provider = "mock"
[[models]]
id = "down"
provider = "mock"
[councils.default]
panel = [{{ model = "a" }}, {{ model = "b" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
[councils.broken]
panel = [{{ model = "down" }}]
judge = {{ model = "judge" }}
"#,
        url = mock.base_url()
    );
    let config: Config = toml::from_str(&text).unwrap();
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let server = FusionMcp::new(Fusion::new(Arc::new(config), Arc::new(registry)));
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let recorder = Recorder::default();
    let client = serve_client_with_lifecycle(recorder.clone(), client_io, lifecycle(era))
        .await
        .unwrap();
    Setup {
        mock,
        client,
        recorder,
    }
}

fn ask(arguments: Value) -> CallToolRequestParams {
    let Value::Object(map) = arguments else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new("fusion_ask").with_arguments(map)
}

async fn asks_and_gets_answer_trace_and_progress(era: &str) {
    let s = setup(era, 0).await;
    let tools = s.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "fusion_ask",
            "preemptive_route_task",
            "get_cost_estimate",
            "code_index",
            "code_search",
            "get_free_models"
        ]
    );
    assert!(tools[0].output_schema.is_some());

    let result = s
        .client
        .call_tool(ask(json!({"prompt": "What is 2+2?"})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    let text = result.content[0].as_text().unwrap().text.clone();
    assert_eq!(text, "The final answer.");
    let trace = result.structured_content.unwrap();
    assert_eq!(trace["status"], "ok");
    assert_eq!(trace["final_answer"], "The final answer.");
    assert_eq!(trace["analysis"]["consensus"], json!(["both agree"]));
    assert_eq!(trace["responses"].as_array().unwrap().len(), 2);

    // Two members, the judge, the synthesizer: four steps of four, in order.
    let progress = s.recorder.progress.lock().unwrap().clone();
    let steps: Vec<f64> = progress.iter().map(|p| p.progress).collect();
    assert_eq!(steps, vec![1.0, 2.0, 3.0, 4.0], "{progress:?}");
    assert!(progress.iter().all(|p| p.total == Some(4.0)));
    assert!(
        progress[0]
            .message
            .as_deref()
            .unwrap()
            .starts_with("panel: ")
    );
    assert!(
        progress[2]
            .message
            .as_deref()
            .unwrap()
            .starts_with("judge: ")
    );
    assert!(
        progress[3]
            .message
            .as_deref()
            .unwrap()
            .starts_with("synthesizer: ")
    );
    s.client.cancel().await.unwrap();
}

#[tokio::test]
async fn legacy_client_asks_and_gets_answer_trace_and_progress() {
    asks_and_gets_answer_trace_and_progress("legacy").await;
}

#[tokio::test]
async fn discover_client_asks_and_gets_answer_trace_and_progress() {
    asks_and_gets_answer_trace_and_progress("discover").await;
}

async fn cancelling_stops_the_upstream_calls(era: &str) {
    let s = setup(era, 30_000).await;
    let request = ClientRequest::CallToolRequest(rmcp::model::Request::new(ask(
        json!({"prompt": "slow one"}),
    )));
    let handle = s
        .client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    // Member `a` answers at once (one progress step); `b` hangs upstream for 30 s.
    wait_for(|| s.recorder.progress.lock().unwrap().len() == 1).await;
    wait_for(|| s.mock.in_flight() == 1).await;
    handle.cancel(Some("user gave up".into())).await.unwrap();
    wait_for(|| s.mock.in_flight() == 0).await;

    // The server still serves on the same connection.
    let result = s
        .client
        .call_tool(ask(json!({"prompt": "again", "council": "broken"})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    s.client.cancel().await.unwrap();
}

#[tokio::test]
async fn legacy_cancellation_stops_the_upstream_model_calls() {
    cancelling_stops_the_upstream_calls("legacy").await;
}

#[tokio::test]
async fn discover_cancellation_stops_the_upstream_model_calls() {
    cancelling_stops_the_upstream_calls("discover").await;
}

async fn wait_for(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

#[tokio::test]
async fn bad_calls_get_clear_errors_and_the_session_keeps_serving() {
    let s = setup("discover", 0).await;

    let unknown = s
        .client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .unwrap_err();
    let rmcp::ServiceError::McpError(error) = unknown else {
        panic!("expected a JSON-RPC error, got {unknown:?}")
    };
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
    assert!(error.message.contains("no_such_tool"), "{}", error.message);

    for (arguments, expected) in [
        (json!({}), "missing field `prompt`"),
        (json!({"prompt": 5}), "invalid type"),
        (
            json!({"prompt": "x", "council": "nope"}),
            "no council named `nope`",
        ),
        (json!({"prompt": "x", "extra": 1}), "unknown field `extra`"),
    ] {
        let result = s.client.call_tool(ask(arguments.clone())).await.unwrap();
        assert_eq!(result.is_error, Some(true), "{arguments}");
        let text = &result.content[0].as_text().unwrap().text;
        assert!(text.contains(expected), "{arguments}: {text}");
    }

    let all_failed = s
        .client
        .call_tool(ask(json!({"prompt": "x", "council": "broken"})))
        .await
        .unwrap();
    assert_eq!(all_failed.is_error, Some(true));
    let trace = all_failed.structured_content.unwrap();
    assert_eq!(trace["status"], "error");
    assert_eq!(trace["failed_models"][0]["model"], "down");

    let ok = s
        .client
        .call_tool(ask(json!({"prompt": "x"})))
        .await
        .unwrap();
    assert_eq!(ok.is_error, Some(false));
    s.client.cancel().await.unwrap();
}

#[tokio::test]
async fn local_fusions_question_and_json_arguments_are_answered_as_it_documented() {
    let s = setup("legacy", 0).await;
    // `json: true`: the text is the whole council result as JSON.
    let traced = s
        .client
        .call_tool(ask(json!({"question": "What is 2+2?", "json": true})))
        .await
        .unwrap();
    assert_eq!(traced.is_error, Some(false));
    let text = &traced.content[0].as_text().unwrap().text;
    let document: Value = serde_json::from_str(text).unwrap();
    assert_eq!(document["status"], "ok");
    assert_eq!(document["final_answer"], "The final answer.");
    assert_eq!(document, traced.structured_content.unwrap());
    // `json: false`: the final answer as plain text.
    let plain = s
        .client
        .call_tool(ask(json!({"question": "What is 2+2?", "json": false})))
        .await
        .unwrap();
    assert_eq!(
        plain.content[0].as_text().unwrap().text,
        "The final answer."
    );
    s.client.cancel().await.unwrap();
}

#[tokio::test]
async fn resources_describe_status_and_councils() {
    let s = setup("legacy", 0).await;
    let listed = s.client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "fusion://status",
            "fusion://councils",
            "fusion://usage",
            "fusion://catalog",
            "fusion://catalog/free",
            "fusion://catalog/status"
        ]
    );

    let read = |uri: &str| {
        let params = ReadResourceRequestParams::new(uri);
        let client = &s.client;
        async move {
            let result = client.read_resource(params).await?;
            let rmcp::model::ResourceContents::TextResourceContents { text, .. } =
                &result.contents[0]
            else {
                panic!("expected text contents")
            };
            Ok::<Value, rmcp::ServiceError>(serde_json::from_str(text).unwrap())
        }
    };
    let status = read("fusion://status").await.unwrap();
    assert_eq!(status["providers"][0]["name"], "mock");
    assert_eq!(status["providers"][0]["reachable"], true);
    let councils = read("fusion://councils").await.unwrap();
    assert_eq!(councils["councils"][1]["name"], "default");
    assert_eq!(councils["councils"][1]["default"], true);
    assert_eq!(councils["councils"][1]["panel"][1]["model"], "b");
    assert_eq!(councils["councils"][1]["synthesizer"]["model"], "synth");

    let missing = read("fusion://nope").await.unwrap_err();
    let rmcp::ServiceError::McpError(error) = missing else {
        panic!("expected a JSON-RPC error")
    };
    assert_eq!(error.code, ErrorCode::RESOURCE_NOT_FOUND);
    s.client.cancel().await.unwrap();
}
