//! OpenAI's Responses API and the raw OpenAI doors through `tower::ServiceExt::oneshot` against
//! mock-provider, with a store: `/v1/responses` translated to chat for a model, the router and
//! a council (plain and streamed, function calls, `previous_response_id`, `store: false`,
//! `GET /v1/responses/{id}`), passed through to a provider marked `responses = true`, and
//! `/v1/embeddings` and `/v1/completions` passed through to the model's provider — every call
//! in the usage ledger.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{Ledger, Store, UsageFilter};
use fusion_mock_provider::{MockProvider, ModelScript, Reply, Script, ToolCall};
use fusion_server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const JUDGE: &str = r#"{"consensus":["c"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}"#;

fn script() -> Script {
    Script::new()
        .with_model("fast", ModelScript::fixed("Hello there friend"))
        .with_model("a", ModelScript::fixed("Answer A."))
        .with_model("b", ModelScript::fixed("Answer B."))
        .with_model("judge", ModelScript::fixed(JUDGE))
        .with_model("synth", ModelScript::fixed("The council says hi"))
        .with_model("echo", ModelScript::echo())
        .with_model(
            "cut",
            ModelScript::fixed("one two three four").with_cut_after_chunks(2),
        )
        .with_model(
            "agent",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new("shell", json!({"command": ["ls"]}))]),
                Reply::Template("The tool said: {tool_result}".into()),
            ),
        )
}

struct Api {
    mock: MockProvider,
    state: AppState,
    ledger: Ledger,
}

