//! Streamed replies: chunk order and content, `[DONE]`, the usage chunk, pacing, and cut
//! streams; streamed failures.

mod common;

use std::time::{Duration, Instant};

use common::{chat_stream, parse, post, sse_data, streamed_text};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
use futures::StreamExt;
use serde_json::{Value, json};

#[tokio::test]
async fn stream_sends_role_content_finish_then_done() {
    let script = Script::new().with_model("m", ModelScript::fixed("alpha beta gamma"));
    let mock = MockProvider::start(script).await.unwrap();
    let response = post(&mock, &chat_stream("m", "hi", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = parse(&events);
    // role, three words, finish.
    assert_eq!(chunks.len(), 5);
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "m");
        assert_eq!(chunk["id"], chunks[0]["id"]);
        assert!(chunk.get("usage").is_none());
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        json!({"content": "alpha"})
    );
    assert_eq!(
        chunks[2]["choices"][0]["delta"],
        json!({"content": " beta"})
    );
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
    assert_eq!(streamed_text(&events), "alpha beta gamma");
}

#[tokio::test]
async fn chunk_words_groups_words_per_chunk() {
    let script = Script::new().with_model("m", ModelScript::fixed("a b c d e").with_chunk_words(2));
    let mock = MockProvider::start(script).await.unwrap();
    let events = sse_data(
        &post(&mock, &chat_stream("m", "hi", false))
            .await
            .text()
            .await
            .unwrap(),
    );
    let contents: Vec<_> = parse(&events)
        .iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(contents, ["a b", " c d", " e"]);
}

#[tokio::test]
async fn include_usage_adds_usage_chunk_with_empty_choices() {
    let script = Script::new().with_model("m", ModelScript::fixed("one two"));
    let mock = MockProvider::start(script).await.unwrap();
    let events = sse_data(
        &post(&mock, &chat_stream("m", "a b c", true))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = parse(&events);
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
    );
    // Every other chunk carries `usage: null`, as OpenAI sends it.
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.get("usage").is_some());
    }
}

#[tokio::test]
async fn include_usage_sends_no_usage_chunk_when_usage_disabled() {
    let script = Script::new().with_model("m", ModelScript::fixed("x").without_usage());
    let mock = MockProvider::start(script).await.unwrap();
    let events = sse_data(
        &post(&mock, &chat_stream("m", "hi", true))
            .await
            .text()
            .await
            .unwrap(),
    );
    let chunks = parse(&events);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn stream_latency_and_chunk_delay_are_honoured() {
    let script = Script::new().with_model(
        "m",
        ModelScript::fixed("a b c")
            .with_latency_ms(100)
            .with_chunk_delay_ms(30),
    );
    let mock = MockProvider::start(script).await.unwrap();
    let started = Instant::now();
    let response = post(&mock, &chat_stream("m", "hi", false)).await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(String::from_utf8_lossy(&first).contains("\"role\":\"assistant\""));
    while let Some(bytes) = body.next().await {
        bytes.unwrap();
    }
    assert!(started.elapsed() >= Duration::from_millis(100 + 3 * 30));
}

#[tokio::test]
async fn cut_stream_ends_with_an_error_and_no_done() {
    let script = Script::new().with_model(
        "m",
        ModelScript::fixed("one two three four").with_cut_after_chunks(2),
    );
    let mock = MockProvider::start(script).await.unwrap();
    let response = post(&mock, &chat_stream("m", "hi", false)).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = Vec::new();
    let mut failed = false;
    while let Some(bytes) = body.next().await {
        match bytes {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let text = String::from_utf8(received).unwrap();
    assert!(failed, "stream ended cleanly: {text}");
    assert!(!text.contains("[DONE]"));
    assert_eq!(streamed_text(&sse_data(&text)), "one two");
}

#[tokio::test]
async fn streamed_status_failure_is_a_json_error() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::status(503, "busy")));
    let mock = MockProvider::start(script).await.unwrap();
    let response = post(&mock, &chat_stream("m", "hi", false)).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "busy");
}

#[tokio::test]
async fn streamed_malformed_event_is_not_json() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::Malformed));
    let mock = MockProvider::start(script).await.unwrap();
    let response = post(&mock, &chat_stream("m", "hi", false)).await;
    assert_eq!(response.status(), 200);
    let events = sse_data(&response.text().await.unwrap());
    assert!(serde_json::from_str::<Value>(&events[0]).is_err());
}

#[tokio::test]
async fn streamed_empty_choices_sends_a_chunk_without_choices() {
    let script = Script::new().with_model("m", ModelScript::failing(Failure::EmptyChoices));
    let mock = MockProvider::start(script).await.unwrap();
    let events = sse_data(
        &post(&mock, &chat_stream("m", "hi", false))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(events.len(), 2);
    assert_eq!(parse(&events)[0]["choices"], json!([]));
    assert_eq!(events[1], "[DONE]");
}
