//! `POST /v1/messages` and `/v1/messages/count_tokens` through `tower::ServiceExt::oneshot`:
//! translated to chat completions for OpenAI-compatible models on mock-provider (plain,
//! streamed, a tool round trip), councils and `router/auto`, with Anthropic-shaped errors;
//! passed through untouched to an `anthropic` provider (a small fake Messages API here, since
//! mock-provider speaks only OpenAI's wire).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Reply, Script, ToolCall};
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
        .with_model("synth", ModelScript::fixed("The final answer"))
        .with_model(
            "broken",
            ModelScript::failing(Failure::status(500, "kaboom")),
        )
        .with_model(
            "cut",
            ModelScript::fixed("one two three four").with_cut_after_chunks(2),
        )
        .with_model(
            "agent",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new("Bash", json!({"command": "echo hi"}))]),
                Reply::Template("The tool said: {tool_result}".into()),
            ),
        )
}

/// What the fake Anthropic API received.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, Value)>>>);

const UPSTREAM_MESSAGE: &str = r#"{"id":"msg_up","type":"message","role":"assistant","model":"claude-up","content":[{"type":"text","text":"From Claude."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":3},"future_field":{"kept":true}}"#;
const UPSTREAM_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_up\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-up\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\nevent: future_event\ndata: {\"type\":\"future_event\"}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"From Claude.\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/// A stand-in Anthropic Messages API at `http://addr` (no `/v1`: how `ANTHROPIC_BASE_URL` is
/// written). `max_tokens: 0` is refused with a 400 as Anthropic refuses it; `max_tokens: 1`
/// streams two events and stops.
async fn fake_anthropic(seen: Seen) -> String {
    let app = axum::Router::new().route(
        "/v1/messages",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let body: Value = serde_json::from_str(&body).unwrap();
                seen.0.lock().unwrap().push((headers, body.clone()));
                if body["max_tokens"] == 0 {
                    let error = r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: must be at least 1"}}"#;
                    return (StatusCode::BAD_REQUEST, [("content-type", "application/json")], error.to_owned());
                }
                if body["max_tokens"] == 1 {
                    // Cut after the first two events, with no `message_stop`.
                    let cut: String = UPSTREAM_STREAM.split_inclusive("\n\n").take(2).collect();
                    return (StatusCode::OK, [("content-type", "text/event-stream")], cut);
                }
                if body["stream"] == true {
                    (StatusCode::OK, [("content-type", "text/event-stream")], UPSTREAM_STREAM.to_owned())
                } else {
                    (StatusCode::OK, [("content-type", "application/json")], UPSTREAM_MESSAGE.to_owned())
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Api {
    mock: MockProvider,
    state: AppState,
    seen: Seen,
}

impl Api {
    async fn start(aliases: &str, keys: Vec<String>) -> Self {
        let mock = MockProvider::start(script()).await.unwrap();
        let seen = Seen::default();
        let claude = fake_anthropic(seen.clone()).await;
        let paid: String = ["a", "b", "judge", "synth", "broken", "cut", "agent"]
            .iter()
            .map(|m| {
                format!(
                    "[[models]]\nid = \"{m}\"\nprovider = \"mock\"\n\
                     price = {{ input_per_mtok = 1.0, output_per_mtok = 1.0 }}\n"
                )
            })
            .collect();
        let text = format!(
            r#"[server]
max_body_bytes = 4096
[router]
discover = false
[[providers]]
name = "local"
kind = "openai"
tier = "local"
base_url = "{url}"
retries = 0
timeout = "5s"
[[models]]
id = "fast"
provider = "local"
[[providers]]
name = "mock"
kind = "openai"
tier = "paid"
base_url = "{url}"
retries = 0
timeout = "5s"
{paid}
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "{claude}"
retries = 0
[[models]]
id = "sonnet"
provider = "claude"
model = "claude-up"
[councils.default]
panel = [{{ model = "a" }}, {{ model = "b" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
{aliases}"#,
            url = mock.base_url()
        );
        let mut config: Config = toml::from_str(&text).unwrap();
        for provider in &mut config.providers {
            if provider.name == "claude" {
                provider.api_key = Some("sk-upstream".into());
            }
        }
        let registry = ProviderRegistry::from_config(&config).unwrap();
        let state = AppState::with_keys(config, registry, keys, fusion_server::prometheus());
        Self { mock, state, seen }
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn post(&self, path: &str, body: &str) -> (StatusCode, HeaderMap, String) {
        self.call(
            Request::post(path)
                .header("content-type", "application/json")
                .header("anthropic-version", "2023-06-01")
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
    }

    /// `POST /v1/messages`, answered 200 with JSON.
    async fn message(&self, body: Value) -> Value {
        let (status, _, text) = self.post("/v1/messages", &body.to_string()).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// `POST /v1/messages` with `stream: true`: the (event, data) pairs.
    async fn stream(&self, mut body: Value) -> Vec<(String, Value)> {
        body["stream"] = json!(true);
        let (status, headers, text) = self.post("/v1/messages", &body.to_string()).await;
        assert_eq!(status, 200, "{text}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        events(&text)
    }
}

fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = e.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

fn text_of(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect()
}

fn ask(model: &str, prompt: &str) -> Value {
    json!({"model": model, "max_tokens": 256,
           "messages": [{"role": "user", "content": prompt}]})
}

const CLAUDE_TO_FAST: &str = "[aliases]\n\"claude-*\" = \"fast\"\n";

#[tokio::test]
async fn a_plain_message_is_answered_in_messages_shape_and_unhonoured_fields_are_dropped() {
    let api = Api::start(CLAUDE_TO_FAST, vec![]).await;
    let mut body = ask("claude-opus-4-8", "hi");
    body["system"] =
        json!([{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}]);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    body["context_management"] = json!({"edits": [{"type": "clear_thinking_20251015"}]});
    body["output_config"] = json!({"effort": "high"});
    body["metadata"] = json!({"user_id": "someone"});
    body["temperature"] = json!(0.3);
    let answer = api.message(body).await;
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["role"], "assistant");
    assert_eq!(answer["model"], "claude-opus-4-8");
    assert!(answer["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        answer["content"],
        json!([{"type": "text", "text": "Hello there friend"}])
    );
    assert_eq!(answer["stop_reason"], "end_turn");
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(answer["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let sent = &api.mock.requests_for("fast")[0].body;
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be terse."})
    );
    assert_eq!(sent["max_tokens"], 256);
    assert_eq!(sent["temperature"], 0.3);
    for dropped in [
        "thinking",
        "context_management",
        "output_config",
        "metadata",
    ] {
        assert!(
            sent.get(dropped).is_none(),
            "{dropped} reached the model: {sent}"
        );
    }
}

#[tokio::test]
async fn a_streamed_message_is_the_messages_event_sequence() {
    let api = Api::start(CLAUDE_TO_FAST, vec![]).await;
    let events = api.stream(ask("claude-sonnet-4-6", "hi")).await;
    let names = names(&events);
    assert_eq!(names[..2], ["message_start", "ping"]);
    assert_eq!(names[2], "content_block_start");
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert_eq!(text_of(&events), "Hello there friend");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert!(delta["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        api.mock.requests_for("fast")[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn a_tool_round_trip_asks_for_the_tool_then_answers_from_its_result() {
    let api = Api::start("[aliases]\n\"claude-*\" = \"agent\"\n", vec![]).await;
    let tools = json!([{"name": "Bash", "description": "Runs a command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}]);
    let mut first = ask("claude-opus-4-8", "say hi with bash");
    first["tools"] = tools.clone();
    let answer = api.message(first.clone()).await;
    assert_eq!(answer["stop_reason"], "tool_use");
    let call = answer["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "Bash");
    assert_eq!(call["input"], json!({"command": "echo hi"}));
    let sent = &api.mock.requests_for("agent")[0].body;
    assert_eq!(sent["tools"][0]["function"]["name"], "Bash");

    // Streamed, the call's input arrives as input_json_delta fragments.
    let events = api.stream(first.clone()).await;
    let start = events
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .unwrap();
    assert_eq!(start.1["content_block"]["name"], "Bash");
    let json: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        json!({"command": "echo hi"})
    );
    assert_eq!(
        events[events.len() - 2].1["delta"]["stop_reason"],
        "tool_use"
    );

    let mut second = first;
    second["messages"] = json!([
        {"role": "user", "content": "say hi with bash"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                      "content": [{"type": "text", "text": "hi"}]}]},
    ]);
    let answer = api.message(second.clone()).await;
    assert_eq!(answer["content"][0]["text"], "The tool said: hi");
    assert_eq!(answer["stop_reason"], "end_turn");
    let sent = api.mock.requests_for("agent").last().unwrap().body.clone();
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], call["id"]);
    assert_eq!(sent["messages"][2]["role"], "tool");
    assert_eq!(sent["messages"][2]["tool_call_id"], call["id"]);
    let events = api.stream(second).await;
    assert_eq!(text_of(&events), "The tool said: hi");
}

#[tokio::test]
async fn a_council_and_the_router_answer_through_aliases() {
    let aliases =
        "[aliases]\n\"claude-opus-*\" = \"fusion/default\"\n\"claude-haiku-*\" = \"router/auto\"\n";
    let api = Api::start(aliases, vec![]).await;
    let answer = api.message(ask("claude-opus-4-8", "hi")).await;
    assert_eq!(answer["content"][0]["text"], "The final answer");
    assert!(
        answer["fusion"]["final_answer"].is_string(),
        "the council's trace rides along"
    );
    let events = api.stream(ask("claude-opus-4-8", "hi")).await;
    assert_eq!(text_of(&events), "The final answer");
    assert_eq!(names(&events).last(), Some(&"message_stop"));

    let (status, headers, text) = api
        .post("/v1/messages", &ask("claude-haiku-4-5", "hi").to_string())
        .await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        answer["content"][0]["text"], "Hello there friend",
        "the local model is cheapest"
    );
    assert!(
        headers["x-fusion-route"]
            .to_str()
            .unwrap()
            .starts_with("fast")
    );
    let events = api.stream(ask("claude-haiku-4-5", "hi")).await;
    assert_eq!(text_of(&events), "Hello there friend");
}

#[tokio::test]
async fn errors_are_in_anthropic_shape_with_their_status() {
    let api = Api::start(
        "[aliases]\n\"claude-bad-*\" = \"broken\"\n\"claude-cut-*\" = \"cut\"\n",
        vec![],
    )
    .await;
    let error = |text: &str| -> Value { serde_json::from_str::<Value>(text).unwrap() };

    let (status, _, text) = api
        .post("/v1/messages", &ask("mistral-large", "hi").to_string())
        .await;
    assert_eq!(status, 404);
    let body = error(&text);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "not_found_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[aliases] \"mistral-*\""),
        "{text}"
    );

    for (body, needle) in [
        ("{\"model\": ", "not valid JSON"),
        (
            r#"{"model":"fast","messages":[{"role":"user","content":"x"}]}"#,
            "max_tokens",
        ),
        (
            r#"{"model":"fast","max_tokens":5,"messages":[{"role":"robot","content":"x"}]}"#,
            "messages[0].role",
        ),
        (
            r#"{"model":"fast","max_tokens":5,"messages":[]}"#,
            "messages",
        ),
    ] {
        let (status, _, text) = api.post("/v1/messages", body).await;
        assert_eq!(status, 400, "{body}");
        let body = error(&text);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{text}"
        );
    }

    let (status, _, text) = api
        .post("/v1/messages", &ask("claude-bad-1", "hi").to_string())
        .await;
    assert_eq!(status, 502);
    assert_eq!(error(&text)["error"]["type"], "api_error");
    assert!(text.contains("kaboom"), "{text}");

    let events = api.stream(ask("claude-cut-1", "hi")).await;
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{events:?}");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(!names(&events).contains(&"message_stop"));
}

#[tokio::test]
async fn an_oversized_body_is_413_request_too_large() {
    let api = Api::start(CLAUDE_TO_FAST, vec![]).await;
    let body = ask("claude-x", &"x".repeat(8 * 1024)).to_string();
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let (status, _, text) = api.post(path, &body).await;
        assert_eq!(status, 413, "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["type"], "request_too_large");
    }
    assert!(api.mock.requests().is_empty());
}

#[tokio::test]
async fn an_x_api_key_is_accepted_and_a_wrong_one_refused() {
    let api = Api::start(CLAUDE_TO_FAST, vec!["sk-fusion-key-123456".into()]).await;
    let with = |key: &str| {
        Request::post("/v1/messages")
            .header("content-type", "application/json")
            .header("x-api-key", key)
            .body(Body::from(ask("claude-x", "hi").to_string()))
            .unwrap()
    };
    assert_eq!(api.call(with("sk-fusion-key-123456")).await.0, 200);
    let (status, _, text) = api.call(with("sk-wrong")).await;
    assert_eq!(status, 401);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-api-key"),
        "{text}"
    );
}

#[tokio::test]
async fn count_tokens_estimates_the_prompt_and_tools() {
    let api = Api::start(CLAUDE_TO_FAST, vec![]).await;
    let count = |body: Value| {
        let api = &api;
        async move {
            let (status, _, text) = api
                .post("/v1/messages/count_tokens", &body.to_string())
                .await;
            assert_eq!(status, 200, "{text}");
            serde_json::from_str::<Value>(&text).unwrap()["input_tokens"]
                .as_u64()
                .unwrap()
        }
    };
    let short =
        count(json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]})).await;
    let long = count(
        json!({"model": "claude-x", "system": "You are a careful assistant.",
        "messages": [{"role": "user", "content": "hi ".repeat(200)}],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}]}),
    )
    .await;
    assert!(short > 0 && long > short + 150, "{short} {long}");
    assert!(api.mock.requests().is_empty(), "counting calls no model");
    let (status, _, _) = api
        .post(
            "/v1/messages/count_tokens",
            r#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_anthropic_provider_gets_the_request_passed_through_untouched() {
    let api = Api::start("[aliases]\n\"claude-*\" = \"sonnet\"\n", vec![]).await;
    let mut body = ask("claude-opus-4-8", "hi");
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    body["context_management"] = json!({"edits": []});
    let (status, headers, text) = api
        .call(
            Request::post("/v1/messages")
                .header("content-type", "application/json")
                .header("anthropic-version", "2023-06-01")
                .header("anthropic-beta", "context-management-2025-06-27")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        serde_json::from_str::<Value>(UPSTREAM_MESSAGE).unwrap()
    );
    let (sent_headers, sent) = api.seen.0.lock().unwrap()[0].clone();
    assert_eq!(
        sent["model"], "claude-up",
        "the upstream's id replaces the alias"
    );
    assert_eq!(sent["thinking"], body["thinking"], "unknown fields travel");
    assert_eq!(sent["context_management"], body["context_management"]);
    assert_eq!(
        sent_headers["anthropic-beta"],
        "context-management-2025-06-27"
    );
    assert_eq!(sent_headers["anthropic-version"], "2023-06-01");
    assert_eq!(sent_headers["x-api-key"], "sk-upstream");

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (status, headers, text) = api.post("/v1/messages", &streamed.to_string()).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(
        text, UPSTREAM_STREAM,
        "relayed byte for byte, unknown events included"
    );

    let mut refused = body;
    refused["max_tokens"] = json!(0);
    let (status, _, text) = api.post("/v1/messages", &refused.to_string()).await;
    assert_eq!(status, 400, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(error["error"]["message"], "max_tokens: must be at least 1");

    // Each passthrough is a call of the model like any other: counted in its health.
    let (_, _, text) = api
        .call(Request::get("/api/models").body(Body::empty()).unwrap())
        .await;
    let models: Value = serde_json::from_str(&text).unwrap();
    let sonnet = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "sonnet")
        .unwrap();
    // The plain and the streamed answer (reported when its stream ended); the refusal is
    // no failure of the model's.
    assert_eq!(sonnet["calls"], 2, "{sonnet}");
    assert_eq!(sonnet["failures"], 0, "{sonnet}");

    // A stream the upstream cuts short is relayed as far as it came, then an `error` event.
    let mut cut = streamed;
    cut["max_tokens"] = json!(1);
    let (status, _, text) = api.post("/v1/messages", &cut.to_string()).await;
    assert_eq!(status, 200);
    assert!(text.starts_with("event: message_start"), "{text}");
    let events = events(&text);
    assert_eq!(
        names(&events),
        ["message_start", "future_event", "error"],
        "{text}"
    );
    let message = events[2].1["error"]["message"].as_str().unwrap();
    assert!(message.contains("before `message_stop`"), "{message}");
}
