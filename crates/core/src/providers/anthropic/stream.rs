//! Anthropic SSE event stream → OpenAI-shaped `ChatChunk`s: the per-answer translator state
//! (ids, usage, tool-call indices), in-stream error classification and stream-cut detection.

use std::collections::HashMap;

use eventsource_stream::EventStreamError;
use fusion_types::{ChatChunk, Usage};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use super::response::{finish_reason, now_secs, prompt_tokens};
use crate::providers::ChunkStream;
use crate::{Error, ErrorKind, Result};

/// Turns a byte stream of Anthropic SSE events into OpenAI-shaped chunks. Ends after
/// `message_stop`; a stream that ends before it yields `StreamCut`; an error ends the stream.
pub(super) fn translate_events<S, B, E>(
    bytes: S,
    translator: StreamTranslator,
    transport: impl Fn(E) -> Error + Send + 'static,
) -> ChunkStream
where
    S: Stream<Item = std::result::Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: Send + 'static,
{
    let events = Box::pin(crate::providers::sse::events(bytes));
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
pub(super) struct StreamTranslator {
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
    pub(super) fn new(provider: &str, model: &str) -> Self {
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
        let mut chunk = ChatChunk::single(&self.id, &self.model, self.created, delta, finish);
        chunk.usage = usage;
        chunk
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
pub(super) mod tests {
    use super::*;

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

    /// A text answer without its closing `message_stop` (also used by the HTTP tests).
    pub(in crate::providers::anthropic) const TEXT_STREAM: &str = "event: message_start\n\
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
}
