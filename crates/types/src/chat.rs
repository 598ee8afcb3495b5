//! OpenAI chat-completions request, response and stream-chunk types. Fields Fusion does not
//! interpret are kept in `extra` maps so that a passthrough never drops what a client sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A `POST /v1/chat/completions` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Every other field the client sent (top_p, seed, user, ...), carried through unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request with a system prompt (when given) and one user message.
    pub fn simple(model: impl Into<String>, system: Option<&str>, user: impl Into<String>) -> Self {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            messages.push(ChatMessage::text(Role::System, system));
        }
        messages.push(ChatMessage::text(Role::User, user));
        Self {
            model: model.into(),
            messages,
            ..Self::default()
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// One chat message. `content` is a string or an array of content parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatMessage {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    /// A plain-text message.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(Value::String(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    /// The text of the message: the string content, or the `text` parts joined by newlines.
    pub fn text_content(&self) -> String {
        match &self.content {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }

    /// Bytes of [`Self::text_content`], without building it.
    pub fn text_len(&self) -> usize {
        match &self.content {
            Some(Value::String(s)) => s.len(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(|t| t.len() + 1)
                .sum(),
            _ => 0,
        }
    }
}

/// Token counts of one call or a sum of calls.
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema,
)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// True when any count was estimated locally instead of reported by the upstream.
    #[serde(default, skip_serializing_if = "is_false")]
    pub estimated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64, estimated: bool) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            estimated,
        }
    }

    /// Adds another usage into this one; the sum is an estimate if either part was.
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        self.estimated |= other.estimated;
    }
}

/// A non-streamed chat completion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default = "chat_completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn chat_completion_object() -> String {
    "chat.completion".to_owned()
}

impl ChatResponse {
    /// The text of the first choice, or an empty string.
    pub fn first_text(&self) -> String {
        self.choices
            .first()
            .map(|c| c.message.text_content())
            .unwrap_or_default()
    }
}

/// One choice of a non-streamed completion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ChatMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `data:` event of a streamed completion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default = "chat_chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn chat_chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

impl ChatChunk {
    /// A chunk with one choice carrying `delta` (a JSON object; anything else counts as empty).
    pub fn single(
        id: &str,
        model: &str,
        created: u64,
        delta: Value,
        finish_reason: Option<&str>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            object: chat_chunk_object(),
            created,
            model: model.to_owned(),
            choices: vec![ChunkChoice {
                index: 0,
                delta: match delta {
                    Value::Object(map) => map,
                    _ => Map::new(),
                },
                finish_reason: finish_reason.map(str::to_owned),
                extra: Map::new(),
            }],
            usage: None,
            extra: Map::new(),
        }
    }

    /// The text delta of the first choice, if any.
    pub fn delta_text(&self) -> Option<&str> {
        self.choices
            .first()
            .and_then(|c| c.delta.get("content"))
            .and_then(Value::as_str)
    }
}

/// One choice of a stream chunk; `delta` is kept as JSON (role, content, tool_calls, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keeps_unknown_fields_through_a_round_trip() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"hi","x_tag":1}],
            "top_p":0.5,"tools":[{"type":"function"}],"response_format":{"type":"json_object"}}"#;
        let req: ChatRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.extra.get("top_p"), Some(&Value::from(0.5)));
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["top_p"], 0.5);
        assert_eq!(back["messages"][0]["x_tag"], 1);
        assert_eq!(back["response_format"]["type"], "json_object");
    }

    #[test]
    fn text_content_joins_text_parts() {
        let msg: ChatMessage = serde_json::from_str(
            r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"},{"type":"text","text":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(msg.text_content(), "a\nb");
    }

    #[test]
    fn usage_sum_is_estimated_when_any_part_is() {
        let mut total = Usage::new(1, 2, false);
        total.add(&Usage::new(3, 4, true));
        assert_eq!(total, Usage::new(4, 6, true));
    }
}
