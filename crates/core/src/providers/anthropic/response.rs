//! Anthropic Messages API response → OpenAI-shaped `ChatResponse`, plus the stop-reason and
//! usage mappings shared with the stream translator.

use std::time::{SystemTime, UNIX_EPOCH};

use fusion_types::{ChatMessage, ChatResponse, Choice, Role, Usage};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    content: Vec<ContentBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Value,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// Thinking and any future block types: not part of an OpenAI message.
    #[serde(other)]
    Other,
}

/// Parses a Messages API answer into an OpenAI-shaped response; the error is a description.
pub(super) fn parse_response(body: &[u8]) -> std::result::Result<ChatResponse, String> {
    let parsed: MessagesResponse = serde_json::from_slice(body)
        .map_err(|e| format!("{e}; body: {}", crate::providers::snippet(body)))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in parsed.content {
        match block {
            ContentBlock::Text { text: t } => text.push_str(&t),
            ContentBlock::ToolUse { id, name, input } => tool_calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })),
            ContentBlock::Other => {}
        }
    }
    let mut message = ChatMessage::text(Role::Assistant, text);
    if !tool_calls.is_empty() {
        if message.text_content().is_empty() {
            message.content = None;
        }
        message.tool_calls = Some(Value::Array(tool_calls));
    }
    Ok(ChatResponse {
        id: parsed.id,
        object: "chat.completion".into(),
        created: now_secs(),
        model: parsed.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason(parsed.stop_reason.as_deref()).into()),
            extra: Map::new(),
        }],
        usage: Some(Usage::new(
            prompt_tokens(&parsed.usage),
            parsed.usage["output_tokens"].as_u64().unwrap_or(0),
            false,
        )),
        extra: Map::new(),
    })
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub(super) fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop", // end_turn, stop_sequence, pause_turn
    }
}

/// All input tokens: Anthropic counts cache writes and reads apart from `input_tokens`.
pub(super) fn prompt_tokens(usage: &Value) -> u64 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| usage[*k].as_u64())
    .sum()
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_text_and_tool_use_become_an_openai_message() {
        let body = br#"{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant",
            "model":"claude-sonnet-4-5-20250929","content":[
              {"type":"text","text":"I'll check "},{"type":"text","text":"the weather."},
              {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather",
               "input":{"location":"San Francisco, CA"}}],
            "stop_reason":"tool_use","stop_sequence":null,
            "usage":{"input_tokens":472,"output_tokens":89,"cache_read_input_tokens":10}}"#;
        let response = parse_response(body).unwrap();
        assert_eq!(response.id, "msg_01Aq9w938a90dw8q");
        assert_eq!(response.model, "claude-sonnet-4-5-20250929");
        assert_eq!(response.first_text(), "I'll check the weather.");
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        let call = &choice.message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call["id"], "toolu_01A09q90qw90lq917835lq9");
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"location": "San Francisco, CA"}));
        assert_eq!(response.usage, Some(Usage::new(482, 89, false)));

        let limited = parse_response(
            br#"{"id":"m","model":"c","content":[{"type":"text","text":"Hi"}],
                "stop_reason":"max_tokens","usage":{"input_tokens":1,"output_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(limited.choices[0].finish_reason.as_deref(), Some("length"));
        assert!(
            parse_response(b"<html>bad gateway</html>")
                .unwrap_err()
                .contains("bad gateway")
        );
    }
}