impl Api {
    async fn start() -> Self {
        let mock = MockProvider::start(script()).await.unwrap();
        let text = format!(
            r#"[router]
discover = false
[[providers]]
name = "mock"
kind = "openai"
tier = "local"
base_url = "{url}"
retries = 0
timeout = "5s"
[[models]]
id = "fast"
provider = "mock"
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
id = "agent"
provider = "mock"
[[models]]
id = "cut"
provider = "mock"
[[models]]
id = "embedder"
provider = "mock"
model = "echo"
[[providers]]
name = "native"
kind = "openai"
base_url = "{url}"
responses = true
retries = 0
[[models]]
id = "native-model"
provider = "native"
model = "echo"
[councils.default]
panel = [{{ model = "a" }}, {{ model = "b" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
[aliases]
"gpt-*" = "fast"
"#,
            url = mock.base_url()
        );
        let config: Config = toml::from_str(&text).unwrap();
        config.validate(std::path::Path::new("test.toml")).unwrap();
        let store = Store::open(Some("sqlite::memory:")).await.unwrap();
        let ledger = Ledger::start(store);
        let registry = ProviderRegistry::from_config(&config)
            .unwrap()
            .with_ledger(ledger.clone());
        let state = AppState::with_keys(config, registry, Vec::new(), fusion_server::prometheus());
        Self {
            mock,
            state,
            ledger,
        }
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, String) {
        self.call(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// `POST /v1/responses` answered 200 with JSON.
    async fn respond(&self, body: Value) -> Value {
        let (status, text) = self.post("/v1/responses", body).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Calls of `model` in the usage ledger, and how many of them were ok.
    async fn ledger_calls(&self, model: &str) -> u64 {
        self.ledger.flush().await.unwrap();
        let filter = UsageFilter {
            model: Some(model.into()),
            ..UsageFilter::default()
        };
        let report = self.ledger.store().usage_report(&filter).await.unwrap();
        report.total.calls - report.total.failed_calls
    }
}

/// The `(event name, data)` pairs of an SSE body.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn a_response_is_translated_stored_and_retrieved_by_id() {
    let api = Api::start().await;
    let answer = api
        .respond(
            json!({"model": "gpt-5-codex", "input": "hi", "instructions": "be brief",
            "max_output_tokens": 64, "reasoning": {"effort": "low"}}),
        )
        .await;
    let id = answer["id"].as_str().unwrap();
    assert!(id.starts_with("resp_"));
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["model"], "gpt-5-codex");
    assert_eq!(answer["output"][0]["type"], "message");
    assert_eq!(answer["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(answer["output_text"], "Hello there friend");
    assert!(answer["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let sent = &api.mock.requests_for("fast")[0].body;
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][1]["content"], "hi");
    assert_eq!(sent["max_tokens"], 64);
    assert!(sent.get("reasoning").is_none(), "dropped: {sent}");
    let (status, stored) = api
        .call(
            Request::get(format!("/v1/responses/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(serde_json::from_str::<Value>(&stored).unwrap(), answer);
    assert_eq!(api.ledger_calls("fast").await, 1);
}

#[tokio::test]
async fn a_streamed_response_sends_the_named_numbered_event_sequence() {
    let api = Api::start().await;
    let (status, body) = api
        .post(
            "/v1/responses",
            json!({"model": "fast", "input": "hi", "stream": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        names[names.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64, "{name}");
        assert_eq!(data["type"], name.as_str());
    }
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello there friend");
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["output_text"], "Hello there friend");
    assert!(done["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let id = done["id"].as_str().unwrap();
    let (status, _) = api
        .call(
            Request::get(format!("/v1/responses/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a streamed response is stored too");
}

#[tokio::test]
async fn a_function_call_round_trip_continues_through_previous_response_id() {
    let api = Api::start().await;
    let tools = json!([{"type": "function", "name": "shell", "description": "Runs a command",
        "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}},
        {"type": "web_search"}]);
    let first = api
        .respond(json!({"model": "agent", "input": "list files", "tools": tools}))
        .await;
    let call = &first["output"][0];
    assert_eq!(call["type"], "function_call", "{first}");
    assert_eq!(call["name"], "shell");
    assert_eq!(call["arguments"], r#"{"command":["ls"]}"#);
    let sent = &api.mock.requests_for("agent")[0].body;
    assert_eq!(sent["tools"][0]["function"]["name"], "shell");
    assert_eq!(
        sent["tools"].as_array().unwrap().len(),
        1,
        "web_search dropped"
    );
    let second = api
        .respond(json!({"model": "agent", "previous_response_id": first["id"],
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "a.txt"}],
            "tools": tools}))
        .await;
    assert_eq!(second["output_text"], "The tool said: a.txt");
    let sent = &api.mock.requests_for("agent")[1].body;
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages[0]["content"], "list files");
    assert_eq!(messages[1]["tool_calls"][0]["id"], call["call_id"]);
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(messages[2]["tool_call_id"], call["call_id"]);
}

#[tokio::test]
async fn a_streamed_function_call_sends_its_arguments_as_deltas() {
    let api = Api::start().await;
    let (status, body) = api
        .post(
            "/v1/responses",
            json!({"model": "agent", "input": "go", "stream": true,
            "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = events(&body);
    let arguments: String = events
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(arguments, r#"{"command":["ls"]}"#);
    let done = events
        .iter()
        .find(|(n, _)| n == "response.function_call_arguments.done")
        .unwrap();
    assert_eq!(done.1["arguments"], arguments);
    let completed = &events.last().unwrap();
    assert_eq!(completed.0, "response.completed");
    assert_eq!(
        completed.1["response"]["output"][0]["type"],
        "function_call"
    );
}

#[tokio::test]
async fn unknown_previous_responses_unstored_ones_and_unknown_ids_are_refused() {
    let api = Api::start().await;
    let (status, body) = api
        .post(
            "/v1/responses",
            json!({"model": "fast", "input": "x", "previous_response_id": "resp_nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "previous_response_not_found");
    assert_eq!(error["error"]["param"], "previous_response_id");
    let unstored = api
        .respond(json!({"model": "fast", "input": "x", "store": false}))
        .await;
    assert_eq!(unstored["store"], false);
    let (status, _) = api
        .post(
            "/v1/responses",
            json!({"model": "fast", "input": "x", "previous_response_id": unstored["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = api
        .call(
            Request::get("/v1/responses/resp_nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api
        .post(
            "/v1/responses",
            json!({"model": "fast", "input": [{"role": "wizard", "content": "x"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("input[0].role"), "{body}");
    let (status, body) = api
        .post("/v1/responses", json!({"model": "mystery", "input": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("[aliases]"), "{body}");
}

#[tokio::test]
async fn the_router_and_a_council_answer_the_responses_api() {
    let api = Api::start().await;
    let routed = api
        .respond(json!({"model": "router/auto", "input": "hi"}))
        .await;
    assert_eq!(routed["status"], "completed");
    assert!(
        !routed["output_text"].as_str().unwrap().is_empty(),
        "{routed}"
    );
    let council = api
        .respond(json!({"model": "fusion/default", "input": "hi"}))
        .await;
    assert_eq!(council["output_text"], "The council says hi");
    let (status, body) = api
        .post(
            "/v1/responses",
            json!({"model": "fusion/default", "input": "hi", "stream": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let done = events(&body).pop().unwrap();
    assert_eq!(done.0, "response.completed", "{body}");
    assert_eq!(done.1["response"]["output_text"], "The council says hi");
}

#[tokio::test]
async fn a_responses_provider_gets_the_body_passed_through() {
    let api = Api::start().await;
    let answer = api
        .respond(json!({"model": "native-model", "input": "hello", "future_field": 1}))
        .await;
    assert_eq!(answer["id"], "resp_mock");
    assert_eq!(
        answer["output"][0]["content"][0]["text"],
        "responses: hello"
    );
    let sent = &api.mock.requests_for("echo")[0].body;
    assert_eq!(sent["future_field"], 1, "unknown fields kept");
    let (status, body) = api
        .post(
            "/v1/responses",
            json!({"model": "native-model", "input": "hi there", "stream": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = events(&body);
    assert_eq!(events.last().unwrap().0, "response.completed", "{body}");
    assert_eq!(api.ledger_calls("native-model").await, 2);
}

#[tokio::test]
async fn embeddings_and_completions_pass_through_to_the_models_provider() {
    let api = Api::start().await;
    let (status, body) = api
        .post(
            "/v1/embeddings",
            json!({"model": "embedder", "input": ["one", "two words"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let embeddings: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(embeddings["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        embeddings["data"][0]["embedding"].as_array().unwrap().len(),
        8
    );
    assert_eq!(
        api.mock.requests_for("echo")[0].body["model"],
        "echo",
        "upstream id sent"
    );
    let (status, body) = api
        .post(
            "/v1/completions",
            json!({"model": "gpt-4o", "prompt": "fn main", "suffix": "}"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let completion: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(completion["choices"][0]["text"], "echo: fn main }");
    let (status, body) = api
        .post(
            "/v1/completions",
            json!({"model": "embedder", "prompt": "a b c", "stream": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert_eq!(api.ledger_calls("embedder").await, 2);
    assert_eq!(api.ledger_calls("fast").await, 1);
    for model in ["router/auto", "fusion/default"] {
        let (status, body) = api
            .post("/v1/embeddings", json!({"model": model, "input": "x"}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("takes a model id"), "{body}");
    }
}

#[tokio::test]
async fn an_upstream_stream_cut_midway_ends_with_response_failed() {
    let api = Api::start().await;
    let (status, body) = api
        .post(
            "/v1/responses",
            json!({"model": "cut", "input": "hi", "stream": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = events(&body);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "response.failed", "{body}");
    assert_eq!(data["response"]["status"], "failed");
    assert!(
        !data["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{data}"
    );
    assert!(events.iter().all(|(n, _)| n != "response.completed"));
    let id = data["response"]["id"].as_str().unwrap();
    let (status, _) = api
        .call(
            Request::get(format!("/v1/responses/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a failed response is not stored"
    );
}
