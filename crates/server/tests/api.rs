//! The HTTP surface through `tower::ServiceExt::oneshot` (no socket on Fusion's side) against a
//! real upstream (mock-provider): passthrough, streaming relay, councils, and every error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
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
        .with_model("hangs", ModelScript::failing(Failure::Hang))
        .with_model("slow", ModelScript::fixed("slow").with_latency_ms(2_000))
        .with_model(
            "cut",
            ModelScript::fixed("one two three four").with_cut_after_chunks(2),
        )
}

struct Api {
    mock: MockProvider,
    state: AppState,
}

impl Api {
    async fn start(extra: &str, keys: Vec<String>) -> Self {
        let mock = MockProvider::start(script()).await.unwrap();
        let models: String = [
            "fast", "a", "b", "judge", "synth", "broken", "hangs", "slow", "cut",
        ]
        .iter()
        .map(|m| format!("[[models]]\nid = \"{m}\"\nprovider = \"mock\"\n"))
        .collect();
        let text = format!(
            r#"[server]
max_body_bytes = 2048
[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
retries = 0
timeout = "1s"
{models}
[[providers]]
name = "tight"
kind = "openai"
base_url = "{url}"
retries = 0
timeout = "5s"
max_concurrency = 1
max_queue = 0
[[models]]
id = "tight-slow"
provider = "tight"
model = "slow"
[[models]]
id = "tight-fast"
provider = "tight"
model = "fast"
[[providers]]
name = "down"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
retries = 0
[[models]]
id = "unreachable"
provider = "down"
[councils.default]
panel = [{{ model = "a" }}, {{ model = "b" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
[councils.doomed]
panel = [{{ model = "broken" }}]
judge = {{ model = "judge" }}
{extra}"#,
            url = mock.base_url()
        );
        let config: Config = toml::from_str(&text).unwrap();
        let registry = ProviderRegistry::from_config(&config).unwrap();
        let state = AppState::with_keys(config, registry, keys, fusion_server::prometheus());
        Self { mock, state }
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn post(&self, body: Value) -> (StatusCode, String) {
        self.call(chat(body.to_string())).await
    }
}

fn chat(body: String) -> Request<Body> {
    Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn ask(model: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] })
}

fn error_of(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"].clone()
}

/// The chunks of an SSE body that ended with `[DONE]`, and their content joined.
fn completed_stream(body: &str) -> (Vec<Value>, String) {
    let data = data_lines(body);
    assert_eq!(data.last(), Some(&"[DONE]"), "{body}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    (chunks, content)
}

/// The `data:` payloads of an SSE body, in order.
fn data_lines(body: &str) -> Vec<&str> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect()
}

#[tokio::test]
async fn models_lists_configured_models_and_councils() {
    let api = Api::start("", vec![]).await;
    let (status, body) = api
        .call(Request::get("/v1/models").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, 200);
    let ids: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    for id in ["fast", "unreachable", "fusion/default", "fusion/doomed"] {
        assert!(ids.contains(&id.to_owned()), "{id} missing from {ids:?}");
    }
}

#[tokio::test]
async fn a_model_id_passes_through_with_every_field() {
    let api = Api::start("", vec![]).await;
    let mut body = ask("fast");
    body["tools"] = json!([{ "type": "function", "function": { "name": "f", "parameters": {} } }]);
    body["tool_choice"] = json!("auto");
    body["response_format"] = json!({ "type": "json_object" });
    body["stop"] = json!(["END"]);
    body["max_tokens"] = json!(12);
    body["temperature"] = json!(0.5);
    body["n"] = json!(1);
    body["seed"] = json!(42);
    let (status, text) = api.post(body).await;
    assert_eq!(status, 200, "{text}");
    let response: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        response["choices"][0]["message"]["content"],
        "Hello there friend"
    );
    assert!(response["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let sent = &api.mock.requests_for("fast")[0].body;
    for key in [
        "tools",
        "tool_choice",
        "response_format",
        "stop",
        "max_tokens",
        "temperature",
        "n",
        "seed",
    ] {
        assert!(
            sent.get(key).is_some(),
            "{key} was not carried through: {sent}"
        );
    }
    assert_eq!(sent["tools"][0]["function"]["name"], "f");
}

#[tokio::test]
async fn a_stream_is_relayed_chunk_by_chunk_then_done() {
    let api = Api::start("", vec![]).await;
    let mut body = ask("fast");
    body["stream"] = json!(true);
    body["stream_options"] = json!({ "include_usage": true });
    let (status, text) = api.post(body).await;
    assert_eq!(status, 200);
    let (chunks, content) = completed_stream(&text);
    assert_eq!(content, "Hello there friend");
    assert!(
        chunks
            .iter()
            .any(|c| c["usage"]["total_tokens"].as_u64().is_some()),
        "usage chunk relayed"
    );
    assert_eq!(
        api.mock.requests_for("fast")[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn a_cut_upstream_stream_ends_with_an_error_event_and_no_done() {
    let api = Api::start("", vec![]).await;
    let mut body = ask("cut");
    body["stream"] = json!(true);
    let (status, text) = api.post(body).await;
    assert_eq!(status, 200, "the stream had started");
    let data = data_lines(&text);
    assert!(!data.contains(&"[DONE]"), "{text}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_cut", "{text}");
}

#[tokio::test]
async fn a_council_answers_with_the_trace_and_summed_usage() {
    let api = Api::start("", vec![]).await;
    let (status, text) = api.post(ask("fusion/default")).await;
    assert_eq!(status, 200, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["model"], "fusion/default");
    assert_eq!(r["choices"][0]["message"]["content"], "The final answer");
    assert_eq!(r["fusion"]["status"], "ok");
    assert_eq!(r["fusion"]["responses"].as_array().unwrap().len(), 2);
    assert_eq!(r["usage"], r["fusion"]["usage"]);
    assert_eq!(
        api.mock.requests().len(),
        4,
        "2 members + judge + synthesizer"
    );
}

#[tokio::test]
async fn a_streamed_council_reports_progress_then_streams_the_answer() {
    let api = Api::start("", vec![]).await;
    let mut body = ask("fusion/default");
    body["stream"] = json!(true);
    body["stream_options"] = json!({ "include_usage": true });
    let (status, text) = api.post(body).await;
    assert_eq!(status, 200);
    let progress: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(": fusion "))
        .collect();
    assert!(
        progress.iter().any(|l| l.contains("\"member_finished\"")),
        "{text}"
    );
    assert!(
        progress.iter().any(|l| l.contains("\"judge_finished\"")),
        "{text}"
    );
    let (chunks, content) = completed_stream(&text);
    assert_eq!(content, "The final answer");
    let last_choice = chunks
        .iter()
        .find(|c| c["choices"][0]["finish_reason"] == "stop")
        .unwrap();
    assert_eq!(last_choice["fusion"]["status"], "ok");
    let usage = chunks.last().unwrap();
    assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
    // The synthesizer was streamed from the upstream.
    assert_eq!(api.mock.requests_for("synth")[0].body["stream"], true);
}

#[tokio::test]
async fn a_council_with_no_answer_is_a_502_carrying_the_trace() {
    let api = Api::start("", vec![]).await;
    let (status, text) = api.post(ask("fusion/doomed")).await;
    assert_eq!(status, 502);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("kaboom"),
        "{text}"
    );
    assert_eq!(v["fusion"]["status"], "error");
}

#[tokio::test]
async fn invalid_bodies_are_400_naming_the_param() {
    let api = Api::start("", vec![]).await;
    let (status, text) = api.call(chat("{not json".into())).await;
    assert_eq!(status, 400);
    assert!(
        error_of(&text)["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let (status, text) = api.post(json!({ "model": "fast", "messages": [{ "role": "user", "content": "x" }], "max_tokens": "many" })).await;
    assert_eq!(status, 400);
    assert_eq!(error_of(&text)["param"], "max_tokens");
    let (status, text) = api.post(json!({ "model": "fast", "messages": [] })).await;
    assert_eq!(status, 400);
    assert_eq!(error_of(&text)["param"], "messages");
    assert!(
        api.mock.requests().is_empty(),
        "nothing reached the upstream"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let api = Api::start("", vec![]).await;
    let big = "x".repeat(4096);
    let (status, text) = api
        .post(json!({ "model": "fast", "messages": [{ "role": "user", "content": big }] }))
        .await;
    assert_eq!(status, 413);
    assert_eq!(error_of(&text)["code"], "request_too_large");
}

#[tokio::test]
async fn unknown_models_and_councils_are_404() {
    let api = Api::start("", vec![]).await;
    let (status, text) = api.post(ask("nope")).await;
    assert_eq!(status, 404);
    let e = error_of(&text);
    assert_eq!(
        (e["param"].as_str(), e["code"].as_str()),
        (Some("model"), Some("model_not_found"))
    );
    let (status, text) = api.post(ask("fusion/nope")).await;
    assert_eq!(status, 404);
    assert!(
        error_of(&text)["message"]
            .as_str()
            .unwrap()
            .contains("fusion/default")
    );
    let (status, _) = api
        .call(Request::get("/v2/whatever").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn client_model_names_are_answered_through_aliases_and_known_names_never_are() {
    let aliases = r#"
[aliases]
"claude-*" = "fast"
"gpt-5*" = "fusion/default"
"fast" = "a"
"#;
    let api = Api::start(aliases, vec![]).await;
    let content = |text: &str| -> String {
        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (status, text) = api.post(ask("claude-opus-4-8")).await;
    assert_eq!(
        (status, content(&text).as_str()),
        (StatusCode::OK, "Hello there friend")
    );
    let (status, text) = api.post(ask("gpt-5-codex")).await;
    assert_eq!(
        (status, content(&text).as_str()),
        (StatusCode::OK, "The final answer")
    );
    // `fast` is a configured model: its own alias never applies.
    let (_, text) = api.post(ask("fast")).await;
    assert_eq!(content(&text), "Hello there friend");
    // An unknown name no alias covers: 404 naming the fix.
    let (status, text) = api.post(ask("mistral-large")).await;
    assert_eq!(status, 404);
    let message = error_of(&text)["message"].as_str().unwrap().to_owned();
    assert!(message.contains("[aliases] \"mistral-*\""), "{message}");
}

#[tokio::test]
async fn an_x_api_key_header_is_accepted_like_a_bearer_key() {
    let api = Api::start("", vec!["sk-right".into()]).await;
    let with = |header: &str, key: &str| {
        Request::post("/v1/chat/completions")
            .header(header, key)
            .body(Body::from(ask("fast").to_string()))
            .unwrap()
    };
    assert_eq!(api.call(with("x-api-key", "sk-right")).await.0, 200);
    assert_eq!(api.call(with("x-api-key", "sk-wrong")).await.0, 401);
}

#[tokio::test]
async fn keys_are_required_when_configured() {
    let api = Api::start("", vec!["sk-right".into()]).await;
    let (status, text) = api.post(ask("fast")).await;
    assert_eq!(status, 401);
    assert_eq!(error_of(&text)["code"], "invalid_api_key");
    let wrong = Request::post("/v1/chat/completions")
        .header("authorization", "Bearer sk-wrong")
        .body(Body::from(ask("fast").to_string()))
        .unwrap();
    assert_eq!(api.call(wrong).await.0, 401);
    let right = Request::post("/v1/chat/completions")
        .header("authorization", "Bearer sk-right")
        .body(Body::from(ask("fast").to_string()))
        .unwrap();
    assert_eq!(api.call(right).await.0, 200);
    let (status, _) = api
        .call(Request::get("/health").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, 200, "liveness needs no key");
    let (status, _) = api
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, 401, "metrics need the key");
}

#[tokio::test]
async fn a_full_provider_queue_is_429() {
    let api = Api::start("", vec![]).await;
    let slow = api.post(ask("tight-slow"));
    let second = async {
        // Let the first call take the only slot (polled, with a deadline).
        let taken = async {
            while api.mock.in_flight() == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), taken)
            .await
            .expect("the first call reaches the mock within 30 s");
        api.post(ask("tight-fast")).await
    };
    let ((first, _), (status, text)) = tokio::join!(slow, second);
    assert_eq!(first, 200);
    assert_eq!(status, 429, "{text}");
    assert_eq!(error_of(&text)["code"], "queue_full");
}

#[tokio::test]
async fn upstream_failures_are_502_with_the_upstream_reason() {
    let api = Api::start("", vec![]).await;
    let (status, text) = api.post(ask("broken")).await;
    assert_eq!(status, 502);
    let e = error_of(&text);
    assert!(e["message"].as_str().unwrap().contains("kaboom"), "{text}");
    assert_eq!(e["code"], "upstream_5xx");
    let (status, text) = api.post(ask("unreachable")).await;
    assert_eq!(status, 502);
    assert_eq!(error_of(&text)["code"], "connect");
}

#[tokio::test]
async fn upstream_timeouts_are_504() {
    let api = Api::start("", vec![]).await;
    let (status, text) = api.post(ask("hangs")).await;
    assert_eq!(status, 504);
    assert_eq!(error_of(&text)["code"], "upstream_timeout");
}

#[tokio::test]
async fn readiness_reflects_provider_reachability() {
    let api = Api::start("", vec![]).await;
    let (status, text) = api
        .call(Request::get("/ready").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let down = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "down")
        .unwrap();
    assert_eq!(down["reachable"], false);

    let config: Config = toml::from_str(
        "[[providers]]\nname = \"down\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    )
    .unwrap();
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let lonely = AppState::with_keys(config, registry, vec![], None);
    let response = app(lonely)
        .oneshot(Request::get("/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn metrics_count_requests_upstream_errors_and_tokens() {
    let api = Api::start("", vec![]).await;
    api.post(ask("fast")).await;
    api.post(ask("broken")).await;
    let (status, text) = api
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, 200);
    for needle in [
        "fusion_http_requests_total{route=\"/v1/chat/completions\",status=\"200\"}",
        "fusion_http_request_duration_seconds_bucket",
        "fusion_upstream_errors_total{provider=\"mock\",class=\"upstream_5xx\"}",
        "fusion_tokens_total{model=\"fast\",direction=\"output\"}",
        "fusion_http_in_flight",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}
