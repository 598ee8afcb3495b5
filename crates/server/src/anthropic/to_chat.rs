//! A Messages API request → a chat-completions `ChatRequest`, for every target that does not
//! speak Messages (OpenAI-compatible models, councils, the router): `system` → a system
//! message; text and image blocks → content parts (images as `image_url`, base64 ones as data
//! URLs); assistant `tool_use` → `tool_calls`; `tool_result` → `tool` messages (placed right
//! after the assistant's calls, as chat completions requires); tools, `tool_choice`,
//! `max_tokens`, `temperature`, `top_p`, `stop_sequences`, `stream`. What no chat target can
//! honour (`thinking`, `metadata`, `cache_control`, server tools, ...) is dropped and named in
//! the log, never refused.

use fusion_types::{ChatMessage, ChatRequest, Role};
use serde_json::{Map, Value, json};

use super::wire::{
    Block, Content, ImageSource, InputMessage, MessagesRequest, Role as WireRole, System,
    ToolChoice,
};

/// The translated request and what was dropped on the way (for the log).
pub(super) struct Translated {
    pub chat: ChatRequest,
    pub dropped: Vec<String>,
}

/// Translates `request`; `model` is the Fusion id it is sent to.
pub(super) fn to_chat(request: MessagesRequest, model: String) -> Translated {
    let mut dropped: Vec<String> = request.extra.keys().cloned().collect();
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system {
        let text = match system {
            System::Text(text) => text,
            System::Blocks(blocks) => blocks
                .into_iter()
                .map(|b| b.text)
                .collect::<Vec<_>>()
                .join("\n\n"),
        };
        if !text.is_empty() {
            messages.push(ChatMessage::text(Role::System, text));
        }
    }
    for message in request.messages {
        push_message(message, &mut messages, &mut dropped);
    }
    let mut extra = Map::new();
    if let Some(top_p) = request.top_p {
        extra.insert("top_p".into(), json!(top_p));
    }
    let tools = request.tools.map(|tools| {
        let functions: Vec<Value> = tools
            .into_iter()
            .filter_map(|tool| match tool.kind.as_deref() {
                None | Some("custom") => Some(json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description.unwrap_or_default(),
                        "parameters": tool.input_schema.unwrap_or_else(|| json!({"type": "object"})),
                    },
                })),
                Some(kind) => {
                    dropped.push(format!("tools[{}] ({kind})", tool.name));
                    None
                }
            })
            .collect();
        Value::Array(functions)
    });
    let has_tools = tools
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    let tool_choice = match request.tool_choice {
        Some(choice) if has_tools => {
            let (choice, no_parallel) = tool_choice(choice);
            if no_parallel {
                extra.insert("parallel_tool_calls".into(), json!(false));
            }
            Some(choice)
        }
        Some(_) => {
            dropped.push("tool_choice (no tools)".into());
            None
        }
        None => None,
    };
    let stream = request.stream == Some(true);
    let chat = ChatRequest {
        model,
        messages,
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        stream: stream.then_some(true),
        stream_options: stream.then(|| json!({"include_usage": true})),
        tools: tools.filter(|_| has_tools),
        tool_choice,
        response_format: None,
        stop: request
            .stop_sequences
            .filter(|s| !s.is_empty())
            .map(|s| json!(s)),
        n: None,
        extra,
    };
    Translated { chat, dropped }
}

/// `tool_choice` in chat terms, and whether parallel calls were turned off.
fn tool_choice(choice: ToolChoice) -> (Value, bool) {
    match choice {
        ToolChoice::Auto {
            disable_parallel_tool_use,
        } => (json!("auto"), disable_parallel_tool_use == Some(true)),
        ToolChoice::Any {
            disable_parallel_tool_use,
        } => (json!("required"), disable_parallel_tool_use == Some(true)),
        ToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        } => (
            json!({"type": "function", "function": {"name": name}}),
            disable_parallel_tool_use == Some(true),
        ),
        ToolChoice::None => (json!("none"), false),
    }
}

