//! A Responses API request → a chat completions request: `input` (a string, or items: messages
//! with `input_text` / `output_text` / `input_image` parts, `function_call`,
//! `function_call_output`; `reasoning` items dropped), `instructions` as the system message,
//! function `tools` (Responses' flat shape → chat's nested one), `tool_choice`,
//! `max_output_tokens`, `temperature`, `top_p`, `parallel_tool_calls`, `text.format` →
//! `response_format`, `stream`. What the target cannot honour is dropped and named in
//! `dropped` (the caller logs it); a malformed item is a 400 naming it.

use fusion_types::{ChatMessage, ChatRequest, Role};
use serde_json::{Map, Value, json};

use crate::ApiError;

/// Top-level fields read here or by the handler; any other is dropped.
const HANDLED: [&str; 15] = [
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "text",
    "stream",
    "store",
    "previous_response_id",
    "metadata",
    "user",
];

/// The translated request and what was left out.
#[derive(Debug)]
pub(super) struct Translated {
    pub chat: ChatRequest,
    /// Fields, items and tools dropped, for the log.
    pub dropped: Vec<String>,
}

/// The request's `input` as a list of items (a string becomes one user message).
pub(super) fn input_items(body: &Value) -> Result<Vec<Value>, ApiError> {
    match body.get("input") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![
            json!({"type": "message", "role": "user", "content": text}),
        ]),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(_) => Err(bad(
            "`input` must be a string or an array of items",
            "input",
        )),
    }
}

/// Translates `body` whose conversation is `items` (the stored conversation of
/// `previous_response_id` first, then this request's input) for the Fusion model `target`.
pub(super) fn to_chat(
    body: &Value,
    items: &[Value],
    target: String,
) -> Result<Translated, ApiError> {
    let mut dropped = Vec::new();
    if let Some(object) = body.as_object() {
        dropped.extend(
            object
                .keys()
                .filter(|key| !HANDLED.contains(&key.as_str()))
                .cloned(),
        );
    }
    let mut messages = Vec::with_capacity(items.len() + 1);
    match body.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.push(ChatMessage::text(Role::System, text.as_str())),
        Some(_) => return Err(bad("`instructions` must be a string", "instructions")),
    }
    for (i, item) in items.iter().enumerate() {
        add_item(item, i, &mut messages, &mut dropped)?;
    }
    if messages.iter().all(|m| m.role == Role::System) {
        return Err(bad(
            "`input` must contain at least one message (or continue a stored conversation with \
             `previous_response_id`)",
            "input",
        ));
    }
    let mut chat = ChatRequest {
        model: target,
        messages,
        ..ChatRequest::default()
    };
    chat.temperature = number(body, "temperature")?;
    if let Some(max) = body.get("max_output_tokens").filter(|v| !v.is_null()) {
        let max = max
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .filter(|m| *m > 0)
            .ok_or_else(|| {
                bad(
                    "`max_output_tokens` must be a positive integer",
                    "max_output_tokens",
                )
            })?;
        chat.max_tokens = Some(max);
    }
    if let Some(top_p) = number(body, "top_p")? {
        chat.extra.insert("top_p".into(), json!(top_p));
    }
    if let Some(parallel) = body.get("parallel_tool_calls").and_then(Value::as_bool) {
        chat.extra
            .insert("parallel_tool_calls".into(), json!(parallel));
    }
    chat.tools = tools(body.get("tools"), &mut dropped)?;
    chat.tool_choice = tool_choice(body.get("tool_choice"), &mut dropped);
    if chat.tools.is_none() && chat.tool_choice.is_some() {
        dropped.push("tool_choice (no function tools)".into());
        chat.tool_choice = None;
    }
    chat.response_format = response_format(body.get("text"), &mut dropped)?;
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.stream = Some(true);
        chat.stream_options = Some(json!({"include_usage": true}));
    }
    Ok(Translated { chat, dropped })
}

fn bad(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::bad_request(message, Some(param.to_owned()))
}

fn number(body: &Value, key: &str) -> Result<Option<f64>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(format!("`{key}` must be a number"), key)),
    }
}

