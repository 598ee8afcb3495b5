//! A chat completion → a Messages API response: `msg_` id, the text and then one `tool_use`
//! block per tool call (arguments parsed into `input`), `stop_reason` from `finish_reason`,
//! `usage` as input and output tokens. Shared with the stream translator: the stop-reason
//! mapping and tool-argument parsing. Fusion's trace (router decision, council) rides along
//! in a top-level `fusion` field, which Anthropic clients ignore.

use fusion_types::{ChatResponse, Usage};
use serde_json::{Value, json};

/// The Messages response for `response`; `model` is the name the client asked for.
pub(super) fn to_messages(response: ChatResponse, model: &str, stop_sequences: &[String]) -> Value {
    let mut content = Vec::new();
    let mut finish = None;
    let mut matched = None;
    if let Some(choice) = response.choices.into_iter().next() {
        let text = choice.message.text_content();
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        let calls = choice.message.tool_calls.as_ref().and_then(Value::as_array);
        for (index, call) in calls.into_iter().flatten().enumerate() {
            let function = &call["function"];
            content.push(json!({
                "type": "tool_use",
                "id": tool_use_id(call["id"].as_str(), index),
                "name": function["name"].as_str().unwrap_or_default(),
                "input": tool_input(function["arguments"].as_str().unwrap_or_default()),
            }));
        }
        matched = matched_stop(&choice.extra, stop_sequences);
        finish = choice.finish_reason;
    }
    let has_tools = content.iter().any(|b| b["type"] == "tool_use");
    let stop_reason = stop_reason(finish.as_deref(), has_tools, matched.is_some());
    let mut body = json!({
        "id": message_id(&response.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": matched,
        "usage": usage(response.usage.unwrap_or_default()),
    });
    if let (Some(trace), Some(object)) = (response.extra.get("fusion"), body.as_object_mut()) {
        object.insert("fusion".into(), trace.clone());
    }
    body
}

/// `msg_` and the upstream's id (or a fresh one when it sent none).
pub(super) fn message_id(upstream: &str) -> String {
    let id: String = upstream
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if id.is_empty() {
        format!("msg_{}", fresh_suffix())
    } else {
        format!("msg_{id}")
    }
}

/// The tool call's id, or `toolu_<n>` when the upstream gave none.
pub(super) fn tool_use_id(upstream: Option<&str>, index: usize) -> String {
    match upstream {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!("toolu_{}_{index}", fresh_suffix()),
    }
}

/// A tool call's arguments as the `input` object: `{}` when empty; arguments that are not a
/// JSON object are kept under `arguments` so the client sees what the model wrote.
pub(super) fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        Ok(other) => json!({ "arguments": other }),
        Err(e) => {
            tracing::info!(error = %e, "/v1/messages: a tool call's arguments are not JSON; sent as a string");
            json!({ "arguments": arguments })
        }
    }
}

/// Anthropic's `stop_reason` for a chat `finish_reason`. A call of a tool ends the turn for
/// it whatever the upstream said; a matched stop sequence (vLLM names it) is `stop_sequence`.
pub(super) fn stop_reason(finish: Option<&str>, has_tools: bool, matched: bool) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        _ if has_tools => "tool_use",
        Some("tool_calls" | "function_call") => "tool_use",
        _ if matched => "stop_sequence",
        _ => "end_turn",
    }
}

/// The stop sequence the upstream says it stopped on (vLLM's `stop_reason`), if it is one of
/// the client's.
pub(super) fn matched_stop(
    choice_extra: &serde_json::Map<String, Value>,
    stop_sequences: &[String],
) -> Option<String> {
    let said = choice_extra.get("stop_reason")?.as_str()?;
    stop_sequences
        .iter()
        .any(|s| s == said)
        .then(|| said.to_owned())
}

/// Anthropic's usage object.
pub(super) fn usage(usage: Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

/// A suffix unique enough for ids Fusion makes up.
fn fresh_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(message: Value, finish: &str) -> ChatResponse {
        serde_json::from_value(json!({
            "id": "chatcmpl-7", "object": "chat.completion", "created": 1, "model": "up",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
            "fusion": {"model": "fast"},
        }))
        .unwrap()
    }

    #[test]
    fn text_answers_become_a_text_block_with_usage_and_end_turn() {
        let body = to_messages(
            response(json!({"role": "assistant", "content": "Hi!"}), "stop"),
            "claude-opus-4-8",
            &[],
        );
        assert_eq!(body["id"], "msg_chatcmpl-7");
        assert_eq!(body["type"], "message");
        assert_eq!(body["model"], "claude-opus-4-8");
        assert_eq!(body["content"], json!([{"type": "text", "text": "Hi!"}]));
        assert_eq!(body["stop_reason"], "end_turn");
        assert_eq!(body["stop_sequence"], Value::Null);
        assert_eq!(body["usage"]["input_tokens"], 11);
        assert_eq!(body["usage"]["output_tokens"], 4);
        assert_eq!(body["fusion"]["model"], "fast");
    }

    #[test]
    fn tool_calls_become_tool_use_blocks_with_parsed_input() {
        let message = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"echo hi\"}"}},
            {"id": "", "type": "function", "function": {"name": "Read", "arguments": ""}},
            {"id": "call_3", "type": "function", "function": {"name": "X", "arguments": "not json"}}]});
        let body = to_messages(response(message, "tool_calls"), "c", &[]);
        let content = body["content"].as_array().unwrap();
        assert_eq!(content.len(), 3);
        assert_eq!(content[0]["type"], "tool_use");
        assert_eq!(content[0]["id"], "call_1");
        assert_eq!(content[0]["input"], json!({"command": "echo hi"}));
        assert!(content[1]["id"].as_str().unwrap().starts_with("toolu_"));
        assert_eq!(content[1]["input"], json!({}));
        assert_eq!(content[2]["input"], json!({"arguments": "not json"}));
        assert_eq!(body["stop_reason"], "tool_use");
    }

    #[test]
    fn finish_reasons_map_to_stop_reasons() {
        assert_eq!(stop_reason(Some("length"), false, false), "max_tokens");
        assert_eq!(stop_reason(Some("tool_calls"), false, false), "tool_use");
        assert_eq!(stop_reason(Some("stop"), true, false), "tool_use");
        assert_eq!(stop_reason(Some("stop"), false, true), "stop_sequence");
        assert_eq!(stop_reason(Some("content_filter"), false, false), "refusal");
        assert_eq!(stop_reason(None, false, false), "end_turn");
        let mut choice = serde_json::Map::new();
        choice.insert("stop_reason".into(), json!("END"));
        assert_eq!(
            matched_stop(&choice, &["END".into()]).as_deref(),
            Some("END")
        );
        assert_eq!(matched_stop(&choice, &["STOP".into()]), None);
    }
}
