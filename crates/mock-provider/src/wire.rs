//! OpenAI wire shapes the mock writes: completions, stream chunks, the model list and the
//! `{"error": {...}}` body, plus the helpers that turn them into HTTP responses. They borrow
//! everything so a response costs one buffer.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Token counts; the mock counts whitespace-separated words.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub(crate) fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// A `chat.completion` object.
#[derive(Serialize)]
pub(crate) struct Completion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: &'a [Choice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Serialize)]
pub(crate) struct Choice<'a> {
    pub index: u32,
    pub message: Message<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: &'static str,
}

#[derive(Serialize)]
pub(crate) struct Message<'a> {
    pub role: &'static str,
    /// `null` when the message carries tool calls.
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<&'a [ToolCall]>,
}

/// One OpenAI tool call: `{"id", "type": "function", "function": {"name", "arguments"}}`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: Function,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Function {
    pub name: String,
    /// The arguments' JSON text.
    pub arguments: String,
}

impl ToolCall {
    /// The scripted calls on the wire, with ids `call_<completion id>_<n>`.
    pub(crate) fn from_script(completion: &str, calls: &[crate::script::ToolCall]) -> Vec<Self> {
        let id = completion.trim_start_matches("chatcmpl-");
        calls
            .iter()
            .enumerate()
            .map(|(n, call)| Self {
                id: format!("call_{id}_{n}"),
                kind: "function",
                function: Function {
                    name: call.name.clone(),
                    arguments: call.arguments_text(),
                },
            })
            .collect()
    }
}

/// A `chat.completion.chunk` object.
#[derive(Serialize)]
pub(crate) struct Chunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: &'a [ChunkChoice<'a>],
    /// Absent unless the client asked for usage; then `null` except on the usage chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
pub(crate) struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: Delta<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'static str>,
}

#[derive(Default, Serialize)]
pub(crate) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<[DeltaToolCall<'a>; 1]>,
}

/// A fragment of one streamed tool call: the first carries its id, type and name, the next
/// ones pieces of its arguments (concatenated by the client).
#[derive(Serialize)]
pub(crate) struct DeltaToolCall<'a> {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: DeltaFunction<'a>,
}

#[derive(Serialize)]
pub(crate) struct DeltaFunction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

/// `GET /v1/models` body.
#[derive(Serialize)]
pub(crate) struct ModelList<'a> {
    pub object: &'static str,
    pub data: Vec<ModelEntry<'a>>,
}

#[derive(Serialize)]
pub(crate) struct ModelEntry<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
    /// OpenRouter-style catalog fields, when the script gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u32>,
    /// vLLM's name for the context length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<&'a crate::script::Pricing>,
}

/// Ollama's `GET /api/tags` listing.
#[derive(Serialize)]
pub(crate) struct Tags<'a> {
    pub models: Vec<Tag<'a>>,
}

#[derive(Serialize)]
pub(crate) struct Tag<'a> {
    pub name: &'a str,
    pub model: &'a str,
}

/// An OpenAI-shaped error: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Serialize)]
pub(crate) struct ApiError<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}

impl ApiError<'_> {
    /// The error response with `status`; `retry_after` adds a `Retry-After` header (seconds).
    pub(crate) fn into_response(self, status: StatusCode, retry_after: Option<u64>) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: ApiError<'a>,
        }
        let mut response = json_response(status, &Body { error: self });
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The OpenAI error `type` and `code` that go with an HTTP status.
pub(crate) fn error_kind(status: StatusCode) -> (&'static str, Option<&'static str>) {
    match status.as_u16() {
        401 => ("authentication_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        429 => ("requests", Some("rate_limit_exceeded")),
        400..=499 => ("invalid_request_error", None),
        _ => ("server_error", None),
    }
}

/// Serializes `value` as a JSON response; a serialization failure becomes a plain 500.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, JSON)], body).into_response(),
        Err(err) => {
            tracing::error!(%err, "cannot serialize mock response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