/// One Messages turn as chat messages: a user turn's tool results first (each a `tool`
/// message), then its other content; an assistant turn's text with its tool calls.
fn push_message(message: InputMessage, out: &mut Vec<ChatMessage>, dropped: &mut Vec<String>) {
    let blocks = match message.content {
        Content::Text(text) => {
            let role = chat_role(message.role);
            out.push(ChatMessage::text(role, text));
            return;
        }
        Content::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text } => parts.push(json!({"type": "text", "text": text})),
            Block::Image { source } => match image_url(source) {
                Some(url) => parts.push(json!({"type": "image_url", "image_url": {"url": url}})),
                None => dropped.push("an image given by file id".into()),
            },
            Block::Document { source } => match document_text(&source) {
                Some(text) => parts.push(json!({"type": "text", "text": text})),
                None => dropped.push("a document that is not plain text".into()),
            },
            Block::ToolUse { id, name, input } => {
                let arguments = if input.is_null() {
                    "{}".to_owned()
                } else {
                    input.to_string()
                };
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }));
            }
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => out.push(tool_message(tool_use_id, content, is_error, dropped)),
            Block::Thinking | Block::RedactedThinking => dropped.push("thinking blocks".into()),
            Block::Other => dropped.push("a content block of an unsupported type".into()),
        }
    }
    let role = chat_role(message.role);
    if parts.is_empty() && calls.is_empty() {
        return;
    }
    let mut chat = ChatMessage::text(role, String::new());
    chat.content = content_of(parts);
    if !calls.is_empty() {
        chat.tool_calls = Some(Value::Array(calls));
    }
    out.push(chat);
}

fn chat_role(role: WireRole) -> Role {
    match role {
        WireRole::User => Role::User,
        WireRole::Assistant => Role::Assistant,
    }
}

/// Content parts as chat content: text alone becomes one string (what every chat server
/// reads); with an image, the parts list; nothing, `None`.
fn content_of(parts: Vec<Value>) -> Option<Value> {
    if parts.is_empty() {
        return None;
    }
    if parts.iter().all(|p| p["type"] == "text") {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        return Some(Value::String(texts.join("\n")));
    }
    Some(Value::Array(parts))
}

/// A `tool_result` as a `tool` message: its text (a failed tool's prefixed `Error:`); images
/// in a result cannot travel in a tool message and are dropped.
fn tool_message(
    id: String,
    content: Option<Content>,
    is_error: Option<bool>,
    dropped: &mut Vec<String>,
) -> ChatMessage {
    let text = match content {
        None => String::new(),
        Some(Content::Text(text)) => text,
        Some(Content::Blocks(blocks)) => {
            let mut texts = Vec::new();
            for block in blocks {
                match block {
                    Block::Text { text } => texts.push(text),
                    Block::Document { source } if document_text(&source).is_some() => {
                        texts.extend(document_text(&source));
                    }
                    _ => dropped.push("a non-text block in a tool_result".into()),
                }
            }
            texts.join("\n")
        }
    };
    let text = if is_error == Some(true) {
        format!("Error: {text}")
    } else {
        text
    };
    let mut message = ChatMessage::text(Role::Tool, text);
    message.tool_call_id = Some(id);
    message
}

/// A data URL for a base64 image, the URL of a URL image; `None` for a file id.
fn image_url(source: ImageSource) -> Option<String> {
    match source {
        ImageSource::Base64 { media_type, data } => {
            Some(format!("data:{media_type};base64,{data}"))
        }
        ImageSource::Url { url } => Some(url),
        ImageSource::Other => None,
    }
}