/// One input item onto the chat messages.
fn add_item(
    item: &Value,
    i: usize,
    messages: &mut Vec<ChatMessage>,
    dropped: &mut Vec<String>,
) -> Result<(), ApiError> {
    let param = format!("input[{i}]");
    let Some(object) = item.as_object() else {
        return Err(bad(format!("`{param}` must be an object"), &param));
    };
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => messages.push(message(object, &param, dropped)?),
        "function_call" => {
            let field = |key: &str| -> Result<String, ApiError> {
                object
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        bad(
                            format!("`{param}.{key}` must be a string"),
                            &format!("{param}.{key}"),
                        )
                    })
            };
            let call = json!({
                "id": field("call_id")?,
                "type": "function",
                "function": {"name": field("name")?, "arguments": field("arguments")?},
            });
            match messages.last_mut() {
                Some(last) if last.role == Role::Assistant => match &mut last.tool_calls {
                    Some(Value::Array(calls)) => calls.push(call),
                    _ => last.tool_calls = Some(json!([call])),
                },
                _ => messages.push(ChatMessage {
                    role: Role::Assistant,
                    content: None,
                    name: None,
                    tool_calls: Some(json!([call])),
                    tool_call_id: None,
                    extra: Map::new(),
                }),
            }
        }
        "function_call_output" => {
            let call_id = object
                .get("call_id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    bad(
                        format!("`{param}.call_id` must be a string"),
                        &format!("{param}.call_id"),
                    )
                })?;
            let output = match object.get("output") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => parts_text(parts),
                _ => {
                    return Err(bad(
                        format!("`{param}.output` must be a string or an array of parts"),
                        &format!("{param}.output"),
                    ));
                }
            };
            let mut tool = ChatMessage::text(Role::Tool, output);
            tool.tool_call_id = Some(call_id.to_owned());
            messages.push(tool);
        }
        other => dropped.push(format!("{param} ({other} item)")),
    }
    Ok(())
}

/// A `message` item: a role and a string or a list of content parts.
fn message(
    object: &Map<String, Value>,
    param: &str,
    dropped: &mut Vec<String>,
) -> Result<ChatMessage, ApiError> {
    let role = match object.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system" | "developer") => Role::System,
        _ => {
            return Err(bad(
                format!("`{param}.role` must be one of user, assistant, system, developer"),
                &format!("{param}.role"),
            ));
        }
    };
    let content = match object.get("content") {
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(Value::Array(parts)) if role == Role::User => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let at = format!("{param}.content[{j}]");
                match user_part(part, &at)? {
                    Some(part) => out.push(part),
                    None => dropped.push(format!(
                        "{at} ({} part)",
                        part.get("type").and_then(Value::as_str).unwrap_or("?")
                    )),
                }
            }
            Value::Array(out)
        }
        Some(Value::Array(parts)) => Value::String(parts_text(parts)),
        _ => {
            return Err(bad(
                format!("`{param}.content` must be a string or an array of parts"),
                &format!("{param}.content"),
            ));
        }
    };
    Ok(ChatMessage {
        role,
        content: Some(content),
        name: None,
        tool_calls: None,
        tool_call_id: None,
        extra: Map::new(),
    })
}

/// A user content part in chat's shape: text or an image by URL; `None` for a part chat cannot
/// carry (a file, audio, an image by file id).
fn user_part(part: &Value, param: &str) -> Result<Option<Value>, ApiError> {
    match part.get("type").and_then(Value::as_str) {
        Some("input_text" | "output_text" | "text") => {
            let text = part.get("text").and_then(Value::as_str).ok_or_else(|| {
                bad(
                    format!("`{param}.text` must be a string"),
                    &format!("{param}.text"),
                )
            })?;
            Ok(Some(json!({"type": "text", "text": text})))
        }
        Some("input_image") => {
            let Some(url) = part.get("image_url").and_then(Value::as_str) else {
                if part.get("file_id").is_some() {
                    return Ok(None);
                }
                return Err(bad(
                    format!("`{param}.image_url` must be a URL"),
                    &format!("{param}.image_url"),
                ));
            };
            let mut image = json!({"url": url});
            if let Some(detail) = part.get("detail").and_then(Value::as_str) {
                image["detail"] = json!(detail);
            }
            Ok(Some(json!({"type": "image_url", "image_url": image})))
        }
        Some("input_file" | "input_audio") => Ok(None),
        _ => Err(bad(
            format!("`{param}.type` must be input_text, output_text, input_image or input_file"),
            &format!("{param}.type"),
        )),
    }
}

