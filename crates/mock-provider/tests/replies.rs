//! Successful non-streaming replies: each `Reply` kind, usage, latency, model listing, health.

mod common;

use std::time::{Duration, Instant};

use common::{chat, post_json};
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use serde_json::json;

#[tokio::test]
async fn fixed_reply_has_openai_shape_and_word_usage() {
    let mock = MockProvider::start(Script::new().with_model("m", ModelScript::fixed("two words")))
        .await
        .unwrap();
    let (status, body) = post_json(&mock, &chat("m", "three word prompt")).await;
    assert_eq!(status, 200);
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 0);
    assert_eq!(body["model"], "m");
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "two words");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // "be brief" (2) + "three word prompt" (3).
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
    );
}

#[tokio::test]
async fn usage_is_omitted_when_disabled() {
    let script = Script::new().with_model("m", ModelScript::fixed("x").without_usage());
    let mock = MockProvider::start(script).await.unwrap();
    let (status, body) = post_json(&mock, &chat("m", "hi")).await;
    assert_eq!(status, 200);
    assert!(body.get("usage").is_none(), "{body}");
}

#[tokio::test]
async fn echo_repeats_last_user_message() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let mut body = chat("anything", "first");
    body["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": "ok"}),
        json!({"role": "user", "content": "second"}),
    ]);
    let (status, body) = post_json(&mock, &body).await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "echo: second");
}

#[tokio::test]
async fn template_fills_prompt_system_and_model() {
    let script = Script::new().with_model("t", ModelScript::template("{model}|{system}|{prompt}"));
    let mock = MockProvider::start(script).await.unwrap();
    let (_, body) = post_json(&mock, &chat("t", "hello")).await;
    assert_eq!(body["choices"][0]["message"]["content"], "t|be brief|hello");
}

#[tokio::test]
async fn sequence_advances_per_call_and_repeats_last() {
    let script = Script::new().with_model("s", ModelScript::sequence(["one", "two"]));
    let mock = MockProvider::start(script).await.unwrap();
    let mut replies = Vec::new();
    for _ in 0..3 {
        let (_, body) = post_json(&mock, &chat("s", "go")).await;
        replies.push(
            body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(replies, ["one", "two", "two"]);
}

#[tokio::test]
async fn sequence_counts_each_default_served_model_separately() {
    let mock = MockProvider::start(Script::new().with_default(ModelScript::sequence(["a", "b"])))
        .await
        .unwrap();
    let (_, first_x) = post_json(&mock, &chat("x", "go")).await;
    let (_, first_y) = post_json(&mock, &chat("y", "go")).await;
    let (_, second_x) = post_json(&mock, &chat("x", "go")).await;
    assert_eq!(first_x["choices"][0]["message"]["content"], "a");
    assert_eq!(first_y["choices"][0]["message"]["content"], "a");
    assert_eq!(second_x["choices"][0]["message"]["content"], "b");
}

#[tokio::test]
async fn by_prompt_contains_picks_first_matching_needle_else_echoes() {
    let script = Script::new().with_model(
        "p",
        ModelScript::by_prompt_contains([("weather", "sunny"), ("time", "noon")]),
    );
    let mock = MockProvider::start(script).await.unwrap();
    let (_, hit) = post_json(&mock, &chat("p", "what time is it")).await;
    let (_, miss) = post_json(&mock, &chat("p", "who are you")).await;
    assert_eq!(hit["choices"][0]["message"]["content"], "noon");
    assert_eq!(
        miss["choices"][0]["message"]["content"],
        "echo: who are you"
    );
}

#[tokio::test]
async fn latency_delays_the_response() {
    let script = Script::new().with_model("slow", ModelScript::fixed("ok").with_latency_ms(150));
    let mock = MockProvider::start(script).await.unwrap();
    let started = Instant::now();
    let (status, _) = post_json(&mock, &chat("slow", "hi")).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn set_script_replaces_behaviour_at_runtime() {
    let mock = MockProvider::start(Script::new().with_model("m", ModelScript::fixed("before")))
        .await
        .unwrap();
    let (_, before) = post_json(&mock, &chat("m", "hi")).await;
    mock.set_script(Script::new().with_model("m", ModelScript::fixed("after")));
    let (_, after) = post_json(&mock, &chat("m", "hi")).await;
    assert_eq!(before["choices"][0]["message"]["content"], "before");
    assert_eq!(after["choices"][0]["message"]["content"], "after");
}

#[tokio::test]
async fn models_endpoint_lists_scripted_models() {
    let script = Script::echo_any()
        .with_model("b", ModelScript::echo())
        .with_model("a", ModelScript::echo());
    let mock = MockProvider::start(script).await.unwrap();
    let body: serde_json::Value = reqwest::get(format!("{}/models", mock.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!("a"), json!("b")]);
    assert_eq!(body["data"][0]["object"], "model");
    assert_eq!(body["data"][0]["owned_by"], "mock");
    assert!(body["data"][0]["created"].is_u64());
}

#[tokio::test]
async fn health_answers_ok() {
    let mock = MockProvider::start(Script::new()).await.unwrap();
    let response = reqwest::get(format!("http://{}/health", mock.addr()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
