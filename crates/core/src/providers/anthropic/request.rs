//! `ChatRequest` → Anthropic Messages API request body: system prompt, role alternation,
//! content and image blocks, tool calls and results, tools / `tool_choice`, and JSON mode.

use fusion_types::{ChatMessage, ChatRequest, Role};
use serde_json::{Map, Value, json};

use crate::{ErrorKind, Result};

/// Anthropic requires `max_tokens`; used when the client sent none.
const DEFAULT_MAX_TOKENS: u64 = 4096;
/// Appended to the system prompt for `response_format: json_object` / `json_schema`: the
/// Messages API has no JSON mode, so JSON-only output is asked for in words.
const JSON_INSTRUCTION: &str =
    "Reply with a single valid JSON object and nothing else: no prose, no Markdown code fences.";

/// Translates an OpenAI-shaped request into an Anthropic Messages body.
///
/// System and developer messages are joined into the top-level `system`; consecutive messages
/// of the same role are merged (Anthropic requires alternation); `role: tool` messages become
/// `tool_result` blocks of a user message and assistant `tool_calls` become `tool_use` blocks.
pub(super) fn messages_request(request: &ChatRequest, stream: bool) -> Result<Value> {
    let mut system = Vec::new();
    let mut messages: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message.role {
            Role::System | Role::Developer => {
                let text = message.text_content();
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            Role::User => ("user", content_blocks(message)),
            Role::Assistant => {
                let mut blocks = content_blocks(message);
                blocks.extend(tool_use_blocks(message)?);
                ("assistant", blocks)
            }
            Role::Tool => ("user", vec![tool_result_block(message)?]),
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last, previous)) if *last == role => previous.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    if let Some(instruction) = json_instruction(request.response_format.as_ref()) {
        system.push(instruction);
    }

    let max_tokens = request
        .max_tokens
        .map(u64::from)
        .or_else(|| {
            request
                .extra
                .get("max_completion_tokens")
                .and_then(Value::as_u64)
        })
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("max_tokens".into(), json!(max_tokens));
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.extra.get("top_p").filter(|p| p.is_number()) {
        body.insert("top_p".into(), p.clone());
    }
    let stop: Vec<&str> = match &request.stop {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !stop.is_empty() {
        body.insert("stop_sequences".into(), json!(stop));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    add_tools(request, &mut body)?;
    Ok(Value::Object(body))
}

/// Text and image blocks of a message's content (empty text is dropped: Anthropic rejects it).
fn content_blocks(message: &ChatMessage) -> Vec<Value> {
    let text_block = |text: &str| json!({"type": "text", "text": text});
    match &message.content {
        Some(Value::String(s)) if !s.is_empty() => vec![text_block(s)],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| match part["type"].as_str() {
                Some("text") => part["text"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .map(text_block),
                Some("image_url") => image_block(&part["image_url"]),
                other => {
                    tracing::warn!(part = ?other, "anthropic: skipping unsupported content part");
                    None
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An image part (`data:` URL or http(s) URL) as an Anthropic image block.
fn image_block(image_url: &Value) -> Option<Value> {
    let url = image_url
        .as_str()
        .or_else(|| image_url["url"].as_str())
        .unwrap_or_default();
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media_type, data)) = rest.split_once(";base64,") {
            return Some(json!({"type": "image", "source":
                {"type": "base64", "media_type": media_type, "data": data}}));
        }
    } else if url.starts_with("https://") || url.starts_with("http://") {
        return Some(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    tracing::warn!("anthropic: skipping an image part that is not a base64 data: or http(s) URL");
    None
}

/// `tool_use` blocks for an assistant message's OpenAI `tool_calls`.
fn tool_use_blocks(message: &ChatMessage) -> Result<Vec<Value>> {
    let Some(calls) = message.tool_calls.as_ref().and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    calls
        .iter()
        .map(|call| {
            let function = &call["function"];
            let arguments = function["arguments"].as_str().unwrap_or("{}");
            let input: Value = if arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(arguments).map_err(|e| {
                    ErrorKind::Invalid(format!("tool call arguments are not valid JSON: {e}"))
                })?
            };
            Ok(json!({
                "type": "tool_use",
                "id": call["id"].as_str().unwrap_or_default(),
                "name": function["name"].as_str().unwrap_or_default(),
                "input": input,
            }))
        })
        .collect()
}

/// A `role: tool` message as a `tool_result` block.
fn tool_result_block(message: &ChatMessage) -> Result<Value> {
    let id = message
        .tool_call_id
        .as_deref()
        .ok_or_else(|| ErrorKind::Invalid("a `tool` message needs a `tool_call_id`".into()))?;
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": message.text_content()}))
}

/// The system-prompt instruction standing in for OpenAI's `response_format`.
fn json_instruction(response_format: Option<&Value>) -> Option<String> {
    let format = response_format?;
    match format["type"].as_str()? {
        "json_object" => Some(JSON_INSTRUCTION.to_owned()),
        "json_schema" => {
            let schema = &format["json_schema"]["schema"];
            Some(format!(
                "{JSON_INSTRUCTION} The object must conform to this JSON Schema: {schema}"
            ))
        }
        _ => None,
    }
}

/// OpenAI `tools` / `tool_choice` / `parallel_tool_calls` → Anthropic `tools` / `tool_choice`.
///
/// `tool_choice: "none"` maps to Anthropic's `{"type":"none"}` (tools stay declared, so a
/// history holding `tool_use` blocks remains valid).
fn add_tools(request: &ChatRequest, body: &mut Map<String, Value>) -> Result<()> {
    let Some(tools) = request.tools.as_ref().filter(|t| !t.is_null()) else {
        return Ok(());
    };
    let tools = tools
        .as_array()
        .ok_or_else(|| ErrorKind::Invalid("`tools` must be an array".into()))?;
    let mut translated = Vec::with_capacity(tools.len());
    for tool in tools {
        let function = &tool["function"];
        let name = function["name"]
            .as_str()
            .ok_or_else(|| ErrorKind::Invalid("every tool needs `function.name`".into()))?;
        let mut entry = json!({"name": name, "input_schema": function["parameters"].clone()});
        if function["parameters"].is_null() {
            entry["input_schema"] = json!({"type": "object", "properties": {}});
        }
        if let Some(description) = function["description"].as_str() {
            entry["description"] = json!(description);
        }
        translated.push(entry);
    }
    if translated.is_empty() {
        return Ok(());
    }
    body.insert("tools".into(), Value::Array(translated));

    let mut choice = match &request.tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            other => {
                return Err(ErrorKind::Invalid(format!("unknown tool_choice `{other}`")).into());
            }
        },
        Some(v) => match v["function"]["name"].as_str() {
            Some(name) => Some(json!({"type": "tool", "name": name})),
            None => return Err(ErrorKind::Invalid(format!("unsupported tool_choice {v}")).into()),
        },
    };
    if request.extra.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), choice);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> ChatRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn request_joins_system_merges_roles_and_maps_tools_and_results() {
        let req = request(json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Use metric units."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "user", "content": [
                    {"type": "text", "text": "And this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {"type": "input_audio", "input_audio": {}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, sunny"},
                {"role": "user", "content": "Thanks"}
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "description": "Current weather", "parameters": {"type": "object",
                "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "response_format": {"type": "json_object"}
        }));
        let body = messages_request(&req, false).unwrap();
        let expected = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": format!("Be brief.\n\nUse metric units.\n\n{JSON_INSTRUCTION}"),
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "text", "text": "And this picture?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                        "data": "iVBORw0K"}}
                ]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                    "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"},
                    {"type": "text", "text": "Thanks"}
                ]}
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "tools": [{"name": "get_weather", "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]}}],
            "tool_choice": {"type": "tool", "name": "get_weather"}
        });
        assert_eq!(body, expected);
    }

    #[test]
    fn tool_choice_strings_map_to_anthropic_types() {
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        for (choice, expected) in [
            (json!("auto"), json!({"type": "auto"})),
            (json!("required"), json!({"type": "any"})),
            (json!("none"), json!({"type": "none"})),
        ] {
            let req = request(json!({"model": "m", "messages": [], "tools": tools,
                "tool_choice": choice, "max_tokens": 10, "stop": ["a", "b"]}));
            let body = messages_request(&req, true).unwrap();
            assert_eq!(body["tool_choice"], expected);
            assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
            assert_eq!(body["max_tokens"], 10);
            assert_eq!(body["stop_sequences"], json!(["a", "b"]));
            assert_eq!(body["stream"], true);
        }
        let req = request(json!({"model": "m", "messages": [], "tools": tools,
            "parallel_tool_calls": false}));
        let body = messages_request(&req, false).unwrap();
        assert_eq!(
            body["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        let bad = request(json!({"model": "m", "messages": [], "tools": tools,
            "tool_choice": "sometimes"}));
        assert!(matches!(
            messages_request(&bad, false).unwrap_err().kind(),
            ErrorKind::Invalid(_)
        ));
    }
}