/// The text of a list of parts (`input_text`, `output_text`, `refusal`), joined by newlines.
fn parts_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| {
            p.get("text")
                .or_else(|| p.get("refusal"))
                .and_then(Value::as_str)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Function tools in chat's shape; other tools (web_search, file_search, custom, ...) dropped.
fn tools(tools: Option<&Value>, dropped: &mut Vec<String>) -> Result<Option<Value>, ApiError> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(bad("`tools` must be an array", "tools")),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or("?");
        if kind != "function" {
            dropped.push(format!("tools[{i}] ({kind} tool)"));
            continue;
        }
        let name = tool.get("name").and_then(Value::as_str).ok_or_else(|| {
            bad(
                format!("`tools[{i}].name` must be a string"),
                &format!("tools[{i}].name"),
            )
        })?;
        let mut function = json!({"name": name});
        for key in ["description", "parameters", "strict"] {
            if let Some(value) = tool.get(key).filter(|v| !v.is_null()) {
                function[key] = value.clone();
            }
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// `auto` / `none` / `required`, or one function by name; other choices dropped.
fn tool_choice(choice: Option<&Value>, dropped: &mut Vec<String>) -> Option<Value> {
    match choice? {
        Value::Null => None,
        Value::String(mode) if ["auto", "none", "required"].contains(&mode.as_str()) => {
            Some(Value::String(mode.clone()))
        }
        Value::Object(object)
            if object.get("type").and_then(Value::as_str) == Some("function")
                && object.get("name").is_some_and(Value::is_string) =>
        {
            Some(json!({"type": "function", "function": {"name": object["name"]}}))
        }
        other => {
            dropped.push(format!("tool_choice ({other})"));
            None
        }
    }
}

/// `text.format` as chat's `response_format`: `json_schema` and `json_object`; `text` is the
/// default and needs none.
fn response_format(
    text: Option<&Value>,
    dropped: &mut Vec<String>,
) -> Result<Option<Value>, ApiError> {
    let Some(format) = text.and_then(|t| t.get("format")).filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    bad(
                        "`text.format.schema` must be a JSON schema object",
                        "text.format.schema",
                    )
                })?;
            let mut json_schema = json!({
                "name": format.get("name").and_then(Value::as_str).unwrap_or("response"),
                "schema": schema,
            });
            for key in ["strict", "description"] {
                if let Some(value) = format.get(key).filter(|v| !v.is_null()) {
                    json_schema[key] = value.clone();
                }
            }
            Ok(Some(
                json!({"type": "json_schema", "json_schema": json_schema}),
            ))
        }
        other => {
            dropped.push(format!("text.format ({})", other.unwrap_or("?")));
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Result<Translated, ApiError> {
        let items = input_items(&body)?;
        to_chat(&body, &items, "target".into())
    }

    fn param(err: ApiError) -> String {
        assert_eq!(err.status(), 400);
        err.body()["error"]["param"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn a_string_input_and_instructions_become_system_and_user_messages() {
        let t = translate(
            json!({"model": "gpt-5", "input": "hi", "instructions": "be brief",
            "max_output_tokens": 50, "temperature": 0.2, "top_p": 0.9, "stream": true,
            "reasoning": {"effort": "high"}, "include": []}),
        )
        .unwrap();
        let chat = &t.chat;
        assert_eq!(chat.model, "target");
        assert_eq!(chat.messages.len(), 2);
        assert_eq!(chat.messages[0].role, Role::System);
        assert_eq!(chat.messages[1].text_content(), "hi");
        assert_eq!(chat.max_tokens, Some(50));
        assert_eq!(chat.temperature, Some(0.2));
        assert_eq!(chat.extra["top_p"], json!(0.9));
        assert_eq!(chat.stream, Some(true));
        assert_eq!(t.dropped, vec!["include", "reasoning"]);
    }

    #[test]
    fn function_calls_and_their_outputs_become_tool_calls_and_tool_messages() {
        let t = translate(json!({"model": "m", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "list files"},
                {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"}]},
            {"type": "reasoning", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
            {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"cmd\":\"ls\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "b"}]},
        ]}))
        .unwrap();
        let m = &t.chat.messages;
        assert_eq!(m.len(), 4, "{m:?}");
        assert_eq!(
            m[0].content.as_ref().unwrap()[1]["image_url"]["detail"],
            "low"
        );
        assert_eq!(m[1].role, Role::Assistant);
        assert_eq!(m[1].text_content(), "Let me look.");
        let calls = m[1].tool_calls.as_ref().unwrap().as_array().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0]["function"]["name"], "shell");
        assert_eq!(m[2].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(m[3].text_content(), "b");
        assert_eq!(t.dropped, vec!["input[1] (reasoning item)"]);
    }

    #[test]
    fn function_tools_are_nested_and_hosted_tools_dropped() {
        let t = translate(json!({"model": "m", "input": "x", "tools": [
            {"type": "function", "name": "get_weather", "description": "d",
             "parameters": {"type": "object"}, "strict": true},
            {"type": "web_search"}],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "parallel_tool_calls": false,
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}}}))
        .unwrap();
        let tools = t.chat.tools.unwrap();
        assert_eq!(tools[0]["function"]["name"], "get_weather");
        assert_eq!(tools[0]["function"]["strict"], true);
        assert_eq!(tools.as_array().unwrap().len(), 1);
        assert_eq!(
            t.chat.tool_choice.unwrap()["function"]["name"],
            "get_weather"
        );
        assert_eq!(t.chat.extra["parallel_tool_calls"], false);
        assert_eq!(t.chat.response_format.unwrap()["json_schema"]["name"], "w");
        assert_eq!(t.dropped, vec!["tools[1] (web_search tool)"]);
    }

    #[test]
    fn file_and_audio_parts_and_file_id_images_are_dropped_not_refused() {
        let t = translate(json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "read this"},
            {"type": "input_file", "file_id": "file_1"},
            {"type": "input_image", "file_id": "file_2"}]}]}))
        .unwrap();
        assert_eq!(t.chat.messages[0].text_content(), "read this");
        assert_eq!(
            t.dropped,
            vec![
                "input[0].content[1] (input_file part)",
                "input[0].content[2] (input_image part)"
            ]
        );
    }

    #[test]
    fn malformed_input_is_a_bad_request_naming_the_item() {
        assert_eq!(
            param(translate(json!({"model": "m", "input": 5})).unwrap_err()),
            "input"
        );
        assert_eq!(
            param(translate(json!({"model": "m", "input": [7]})).unwrap_err()),
            "input[0]"
        );
        assert_eq!(
            param(
                translate(json!({"model": "m", "input": [{"role": "wizard", "content": "x"}]}))
                    .unwrap_err()
            ),
            "input[0].role"
        );
        assert_eq!(
            param(
                translate(
                    json!({"model": "m", "input": [{"role": "user", "content": "x"},
                {"type": "function_call", "name": "f", "arguments": "{}"}]})
                )
                .unwrap_err()
            ),
            "input[1].call_id"
        );
        assert_eq!(
            param(
                translate(json!({"model": "m", "input": [{"role": "user",
                "content": [{"type": "input_image"}]}]}))
                .unwrap_err()
            ),
            "input[0].content[0].image_url"
        );
        assert_eq!(
            param(
                translate(json!({"model": "m", "input": [{"role": "user",
                "content": [{"type": "hologram"}]}]}))
                .unwrap_err()
            ),
            "input[0].content[0].type"
        );
        assert_eq!(
            param(translate(json!({"model": "m"})).unwrap_err()),
            "input"
        );
        assert_eq!(
            param(
                translate(json!({"model": "m", "input": "x", "max_output_tokens": -1}))
                    .unwrap_err()
            ),
            "max_output_tokens"
        );
        assert_eq!(
            param(translate(json!({"model": "m", "input": "x", "tools": {}})).unwrap_err()),
            "tools"
        );
    }
}
