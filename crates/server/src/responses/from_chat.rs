//! A chat completion → a Responses API response object: `resp_` id, `object: "response"`,
//! `status` (`completed`, or `incomplete` when the answer hit `max_output_tokens`), the asked
//! model, `output` items (a `message` with one `output_text` part, then one `function_call`
//! item per tool call), `output_text` (the convenience the SDKs offer), `usage`, and the
//! request's settings echoed as OpenAI does. `Shell` holds what every response object of one
//! request shares, streamed or not.

use std::hash::{BuildHasher, Hasher};

use fusion_types::{ChatResponse, Usage};
use serde_json::{Value, json};

/// What the response objects of one request share: its id, time, model and echoed settings.
#[derive(Debug, Clone)]
pub(super) struct Shell {
    pub id: String,
    pub created_at: u64,
    pub model: String,
    pub echo: serde_json::Map<String, Value>,
}

impl Shell {
    pub fn new(body: &Value, model: &str) -> Self {
        let mut echo = serde_json::Map::new();
        for key in [
            "instructions",
            "max_output_tokens",
            "parallel_tool_calls",
            "previous_response_id",
            "temperature",
            "top_p",
            "tool_choice",
            "tools",
            "text",
            "metadata",
            "user",
        ] {
            echo.insert(key.into(), body.get(key).cloned().unwrap_or(Value::Null));
        }
        let defaults = [
            ("parallel_tool_calls", json!(true)),
            ("tool_choice", json!("auto")),
            ("tools", json!([])),
            ("text", json!({"format": {"type": "text"}})),
            ("metadata", json!({})),
        ];
        for (key, value) in defaults {
            if echo.get(key).is_none_or(Value::is_null) {
                echo.insert(key.into(), value);
            }
        }
        echo.insert(
            "store".into(),
            json!(body.get("store").and_then(Value::as_bool).unwrap_or(true)),
        );
        Self {
            id: fresh_id("resp"),
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            model: model.to_owned(),
            echo,
        }
    }

    /// The response object with `status`, `output` items and `usage` (`null` while running).
    pub fn object(&self, status: &str, output: &[Value], usage: Option<Usage>) -> Value {
        let mut object = json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": output,
            "output_text": output_text(output),
            "error": null,
            "incomplete_details": null,
            "usage": usage.map(usage_json),
        });
        if let Some(map) = object.as_object_mut() {
            for (key, value) in &self.echo {
                map.insert(key.clone(), value.clone());
            }
        }
        if status == "incomplete" {
            object["incomplete_details"] = json!({"reason": "max_output_tokens"});
        }
        object
    }
}

/// `usage` as Responses writes it.
pub(super) fn usage_json(usage: Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

/// The concatenated text of the `output_text` parts of the output's messages.
pub(super) fn output_text(output: &[Value]) -> String {
    let mut text = String::new();
    for item in output.iter().filter(|i| i["type"] == "message") {
        for part in item["content"].as_array().into_iter().flatten() {
            if part["type"] == "output_text" {
                text.push_str(part["text"].as_str().unwrap_or_default());
            }
        }
    }
    text
}

/// A completed `message` output item.
pub(super) fn message_item(id: &str, text: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": "completed",
        "role": "assistant",
        "content": [text_part(text)],
    })
}

pub(super) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A `function_call` output item.
pub(super) fn call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

/// The status a chat `finish_reason` gives a response.
pub(super) fn status(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "incomplete",
        _ => "completed",
    }
}

/// The response object for a whole chat answer.
pub(super) fn to_response(chat: &ChatResponse, shell: &Shell) -> Value {
    let mut output = Vec::new();
    let choice = chat.choices.first();
    if let Some(choice) = choice {
        let text = choice.message.text_content();
        if !text.is_empty() {
            output.push(message_item(&fresh_id("msg"), &text));
        }
        for call in choice
            .message
            .tool_calls
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let function = &call["function"];
            let call_id = match call["id"].as_str() {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => fresh_id("call"),
            };
            output.push(call_item(
                &fresh_id("fc"),
                &call_id,
                function["name"].as_str().unwrap_or_default(),
                function["arguments"].as_str().unwrap_or("{}"),
                "completed",
            ));
        }
    }
    let status = status(choice.and_then(|c| c.finish_reason.as_deref()));
    shell.object(status, &output, Some(chat.usage.unwrap_or_default()))
}

/// `prefix_` and 32 hex digits, from the process's randomly keyed hasher, the time and a count.
pub(super) fn fresh_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut halves = [0u64; 2];
    for (salt, half) in halves.iter_mut().enumerate() {
        let mut hasher = state.build_hasher();
        hasher.write_u128(nanos);
        hasher.write_u64(count);
        hasher.write_usize(salt);
        *half = hasher.finish();
    }
    format!("{prefix}_{:016x}{:016x}", halves[0], halves[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(message: Value, finish: &str) -> ChatResponse {
        serde_json::from_value(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "up",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        }))
        .unwrap()
    }

    #[test]
    fn a_text_answer_becomes_a_message_item_with_output_text_and_usage() {
        let shell = Shell::new(&json!({"model": "gpt-5", "store": false}), "gpt-5");
        let r = to_response(
            &chat(json!({"role": "assistant", "content": "Hello"}), "stop"),
            &shell,
        );
        assert!(r["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(r["object"], "response");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["model"], "gpt-5");
        assert_eq!(r["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(r["output_text"], "Hello");
        assert_eq!(r["usage"]["total_tokens"], 12);
        assert_eq!(r["store"], false);
        assert_eq!(r["tool_choice"], "auto");
    }

    #[test]
    fn tool_calls_become_function_call_items_and_length_is_incomplete() {
        let shell = Shell::new(&json!({}), "m");
        let r = to_response(
            &chat(
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"}}]}),
                "length",
            ),
            &shell,
        );
        assert_eq!(r["output"].as_array().unwrap().len(), 1);
        assert_eq!(r["output"][0]["type"], "function_call");
        assert_eq!(r["output"][0]["call_id"], "call_9");
        assert_eq!(r["output"][0]["arguments"], "{\"cmd\":\"ls\"}");
        assert_eq!(r["output_text"], "");
        assert_eq!(r["status"], "incomplete");
        assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(fresh_id("resp"), fresh_id("resp"));
        assert_eq!(fresh_id("resp").len(), "resp_".len() + 32);
    }
}