/// The text of a plain-text document source.
fn document_text(source: &Value) -> Option<String> {
    (source["type"] == "text")
        .then(|| source["data"].as_str().map(str::to_owned))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::super::wire::parse;
    use super::*;

    fn translate(body: Value) -> Translated {
        to_chat(parse(body.to_string().as_bytes()).unwrap(), "m".into())
    }

    #[test]
    fn system_blocks_images_and_sampling_fields_translate() {
        let t = translate(json!({
            "model": "claude-x", "max_tokens": 64, "temperature": 0.2, "top_p": 0.9,
            "stop_sequences": ["END"],
            "system": [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Be kind."}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
            ]}],
        }));
        let chat = t.chat;
        assert_eq!(chat.model, "m");
        assert_eq!(chat.max_tokens, Some(64));
        assert_eq!(chat.temperature, Some(0.2));
        assert_eq!(chat.extra["top_p"], 0.9);
        assert_eq!(chat.stop, Some(json!(["END"])));
        assert_eq!(chat.stream, None);
        assert_eq!(chat.messages[0].role, Role::System);
        assert_eq!(chat.messages[0].text_content(), "Be terse.\n\nBe kind.");
        let parts = chat.messages[1].content.as_ref().unwrap();
        assert_eq!(parts[0], json!({"type": "text", "text": "What is this?"}));
        assert_eq!(parts[1]["image_url"]["url"], "data:image/png;base64,iVBO");
        assert_eq!(parts[2]["image_url"]["url"], "https://x/y.png");
        assert!(t.dropped.is_empty(), "{:?}", t.dropped);
    }

    #[test]
    fn a_tool_round_trip_becomes_tool_calls_and_tool_messages() {
        let t = translate(json!({
            "model": "c", "max_tokens": 10,
            "tools": [{"name": "read", "description": "Reads a file",
                       "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
                      {"type": "web_search_20250305", "name": "web_search"}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": "read a"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Reading."},
                    {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1",
                     "content": [{"type": "text", "text": "contents"}]},
                    {"type": "text", "text": "now summarise"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_2", "name": "read", "input": {"path": "b"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "no such file", "is_error": true}]}
            ],
        }));
        let chat = t.chat;
        let tools = chat.tools.unwrap();
        assert_eq!(
            tools.as_array().unwrap().len(),
            1,
            "the server tool is dropped"
        );
        assert_eq!(tools[0]["function"]["name"], "read");
        assert_eq!(
            tools[0]["function"]["parameters"]["properties"]["path"]["type"],
            "string"
        );
        assert_eq!(chat.tool_choice, Some(json!("required")));
        assert_eq!(chat.extra["parallel_tool_calls"], false);
        let roles: Vec<Role> = chat.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::User,
                Role::Assistant,
                Role::Tool
            ]
        );
        let call = &chat.messages[1].tool_calls.as_ref().unwrap()[0];
        assert_eq!(call["id"], "toolu_1");
        assert_eq!(call["function"]["arguments"], r#"{"path":"a"}"#);
        assert_eq!(chat.messages[1].text_content(), "Reading.");
        assert_eq!(chat.messages[2].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(chat.messages[2].text_content(), "contents");
        assert_eq!(chat.messages[3].text_content(), "now summarise");
        assert_eq!(chat.messages[4].content, None);
        assert_eq!(chat.messages[5].text_content(), "Error: no such file");
        assert!(t.dropped.iter().any(|d| d.contains("web_search")));
        assert!(t.dropped.iter().any(|d| d.contains("thinking")));
    }

    #[test]
    fn tool_choices_map_and_unhonoured_fields_are_dropped_by_name() {
        let choice = |c: Value| {
            let t = translate(json!({"model": "c", "max_tokens": 1, "tool_choice": c,
                "tools": [{"name": "f", "input_schema": {"type": "object"}}],
                "messages": [{"role": "user", "content": "x"}]}));
            t.chat.tool_choice.unwrap()
        };
        assert_eq!(choice(json!({"type": "auto"})), json!("auto"));
        assert_eq!(choice(json!({"type": "none"})), json!("none"));
        assert_eq!(
            choice(json!({"type": "tool", "name": "f"})),
            json!({"type": "function", "function": {"name": "f"}})
        );
        let t = translate(json!({
            "model": "c", "max_tokens": 1, "stream": true,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "context_management": {"edits": []}, "output_config": {"effort": "high"},
            "metadata": {"user_id": "u"}, "tool_choice": {"type": "auto"},
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}],
        }));
        for field in [
            "thinking",
            "context_management",
            "output_config",
            "metadata",
            "tool_choice",
        ] {
            assert!(
                t.dropped.iter().any(|d| d.starts_with(field)),
                "{field}: {:?}",
                t.dropped
            );
        }
        assert_eq!(t.chat.stream, Some(true));
        assert_eq!(t.chat.stream_options, Some(json!({"include_usage": true})));
        assert_eq!(t.chat.messages[0].content, Some(json!("x")));
        assert!(t.chat.tools.is_none());
    }
}
