//! Anthropic's Messages API, spoken natively: translates an OpenAI-shaped `ChatRequest` into a
//! `POST {base}/messages` body, and the JSON answer or SSE event stream back into OpenAI-shaped
//! `ChatResponse` / `ChatChunk` values, classifying every failure.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use eventsource_stream::{EventStreamError, Eventsource};
use fusion_types::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, ChunkChoice, Role, Usage,
};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ChunkStream;
use crate::config::ProviderConfig;
use crate::{Error, ErrorKind, Result};

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; used when the client sent none.
const DEFAULT_MAX_TOKENS: u64 = 4096;
/// Appended to the system prompt for `response_format: json_object` / `json_schema`: the
/// Messages API has no JSON mode, so JSON-only output is asked for in words.
const JSON_INSTRUCTION: &str =
    "Reply with a single valid JSON object and nothing else: no prose, no Markdown code fences.";

/// One Anthropic Messages API upstream.
pub struct AnthropicBackend {
    config: ProviderConfig,
    url: String,
    client: reqwest::Client,
}

impl AnthropicBackend {
    pub fn new(config: &ProviderConfig) -> Result<Self> {
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        Ok(Self {
            config: config.clone(),
            url: format!("{}/messages", base.trim_end_matches('/')),
            client: super::http_client(config)?,
        })
    }

    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let response = self.send(&messages_request(request, false)?).await?;
        let body = response.bytes().await.map_err(|e| self.transport(&e))?;
        parse_response(&body).map_err(|message| {
            ErrorKind::InvalidResponse {
                provider: self.config.name.clone(),
                message,
            }
            .into()
        })
    }

    pub async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream> {
        let response = self.send(&messages_request(request, true)?).await?;
        let translator = StreamTranslator::new(&self.config.name, &request.model);
        let (provider, timeout) = (self.config.name.clone(), self.config.timeout);
        Ok(translate_events(
            response.bytes_stream(),
            translator,
            move |e| Error::from_reqwest(&provider, &e, timeout),
        ))
    }

    /// Sends one request; a non-2xx answer becomes `UpstreamStatus`.
    async fn send(&self, body: &Value) -> Result<reqwest::Response> {
        let mut request = self
            .client
            .post(&self.url)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(body);
        if let Some(key) = super::api_key(&self.config)? {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(super::openai::status_error(&self.config.name, response).await)
    }

    fn transport(&self, err: &reqwest::Error) -> Error {
        Error::from_reqwest(&self.config.name, err, self.config.timeout)
    }
}

// ---- request ------------------------------------------------------------------------------

/// Translates an OpenAI-shaped request into an Anthropic Messages body.
///
/// System and developer messages are joined into the top-level `system`; consecutive messages
/// of the same role are merged (Anthropic requires alternation); `role: tool` messages become
/// `tool_result` blocks of a user message and assistant `tool_calls` become `tool_use` blocks.
fn messages_request(request: &ChatRequest, stream: bool) -> Result<Value> {
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

// ---- response -----------------------------------------------------------------------------

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
fn parse_response(body: &[u8]) -> std::result::Result<ChatResponse, String> {
    let parsed: MessagesResponse = serde_json::from_slice(body)
        .map_err(|e| format!("{e}; body: {}", super::openai::snippet(body)))?;
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
fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop", // end_turn, stop_sequence, pause_turn
    }
}

/// All input tokens: Anthropic counts cache writes and reads apart from `input_tokens`.
fn prompt_tokens(usage: &Value) -> u64 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| usage[*k].as_u64())
    .sum()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// ---- stream -------------------------------------------------------------------------------

/// Turns a byte stream of Anthropic SSE events into OpenAI-shaped chunks. Ends after
/// `message_stop`; a stream that ends before it yields `StreamCut`; an error ends the stream.
fn translate_events<S, B, E>(
    bytes: S,
    translator: StreamTranslator,
    transport: impl Fn(E) -> Error + Send + 'static,
) -> ChunkStream
where
    S: Stream<Item = std::result::Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: Send + 'static,
{
    let events = Box::pin(bytes.eventsource());
    let state = Some((events, translator, transport));
    Box::pin(futures::stream::unfold(state, |state| async move {
        let (mut events, mut translator, transport) = state?;
        while !translator.finished {
            let error = match events.next().await {
                Some(Ok(event)) => match translator.on_event(&event.event, &event.data) {
                    Ok(Some(chunk)) => {
                        return Some((Ok(chunk), Some((events, translator, transport))));
                    }
                    Ok(None) => continue,
                    Err(error) => error,
                },
                Some(Err(EventStreamError::Transport(e))) => transport(e),
                Some(Err(EventStreamError::Utf8(e))) => {
                    translator.invalid(format!("event stream is not UTF-8: {e}"))
                }
                Some(Err(EventStreamError::Parser(e))) => {
                    translator.invalid(format!("malformed event stream: {e}"))
                }
                None => ErrorKind::StreamCut {
                    provider: translator.provider.clone(),
                    message: "the event stream ended before `message_stop`".into(),
                }
                .into(),
            };
            return Some((Err(error), None));
        }
        None
    }))
}

