//! Scripted OpenAI tool calls: a model that answers with `tool_calls` (non-streamed and
//! streamed as fragments), and one that calls a tool until a tool result is in the request,
//! then answers from it.

mod common;

use common::{chat, chat_stream, parse, post, post_json, sse_data};
use fusion_mock_provider::{MockProvider, ModelScript, Reply, Script, ToolCall};
use serde_json::{Value, json};

fn time_call() -> ToolCall {
    ToolCall::new("time__get_current_time", json!({"timezone": "UTC"}))
}

/// A model that asks for the time once, then answers with the tool's text.
fn agent() -> Script {
    Script::new().with_model(
        "agent",
        ModelScript::until_tool_result(
            Reply::ToolCalls(vec![time_call()]),
            Reply::Template("It is {tool_result}.".into()),
        ),
    )
}

#[tokio::test]
async fn a_tool_call_reply_has_openai_shape_with_null_content() {
    let script = Script::new().with_model(
        "m",
        ModelScript::tool_calls([
            time_call(),
            ToolCall::new("memory__read_graph", json!("{not json")),
        ]),
    );
    let mock = MockProvider::start(script).await.unwrap();
    let (status, body) = post_json(&mock, &chat("m", "what time is it?")).await;
    assert_eq!(status, 200);
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], Value::Null);
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["type"], "function");
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    assert_eq!(calls[0]["function"]["name"], "time__get_current_time");
    // Arguments travel as JSON text, as OpenAI sends them; a string is sent as it is.
    let arguments: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"timezone": "UTC"}));
    assert_eq!(calls[1]["function"]["arguments"], "{not json");
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn until_tool_result_calls_the_tool_then_answers_from_its_result() {
    let mock = MockProvider::start(agent()).await.unwrap();
    let (_, first) = post_json(&mock, &chat("agent", "what time is it?")).await;
    let call = first["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "time__get_current_time");

    let mut second = chat("agent", "what time is it?");
    second["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": null, "tool_calls": [call.clone()]}),
        json!({"role": "tool", "tool_call_id": call["id"], "content": "12:00 UTC"}),
    ]);
    let (_, answer) = post_json(&mock, &second).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "It is 12:00 UTC."
    );
    assert!(answer["choices"][0]["message"].get("tool_calls").is_none());
}

#[tokio::test]
async fn streamed_tool_calls_arrive_as_fragments_that_rejoin_to_the_arguments() {
    let long = json!({"timezone": "America/Argentina/Buenos_Aires", "note": "ünïcödé"});
    let script = Script::new().with_model(
        "m",
        ModelScript::tool_calls([
            time_call(),
            ToolCall::new("time__convert_time", long.clone()),
        ]),
    );
    let mock = MockProvider::start(script).await.unwrap();
    let response = post(&mock, &chat_stream("m", "hi", true)).await;
    assert_eq!(response.status(), 200);
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = parse(&events);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant"})
    );

    // What an OpenAI client does: gather the fragments by index.
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for chunk in &chunks {
        let Some(fragments) = chunk["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        assert_eq!(fragments.len(), 1);
        let fragment = &fragments[0];
        let index = fragment["index"].as_u64().unwrap() as usize;
        if let Some(id) = fragment["id"].as_str() {
            assert_eq!(index, calls.len());
            assert_eq!(fragment["type"], "function");
            let name = fragment["function"]["name"].as_str().unwrap().to_owned();
            calls.push((id.to_owned(), name, String::new()));
        }
        calls[index]
            .2
            .push_str(fragment["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].1, "time__get_current_time");
    assert_eq!(calls[1].1, "time__convert_time");
    let rejoined: Value = serde_json::from_str(&calls[1].2).unwrap();
    assert_eq!(rejoined, long);
    // The long arguments took several fragments.
    let fragments = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["tool_calls"][0]["index"] == 1)
        .count();
    assert!(fragments > 3, "{fragments}");

    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap();
    assert_eq!(finish, "tool_calls");
    let usage = &chunks.last().unwrap()["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
}
