//! The provider registry against a real HTTP peer (mock-provider): passthrough of request
//! fields, streaming chunk by chunk, cut streams, concurrency slots and usage estimates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use fusion_core::config::{Config, ModelConfig, ProviderConfig, ProviderKind};
use fusion_core::providers::ProviderRegistry;
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use fusion_types::{ChatRequest, Role};
use futures::StreamExt;
use serde_json::json;

fn registry(base_url: &str, max_concurrency: usize, retries: u32) -> ProviderRegistry {
    let provider: ProviderConfig = toml::from_str(&format!(
        "name = \"mock\"\nkind = \"openai\"\nbase_url = \"{base_url}\"\nmax_concurrency = {max_concurrency}\nretries = {retries}\ntimeout = \"2s\""
    ))
    .unwrap();
    assert_eq!(provider.kind, ProviderKind::Openai);
    let config = Config {
        providers: vec![provider],
        models: vec![ModelConfig {
            id: "fast".into(),
            provider: "mock".into(),
            model: Some("upstream-name".into()),
            context_window: None,
            price: None,
            quality: None,
        }],
        ..Config::default()
    };
    ProviderRegistry::from_config(&config).unwrap()
}

#[tokio::test]
async fn request_fields_pass_through_with_the_upstream_model_name() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let reg = registry(&mock.base_url(), 4, 0);
    let mut req: ChatRequest = serde_json::from_value(json!({
        "model": "fast",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "stop": ["\n\n"],
        "n": 1,
        "seed": 7
    }))
    .unwrap();
    req.max_tokens = Some(5);
    let done = reg.chat("fast", req).await.unwrap();
    assert_eq!(done.text(), "echo: hi");
    assert_eq!(done.attempts, 1);
    let body = &mock.requests()[0].body;
    assert_eq!(body["model"], "upstream-name");
    assert_eq!(body["tools"][0]["function"]["name"], "f");
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["response_format"]["type"], "json_object");
    assert_eq!(body["stop"][0], "\n\n");
    assert_eq!(body["seed"], 7);
    assert_eq!(body["max_tokens"], 5);
    assert!(body.get("stream").is_none());
}

#[tokio::test]
async fn unknown_model_ids_name_the_configured_ones() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let reg = registry(&mock.base_url(), 4, 0);
    let err = reg
        .chat("nope", ChatRequest::simple("nope", None, "x"))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), 404);
    assert!(err.to_string().contains("fast"), "{err}");
}

#[tokio::test]
async fn missing_upstream_usage_is_estimated_and_marked() {
    let mock = MockProvider::start(
        Script::new().with_default(ModelScript::fixed("four words right here").without_usage()),
    )
    .await
    .unwrap();
    let reg = registry(&mock.base_url(), 4, 0);
    let done = reg
        .chat("fast", ChatRequest::simple("fast", Some("sys"), "question"))
        .await
        .unwrap();
    assert!(done.usage.estimated);
    assert!(done.usage.completion_tokens >= 4);
    let mock2 = MockProvider::start(Script::echo_any()).await.unwrap();
    let reported = registry(&mock2.base_url(), 4, 0)
        .chat("fast", ChatRequest::simple("fast", None, "a b c"))
        .await
        .unwrap();
    assert!(!reported.usage.estimated);
}

#[tokio::test]
async fn streams_arrive_chunk_by_chunk_until_done() {
    let script = Script::new()
        .with_default(ModelScript::fixed("one two three four").with_chunk_delay_ms(20));
    let mock = MockProvider::start(script).await.unwrap();
    let reg = registry(&mock.base_url(), 4, 0);
    let mut req = ChatRequest::simple("fast", None, "x");
    req.stream_options = Some(json!({"include_usage": true}));
    let mut stream = reg.chat_stream("fast", req).await.unwrap();
    let mut text = String::new();
    let mut chunks = 0;
    let mut usage = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        chunks += 1;
        text.push_str(chunk.delta_text().unwrap_or_default());
        usage = usage.or(chunk.usage);
    }
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["one", "two", "three", "four"]
    );
    assert!(chunks >= 4, "{chunks}");
    assert!(usage.is_some(), "include_usage chunk was relayed");
    assert_eq!(mock.requests()[0].body["stream"], true);
}

#[tokio::test]
async fn a_cut_stream_ends_with_a_stream_cut_error() {
    let script =
        Script::new().with_default(ModelScript::fixed("a b c d e f").with_cut_after_chunks(2));
    let mock = MockProvider::start(script).await.unwrap();
    let reg = registry(&mock.base_url(), 4, 0);
    let mut stream = reg
        .chat_stream("fast", ChatRequest::simple("fast", None, "x"))
        .await
        .unwrap();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    let err = last.unwrap().unwrap_err();
    assert_eq!(err.class(), "stream_cut", "{err}");
}

#[tokio::test]
async fn a_slow_stream_times_out_between_chunks() {
    let script = Script::new().with_default(ModelScript::fixed("a b").with_chunk_delay_ms(5_000));
    let mock = MockProvider::start(script).await.unwrap();
    let reg = registry(&mock.base_url(), 4, 0);
    let mut stream = reg
        .chat_stream("fast", ChatRequest::simple("fast", None, "x"))
        .await
        .unwrap();
    let mut errors = Vec::new();
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            errors.push(e);
        }
    }
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].class(), "timeout");
}

#[tokio::test]
async fn the_concurrency_limit_queues_calls_beyond_it() {
    let script = Script::new().with_default(ModelScript::echo().with_latency_ms(300));
    let mock = MockProvider::start(script).await.unwrap();
    let reg = registry(&mock.base_url(), 1, 0);
    let (a, b) = tokio::join!(
        reg.chat("fast", ChatRequest::simple("fast", None, "a")),
        reg.chat("fast", ChatRequest::simple("fast", None, "b")),
    );
    a.unwrap();
    b.unwrap();
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].received_at.duration_since(reqs[0].received_at);
    assert!(
        gap >= Duration::from_millis(300),
        "second call started before the first finished: {gap:?}"
    );
}

#[tokio::test]
async fn system_and_user_messages_are_sent_in_order() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let reg = registry(&mock.base_url(), 4, 0);
    reg.chat("fast", ChatRequest::simple("fast", Some("be brief"), "q"))
        .await
        .unwrap();
    let body = &mock.requests()[0].body;
    assert_eq!(
        body["messages"][0]["role"],
        serde_json::to_value(Role::System).unwrap()
    );
    assert_eq!(body["messages"][1]["content"], "q");
}