/// The state of one streamed answer: ids, usage so far, and which Anthropic content block
/// is which OpenAI tool call.
struct StreamTranslator {
    provider: String,
    id: String,
    model: String,
    created: u64,
    prompt_tokens: u64,
    /// Anthropic content-block index → OpenAI `tool_calls[].index`.
    tool_indices: HashMap<u64, usize>,
    finished: bool,
}

impl StreamTranslator {
    fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            id: String::new(),
            model: model.to_owned(),
            created: now_secs(),
            prompt_tokens: 0,
            tool_indices: HashMap::new(),
            finished: false,
        }
    }

    /// Translates one SSE event into at most one chunk.
    fn on_event(&mut self, name: &str, data: &str) -> Result<Option<ChatChunk>> {
        if data.trim().is_empty() {
            return Ok(None);
        }
        let event: Value = serde_json::from_str(data)
            .map_err(|e| self.invalid(format!("event `{name}` is not JSON: {e}")))?;
        let kind = event["type"].as_str().unwrap_or(name);
        let chunk = match kind {
            "message_start" => {
                let message = &event["message"];
                if let Some(id) = message["id"].as_str() {
                    self.id = id.to_owned();
                }
                if let Some(model) = message["model"].as_str() {
                    self.model = model.to_owned();
                }
                self.prompt_tokens = prompt_tokens(&message["usage"]);
                Some(self.chunk(json!({"role": "assistant", "content": ""}), None, None))
            }
            "content_block_start" => {
                let block = &event["content_block"];
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let index = self.tool_indices.len();
                        let key = event["index"].as_u64().unwrap_or_default();
                        self.tool_indices.insert(key, index);
                        let call = json!({"index": index, "id": block["id"], "type": "function",
                            "function": {"name": block["name"], "arguments": ""}});
                        Some(self.chunk(json!({"tool_calls": [call]}), None, None))
                    }
                    Some("text") => block["text"]
                        .as_str()
                        .filter(|t| !t.is_empty())
                        .map(|text| self.chunk(json!({"content": text}), None, None)),
                    _ => None,
                }
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        Some(self.chunk(json!({"content": delta["text"]}), None, None))
                    }
                    Some("input_json_delta") => {
                        let key = event["index"].as_u64().unwrap_or_default();
                        let partial = delta["partial_json"].as_str().unwrap_or_default();
                        let index = self.tool_indices.get(&key).filter(|_| !partial.is_empty());
                        index.map(|index| {
                            let call = json!({"index": index, "function": {"arguments": partial}});
                            self.chunk(json!({"tool_calls": [call]}), None, None)
                        })
                    }
                    _ => None, // thinking_delta, signature_delta, ...
                }
            }
            "message_delta" => {
                let usage = &event["usage"];
                if usage.get("input_tokens").is_some() {
                    self.prompt_tokens = prompt_tokens(usage);
                }
                let output = usage["output_tokens"].as_u64().unwrap_or(0);
                let reason = finish_reason(event["delta"]["stop_reason"].as_str());
                let usage = Usage::new(self.prompt_tokens, output, false);
                Some(self.chunk(json!({}), Some(reason), Some(usage)))
            }
            "message_stop" => {
                self.finished = true;
                None
            }
            "error" => return Err(self.error_event(&event["error"])),
            _ => None, // ping, content_block_stop, future event types
        };
        Ok(chunk)
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<Usage>) -> ChatChunk {
        let delta = match delta {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
                extra: Map::new(),
            }],
            usage,
            extra: Map::new(),
        }
    }

    /// An in-stream `error` event, classified like the HTTP status Anthropic uses for its type.
    fn error_event(&self, error: &Value) -> Error {
        let kind = error["type"].as_str().unwrap_or_default();
        let status = match kind {
            "invalid_request_error" => 400,
            "authentication_error" => 401,
            "permission_error" => 403,
            "not_found_error" => 404,
            "request_too_large" => 413,
            "rate_limit_error" => 429,
            "timeout_error" => 504,
            "overloaded_error" => 529,
            _ => 500, // api_error and unknown types
        };
        let message = error["message"].as_str().unwrap_or(kind);
        ErrorKind::UpstreamStatus {
            provider: self.provider.clone(),
            status,
            message: format!("in stream: {message}"),
            retry_after: None,
        }
        .into()
    }

    fn invalid(&self, message: String) -> Error {
        ErrorKind::InvalidResponse {
            provider: self.provider.clone(),
            message,
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn request(body: Value) -> ChatRequest {
        serde_json::from_value(body).unwrap()
    }

    fn config(base_url: Option<String>) -> ProviderConfig {
        let mut config: ProviderConfig =
            serde_json::from_value(json!({"name": "claude", "kind": "anthropic"})).unwrap();
        config.base_url = base_url;
        config.api_key = Some("sk-test".into());
        config
    }

    /// Collects every item of a translated stream fed from `sse` in 7-byte pieces.
    async fn translate(sse: &str) -> Vec<Result<ChatChunk>> {
        let pieces: Vec<std::result::Result<Vec<u8>, std::io::Error>> =
            sse.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
        let translator = StreamTranslator::new("claude", "claude-requested");
        let stream = translate_events(futures::stream::iter(pieces), translator, |e| {
            ErrorKind::Invalid(e.to_string()).into()
        });
        stream.collect().await
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

    const TEXT_STREAM: &str = "event: message_start\n\
data: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\", \"type\": \"message\", \"role\": \"assistant\", \"content\": [], \"model\": \"claude-sonnet-4-5-20250929\", \"stop_reason\": null, \"stop_sequence\": null, \"usage\": {\"input_tokens\": 25, \"output_tokens\": 1}}}\n\n\
event: content_block_start\n\
data: {\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": \"text\", \"text\": \"\"}}\n\n\
event: ping\n\
data: {\"type\": \"ping\"}\n\n\
event: content_block_delta\n\
data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"Hello\"}}\n\n\
event: content_block_delta\n\
data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"!\"}}\n\n\
event: content_block_stop\n\
data: {\"type\": \"content_block_stop\", \"index\": 0}\n\n\
event: message_delta\n\
data: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"end_turn\", \"stop_sequence\":null}, \"usage\": {\"output_tokens\": 15}}\n\n";

    #[tokio::test]
    async fn text_stream_becomes_role_content_and_final_usage_chunks() {
        let sse =
            format!("{TEXT_STREAM}event: message_stop\ndata: {{\"type\": \"message_stop\"}}\n\n");
        let chunks: Vec<ChatChunk> = translate(&sse)
            .await
            .into_iter()
            .map(|c| c.unwrap())
            .collect();
        assert_eq!(chunks.len(), 4, "{chunks:?}");
        assert!(
            chunks
                .iter()
                .all(|c| c.id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
                    && c.model == "claude-sonnet-4-5-20250929"
                    && c.object == "chat.completion.chunk")
        );
        assert_eq!(chunks[0].choices[0].delta["role"], "assistant");
        let text: String = chunks.iter().filter_map(ChatChunk::delta_text).collect();
        assert_eq!(text, "Hello!");
        let last = &chunks[3];
        assert_eq!(last.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(last.usage, Some(Usage::new(25, 15, false)));
    }

    #[tokio::test]
    async fn tool_use_stream_becomes_tool_call_deltas() {
        let sse = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"Paris\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"#;
        let chunks: Vec<ChatChunk> = translate(sse)
            .await
            .into_iter()
            .map(|c| c.unwrap())
            .collect();
        let calls: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c.choices[0].delta.get("tool_calls"))
            .map(|calls| &calls[0])
            .collect();
        assert_eq!(calls.len(), 3, "{chunks:?}");
        assert_eq!(calls[0]["index"], 0);
        assert_eq!(calls[0]["id"], "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
        assert_eq!(calls[0]["function"]["name"], "get_weather");
        let args: String = calls
            .iter()
            .filter_map(|c| c["function"]["arguments"].as_str())
            .collect();
        assert_eq!(args, "{\"location\": \"Paris\"}");
        let last = chunks.last().unwrap();
        assert_eq!(last.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(last.usage, Some(Usage::new(472, 89, false)));
    }

    #[tokio::test]
    async fn stream_ending_before_message_stop_is_cut() {
        let items = translate(TEXT_STREAM).await;
        let err = items.last().unwrap().as_ref().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::StreamCut { .. }), "{err}");
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn error_event_becomes_an_overloaded_upstream_status() {
        let sse = "event: error\n\
data: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
        let items = translate(sse).await;
        assert_eq!(items.len(), 1);
        let err = items[0].as_ref().unwrap_err();
        match err.kind() {
            ErrorKind::UpstreamStatus {
                status, message, ..
            } => {
                assert_eq!(*status, 529);
                assert!(message.contains("Overloaded"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn missing_api_key_env_is_reported_before_any_request() {
        let mut config = config(Some("http://127.0.0.1:9/v1".into()));
        config.api_key = None;
        config.api_key_env = Some("FUSION_TEST_SURELY_UNSET_ANTHROPIC_KEY".into());
        let backend = AnthropicBackend::new(&config).unwrap();
        let err = backend
            .chat(&ChatRequest::simple("m", None, "hi"))
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::MissingApiKey { .. }),
            "{err}"
        );
    }

    /// Answers one HTTP request with `response`; the handle yields the raw request.
    async fn serve_once(response: String) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
                let Some(end) = text.find("\r\n\r\n") else {
                    continue;
                };
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                if n == 0 || raw.len() >= end + 4 + length {
                    break;
                }
            }
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
            String::from_utf8_lossy(&raw).into_owned()
        });
        (url, handle)
    }

    fn http(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn chat_posts_to_messages_with_key_and_version_headers() {
        let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
            "content":[{"type":"text","text":"Paris."}],"stop_reason":"end_turn",
            "usage":{"input_tokens":12,"output_tokens":3}}"#;
        let (url, seen) = serve_once(http("200 OK", "", body)).await;
        let backend = AnthropicBackend::new(&config(Some(url))).unwrap();
        let response = backend
            .chat(&ChatRequest::simple(
                "claude-x",
                Some("Terse."),
                "Capital of France?",
            ))
            .await
            .unwrap();
        assert_eq!(response.first_text(), "Paris.");
        assert_eq!(response.usage, Some(Usage::new(12, 3, false)));
        let raw = seen.await.unwrap();
        let lower = raw.to_ascii_lowercase();
        assert!(raw.starts_with("POST /v1/messages HTTP/1.1"), "{raw}");
        assert!(lower.contains("x-api-key: sk-test"), "{raw}");
        assert!(lower.contains("anthropic-version: 2023-06-01"), "{raw}");
        assert!(lower.contains("content-type: application/json"), "{raw}");
        assert!(raw.contains(r#""system":"Terse.""#), "{raw}");
    }

    #[tokio::test]
    async fn error_status_carries_upstream_message_and_retry_after() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;
        let (url, _seen) =
            serve_once(http("429 Too Many Requests", "retry-after: 17\r\n", body)).await;
        let backend = AnthropicBackend::new(&config(Some(url))).unwrap();
        let err = backend
            .chat(&ChatRequest::simple("m", None, "hi"))
            .await
            .unwrap_err();
        match err.kind() {
            ErrorKind::UpstreamStatus {
                status,
                message,
                retry_after,
                ..
            } => {
                assert_eq!(*status, 429);
                assert!(message.starts_with("Number of request tokens"), "{message}");
                assert_eq!(*retry_after, Some(17));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn chat_stream_reads_sse_over_http() {
        let sse =
            format!("{TEXT_STREAM}event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n");
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{sse}"
        );
        let (url, seen) = serve_once(response).await;
        let backend = AnthropicBackend::new(&config(Some(url))).unwrap();
        let stream = backend
            .chat_stream(&ChatRequest::simple("m", None, "hi"))
            .await
            .unwrap();
        let chunks: Vec<ChatChunk> = stream.map(|c| c.unwrap()).collect().await;
        let text: String = chunks.iter().filter_map(ChatChunk::delta_text).collect();
        assert_eq!(text, "Hello!");
        assert!(seen.await.unwrap().contains(r#""stream":true"#));
    }
}
