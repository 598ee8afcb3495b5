//! Raw passthrough of Anthropic's Messages API: a body as the client wrote it (only `model`
//! replaced by the upstream's id) sent to a model whose provider speaks Messages natively, and
//! the answer handed back as the upstream wrote it — a streamed one byte for byte as it arrives,
//! unknown fields and events included. The call is accounted like every other: a provider
//! slot, the timeout, retries until the upstream accepts it, the model's health and limits, and
//! a ledger row with the usage the answer reported (read from its `usage` fields on the way).

use std::pin::Pin;

use bytes::Bytes;
use fusion_types::Usage;
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;

use super::accounting::{CallOutcome, CallRecord};
use super::registry::{
    ModelEntry, acquire, elapsed_ms, record_failure, record_success, timeout_error,
};
use super::sse_lines::BoundedLines;
use super::{Backend, ProviderRegistry, limits, retry};
use crate::config::ProviderConfig;
use crate::{Error, ErrorKind, Result};

/// The upstream's answer bytes, streamed as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// What a passthrough call answered.
pub struct RawAnswer {
    /// The upstream's `Content-Type`.
    pub content_type: Option<String>,
    pub body: RawBody,
    /// Fusion's id of the model that answered, and its provider.
    pub model: String,
    pub provider: String,
}

/// A whole body, or a stream (SSE) relayed as it comes.
pub enum RawBody {
    Whole(Bytes),
    Stream(ByteStream),
}

impl ProviderRegistry {
    /// Whether `model_id` is served by a provider that speaks Anthropic's Messages API.
    pub fn speaks_messages(&self, model_id: &str) -> bool {
        self.resolve(model_id)
            .is_ok_and(|(_, handle)| matches!(handle.backend, Backend::Anthropic(_)))
    }

    /// One Messages API call passed through to `model_id`'s Anthropic provider: `body` is the
    /// client's, `forward` the client's `anthropic-version` / `anthropic-beta` headers. A body
    /// with `"stream": true` is answered as a byte stream.
    pub async fn messages_passthrough(
        &self,
        model_id: &str,
        mut body: Value,
        forward: &[(String, String)],
    ) -> Result<RawAnswer> {
        let (slot, handle) = self.resolve(model_id)?;
        let Backend::Anthropic(backend) = &handle.backend else {
            return Err(ErrorKind::Invalid(format!(
                "model `{model_id}` is served by provider `{}`, which does not speak Anthropic's \
                 Messages API",
                slot.entry.provider
            ))
            .into());
        };
        let mut record = self.record(&slot);
        let entry = &slot.entry;
        if let Some(object) = body.as_object_mut() {
            object.insert("model".into(), Value::String(entry.upstream_model.clone()));
        }
        let streamed = body.get("stream").and_then(Value::as_bool) == Some(true);
        let config = &handle.config;
        let mut attempt = 0u32;
        loop {
            let permit = acquire(handle).await?;
            let (result, stated) = limits::observing(async {
                match tokio::time::timeout(config.timeout, backend.send_raw(&body, forward)).await {
                    Ok(result) => result,
                    Err(_) => Err(timeout_error(config)),
                }
            })
            .await;
            self.note_answer(&slot, result.as_ref().err(), stated.as_ref());
            let response = match result {
                Ok(response) => response,
                Err(err)
                    if err.is_retryable()
                        && attempt < config.retries
                        && self.may_retry(&slot, &err) =>
                {
                    drop(permit);
                    let wait = retry::backoff(attempt, err.retry_after());
                    tracing::info!(model = model_id, attempt = attempt + 1, error = %err,
                        "retrying Messages passthrough");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    continue;
                }
                Err(err) => {
                    record_failure(entry, &err);
                    record.finish(CallOutcome::Failed(&err));
                    return Err(err);
                }
            };
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = if streamed {
                RawBody::Stream(relayed(response, permit, config.clone(), record))
            } else {
                let read =
                    super::body::read_capped(config, response, config.response_limit()).await;
                drop(permit);
                match read {
                    Ok(bytes) => {
                        let usage = whole_usage(&bytes);
                        record_success(entry, &usage, record.started);
                        record.finish(CallOutcome::Ok(&usage));
                        tracing::debug!(model = model_id, provider = %entry.provider,
                            latency_ms = elapsed_ms(record.started), "Messages passthrough finished");
                        RawBody::Whole(bytes)
                    }
                    Err(err) => {
                        record_failure(entry, &err);
                        record.finish(CallOutcome::Failed(&err));
                        return Err(err);
                    }
                }
            };
            return Ok(RawAnswer {
                content_type,
                body,
                model: entry.id.clone(),
                provider: entry.provider.clone(),
            });
        }
    }
}

/// Usage of a whole Messages answer (all input tokens, cache reads and writes included).
fn whole_usage(body: &[u8]) -> Usage {
    let usage = serde_json::from_slice::<Value>(body)
        .ok()
        .map(|v| v["usage"].clone())
        .unwrap_or(Value::Null);
    Usage::new(input_tokens(&usage), output_tokens(&usage), false)
}

fn input_tokens(usage: &Value) -> u64 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| usage[*k].as_u64())
    .sum()
}

fn output_tokens(usage: &Value) -> u64 {
    usage["output_tokens"].as_u64().unwrap_or(0)
}

