//! Helpers shared by the integration tests: request bodies, posting, and SSE parsing.
// Test helpers fail the test on error, like the tests themselves (clippy.toml only exempts
// `#[test]` bodies).
#![allow(dead_code, clippy::unwrap_used)]

use fusion_mock_provider::MockProvider;
use serde_json::{Value, json};

/// A chat body with one system and one user message.
pub fn chat(model: &str, prompt: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": prompt}
        ]
    })
}

/// The same body asking for a stream (optionally with the usage chunk).
pub fn chat_stream(model: &str, prompt: &str, include_usage: bool) -> Value {
    let mut body = chat(model, prompt);
    body["stream"] = json!(true);
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

pub fn completions_url(mock: &MockProvider) -> String {
    format!("{}/chat/completions", mock.base_url())
}

pub async fn post(mock: &MockProvider, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(completions_url(mock))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Posts and returns the status and JSON body.
pub async fn post_json(mock: &MockProvider, body: &Value) -> (u16, Value) {
    let response = post(mock, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// The JSON chunks among SSE payloads (everything but `[DONE]`).
pub fn parse(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

/// The content deltas of the stream's chunks, concatenated.
pub fn streamed_text(events: &[String]) -> String {
    parse(events)
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect()
}