/// Relays the upstream's bytes as they come, holding the provider slot until the stream ends
/// or is dropped; a gap between pieces longer than the provider's timeout, or a line longer
/// than its `max_response_bytes`, ends it with an error. The usage events are read on the way
/// and the call is reported when the stream ends: a success after `message_stop`, a failure on
/// an `error` event or an early end, cancelled when the client went away first.
fn relayed(
    response: reqwest::Response,
    permit: OwnedSemaphorePermit,
    config: ProviderConfig,
    record: CallRecord,
) -> ByteStream {
    let limit = config.response_limit();
    let provider = config.name.clone();
    let pieces = super::body::CappedLines::new(Box::pin(response.bytes_stream()), limit);
    let open = Relay {
        pieces: Box::pin(pieces),
        _permit: permit,
        config,
        record,
        scan: UsageScan::default(),
        provider,
    };
    Box::pin(futures::stream::unfold(Some(open), |state| async move {
        let mut open = state?;
        match tokio::time::timeout(open.config.timeout, open.pieces.next()).await {
            Ok(Some(Ok(piece))) => {
                open.scan.feed(&piece);
                open.record.usage = open.scan.usage;
                Some((Ok(piece), Some(open)))
            }
            Ok(Some(Err(super::body::CappedError::Upstream(e)))) => {
                let err = Error::from_reqwest(&open.provider, &e, open.config.timeout);
                open.fail(err)
            }
            Ok(Some(Err(super::body::CappedError::LineTooLong(too_long)))) => {
                let err = ErrorKind::ResponseTooLarge {
                    provider: open.provider.clone(),
                    limit: too_long.0,
                }
                .into();
                open.fail(err)
            }
            Ok(None) => open.finish().map(|err| (Err(err), None)),
            Err(_) => {
                let err = timeout_error(&open.config);
                open.fail(err)
            }
        }
    }))
}

type Pieces = Pin<
    Box<
        dyn Stream<Item = std::result::Result<Bytes, super::body::CappedError<reqwest::Error>>>
            + Send,
    >,
>;

struct Relay {
    pieces: Pieces,
    _permit: OwnedSemaphorePermit,
    config: ProviderConfig,
    record: CallRecord,
    scan: UsageScan,
    provider: String,
}

impl Relay {
    fn entry(&self) -> &ModelEntry {
        self.record.entry()
    }

    fn fail(mut self, err: Error) -> Option<(Result<Bytes>, Option<Relay>)> {
        record_failure(self.entry(), &err);
        self.record.finish(CallOutcome::Failed(&err));
        Some((Err(err), None))
    }

    /// The upstream closed the stream: how it ended decides the outcome. An end before
    /// `message_stop` that the upstream did not announce with an `error` event is returned, for
    /// the client to be told.
    fn finish(mut self) -> Option<Error> {
        let usage = self.scan.usage;
        let failure = match (&self.scan.error, self.scan.stopped) {
            (Some(message), _) => Some(format!("the upstream sent an error event: {message}")),
            (None, true) => None,
            (None, false) => Some("the event stream ended before `message_stop`".to_owned()),
        };
        let Some(message) = failure else {
            record_success(self.entry(), &usage, self.record.started);
            self.record.finish(CallOutcome::Ok(&usage));
            return None;
        };
        let err: Error = ErrorKind::StreamCut {
            provider: self.provider.clone(),
            message,
        }
        .into();
        record_failure(self.entry(), &err);
        self.record.finish(CallOutcome::Failed(&err));
        self.scan.error.is_none().then_some(err)
    }
}

/// Reads usage and the ending from an SSE byte stream without holding more than one short
/// line: `message_start` (input tokens), `message_delta` (output tokens, and input tokens when
/// restated), `message_stop`, `error`.
#[derive(Default)]
struct UsageScan {
    lines: BoundedLines,
    usage: Usage,
    stopped: bool,
    error: Option<String>,
}

impl UsageScan {
    fn feed(&mut self, piece: &[u8]) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.feed(piece, |line| self.on_line(line));
        self.lines = lines;
    }

    fn on_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        match event["type"].as_str() {
            Some("message_start") => {
                let usage = &event["message"]["usage"];
                self.usage.prompt_tokens = input_tokens(usage);
                self.usage.completion_tokens = output_tokens(usage);
            }
            Some("message_delta") => {
                let usage = &event["usage"];
                if usage.get("input_tokens").is_some() {
                    self.usage.prompt_tokens = input_tokens(usage);
                }
                if let Some(out) = usage["output_tokens"].as_u64() {
                    self.usage.completion_tokens = out;
                }
            }
            Some("message_stop") => self.stopped = true,
            Some("error") => {
                let message = event["error"]["message"].as_str().unwrap_or("no message");
                self.error = Some(message.to_owned());
            }
            _ => {}
        }
        self.usage.total_tokens = self.usage.prompt_tokens + self.usage.completion_tokens;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn usage_is_read_from_a_stream_split_anywhere() {
        for cut in [1, 7, 50, 123, STREAM.len() - 1] {
            let mut scan = UsageScan::default();
            scan.feed(&STREAM.as_bytes()[..cut]);
            scan.feed(&STREAM.as_bytes()[cut..]);
            assert_eq!(scan.usage, Usage::new(15, 7, false), "cut at {cut}");
            assert!(scan.stopped);
            assert!(scan.error.is_none());
        }
    }

    #[test]
    fn an_error_event_is_noticed_and_long_lines_are_skipped_unread() {
        let mut scan = UsageScan::default();
        let long = format!(
            "data: {}\n",
            "x".repeat(super::super::sse_lines::SCAN_LINE_BYTES * 2)
        );
        scan.feed(long.as_bytes());
        scan.feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
        assert_eq!(scan.error.as_deref(), Some("Overloaded"));
        assert!(!scan.stopped);
    }

    #[test]
    fn a_whole_answer_reports_its_usage() {
        let body = br#"{"content":[],"usage":{"input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":3}}"#;
        assert_eq!(whole_usage(body), Usage::new(7, 3, false));
    }
}
