//! Raw passthrough of the OpenAI-wire endpoints besides chat: `responses` (to a provider marked
//! `responses = true`), `embeddings` and the legacy `completions`. The client's body (only
//! `model` replaced by the upstream's id) is posted to `{base_url}/{path}` of the model's
//! `kind = "openai"` provider and the answer handed back as the upstream wrote it, a stream
//! relayed piece by piece as it arrives. The call is accounted like a chat call: a provider
//! slot, the timeout, retries until the upstream accepts it, the model's health and limits, and
//! a ledger row with the usage the answer reported (`usage` of a whole answer; the `usage` of a
//! completion chunk or of `response.completed` in a stream), else estimated and marked so.

use bytes::Bytes;
use fusion_types::Usage;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;

use super::accounting::{CallOutcome, CallRecord};
use super::passthrough::{ByteStream, RawAnswer, RawBody};
use super::registry::{acquire, elapsed_ms, record_failure, record_success, timeout_error};
use super::sse_lines::BoundedLines;
use super::{Backend, ProviderRegistry, limits, retry};
use crate::config::ProviderConfig;
use crate::{Error, ErrorKind, Result};

/// Which endpoint of an OpenAI-compatible server a raw body goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawPath {
    /// `POST {base_url}/responses`: OpenAI's Responses API.
    Responses,
    /// `POST {base_url}/embeddings`.
    Embeddings,
    /// `POST {base_url}/completions`: legacy text completions (fill-in-the-middle).
    Completions,
}

impl RawPath {
    /// The path under the provider's `base_url`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Responses => "responses",
            Self::Embeddings => "embeddings",
            Self::Completions => "completions",
        }
    }
}

impl ProviderRegistry {
    /// Whether `model_id` is served by a provider marked as speaking OpenAI's Responses API.
    pub fn speaks_responses(&self, model_id: &str) -> bool {
        self.resolve(model_id).is_ok_and(|(_, handle)| {
            matches!(handle.backend, Backend::OpenAi(_)) && handle.config.responses
        })
    }

    /// One call passed through to `model_id`'s OpenAI-compatible provider at `path`: `body` is
    /// the client's. A body with `"stream": true` is answered as a byte stream.
    pub async fn raw_passthrough(
        &self,
        model_id: &str,
        path: RawPath,
        mut body: Value,
    ) -> Result<RawAnswer> {
        let (slot, handle) = self.resolve(model_id)?;
        let Backend::OpenAi(backend) = &handle.backend else {
            return Err(ErrorKind::Invalid(format!(
                "model `{model_id}` is served by provider `{}`, which is not an OpenAI-compatible \
                 server (kind = \"openai\"); /v1/{} needs one",
                slot.entry.provider,
                path.as_str()
            ))
            .into());
        };
        let mut record = self.record(&slot);
        let entry = &slot.entry;
        if let Some(object) = body.as_object_mut() {
            object.insert("model".into(), Value::String(entry.upstream_model.clone()));
        }
        let input_bytes = input_bytes(&body);
        let streamed = body.get("stream").and_then(Value::as_bool) == Some(true);
        let config = &handle.config;
        let mut attempt = 0u32;
        loop {
            let permit = acquire(handle).await?;
            let (result, stated) = limits::observing(async {
                match tokio::time::timeout(config.timeout, backend.send_raw(path.as_str(), &body))
                    .await
                {
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
                    tracing::info!(model = model_id, path = path.as_str(), attempt = attempt + 1,
                        error = %err, "retrying raw passthrough");
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
                RawBody::Stream(relayed(
                    response,
                    permit,
                    config.clone(),
                    record,
                    input_bytes,
                ))
            } else {
                let read =
                    super::body::read_capped(config, response, config.response_limit()).await;
                drop(permit);
                match read {
                    Ok(bytes) => {
                        let usage = whole_usage(&bytes, input_bytes);
                        record_success(entry, &usage, record.started);
                        record.finish(CallOutcome::Ok(&usage));
                        tracing::debug!(model = model_id, provider = %entry.provider,
                            path = path.as_str(), latency_ms = elapsed_ms(record.started),
                            "raw passthrough finished");
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

/// Bytes of the request's input (`input` of Responses and embeddings, `prompt` of
/// completions, plus `instructions`), for an estimate when the upstream reports no usage.
fn input_bytes(body: &Value) -> usize {
    ["input", "prompt", "instructions", "suffix"]
        .iter()
        .map(|key| match &body[*key] {
            Value::Null => 0,
            Value::String(text) => text.len(),
            other => other.to_string().len(),
        })
        .sum()
}

/// Tokens for `bytes` of text by the 4-bytes-per-token rule.
fn estimated_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// A `usage` object of any of the three wires: `prompt_tokens` / `completion_tokens` (chat,
/// completions, embeddings) or `input_tokens` / `output_tokens` (Responses).
fn read_usage(usage: &Value) -> Option<Usage> {
    let input = usage["prompt_tokens"]
        .as_u64()
        .or_else(|| usage["input_tokens"].as_u64())?;
    let output = usage["completion_tokens"]
        .as_u64()
        .or_else(|| usage["output_tokens"].as_u64())
        .unwrap_or(0);
    Some(Usage::new(input, output, false))
}

/// Usage of a whole answer: its own, else estimated from the input and the answer's text.
fn whole_usage(body: &[u8], input_bytes: usize) -> Usage {
    let answer = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    if let Some(usage) = read_usage(&answer["usage"]) {
        return usage;
    }
    let output_bytes = match answer["output_text"].as_str() {
        Some(text) => text.len(),
        None => answer["choices"].as_array().map_or(0, |c| {
            c.iter()
                .filter_map(|c| c["text"].as_str())
                .map(str::len)
                .sum()
        }),
    };
    Usage::new(
        estimated_tokens(input_bytes),
        estimated_tokens(output_bytes),
        true,
    )
}

/// Relays the upstream's bytes as they come, holding the provider slot until the stream ends
/// or is dropped; a gap between pieces longer than the provider's timeout, or a line longer
/// than its `max_response_bytes`, ends it with an error. Usage is read on the way and the call
/// reported when the stream ends: a success after `[DONE]` or a Responses terminal event, a
/// failure on an error event or an early end, cancelled when the client went away first.
fn relayed(
    response: reqwest::Response,
    permit: OwnedSemaphorePermit,
    config: ProviderConfig,
    record: CallRecord,
    input_bytes: usize,
) -> ByteStream {
    let limit = config.response_limit();
    let pieces = super::body::CappedLines::new(Box::pin(response.bytes_stream()), limit);
    let open = Relay {
        pieces: Box::pin(pieces),
        _permit: permit,
        config,
        record,
        scan: UsageScan {
            input_bytes,
            ..UsageScan::default()
        },
    };
    Box::pin(futures::stream::unfold(Some(open), |state| async move {
        let mut open = state?;
        match tokio::time::timeout(open.config.timeout, open.pieces.next()).await {
            Ok(Some(Ok(piece))) => {
                open.scan.feed(&piece);
                open.record.usage = open.scan.usage();
                Some((Ok(piece), Some(open)))
            }
            Ok(Some(Err(super::body::CappedError::Upstream(e)))) => {
                let err = Error::from_reqwest(&open.config.name, &e, open.config.timeout);
                open.fail(err)
            }
            Ok(Some(Err(super::body::CappedError::LineTooLong(too_long)))) => {
                let err = ErrorKind::ResponseTooLarge {
                    provider: open.config.name.clone(),
                    limit: too_long.0,
                }
                .into();
                open.fail(err)
            }
            Ok(None) => {
                open.finish();
                None
            }
            Err(_) => {
                let err = timeout_error(&open.config);
                open.fail(err)
            }
        }
    }))
}

type Pieces = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = std::result::Result<Bytes, super::body::CappedError<reqwest::Error>>,
            > + Send,
    >,
>;

struct Relay {
    pieces: Pieces,
    _permit: OwnedSemaphorePermit,
    config: ProviderConfig,
    record: CallRecord,
    scan: UsageScan,
}

impl Relay {
    fn fail(mut self, err: Error) -> Option<(Result<Bytes>, Option<Relay>)> {
        record_failure(self.record.entry(), &err);
        self.record.finish(CallOutcome::Failed(&err));
        Some((Err(err), None))
    }

    /// The upstream closed the stream: how it ended decides the outcome.
    fn finish(mut self) {
        let usage = self.scan.usage();
        let failure = match (&self.scan.error, self.scan.stopped) {
            (Some(message), _) => Some(format!("the upstream sent an error event: {message}")),
            (None, true) => None,
            (None, false) => Some("the event stream ended before its last event".to_owned()),
        };
        match failure {
            None => {
                record_success(self.record.entry(), &usage, self.record.started);
                self.record.finish(CallOutcome::Ok(&usage));
            }
            Some(message) => {
                let err: Error = ErrorKind::StreamCut {
                    provider: self.config.name.clone(),
                    message,
                }
                .into();
                record_failure(self.record.entry(), &err);
                self.record.finish(CallOutcome::Failed(&err));
            }
        }
    }
}

/// Reads usage and the ending from an OpenAI-wire SSE byte stream without holding more than
/// one short line: `data: [DONE]` (completions), `response.completed` / `.incomplete`
/// (Responses, with the usage), a `usage` on a chunk, `error` / `response.failed`.
#[derive(Default)]
struct UsageScan {
    lines: BoundedLines,
    reported: Option<Usage>,
    input_bytes: usize,
    /// Bytes of `data:` lines seen (for an estimate of the output when none is reported).
    output_bytes: usize,
    stopped: bool,
    error: Option<String>,
}

impl UsageScan {
    /// The usage reported, else estimated from the input and what streamed.
    fn usage(&self) -> Usage {
        self.reported.unwrap_or_else(|| {
            // An SSE event carries its text in JSON about four times its size.
            Usage::new(
                estimated_tokens(self.input_bytes),
                estimated_tokens(self.output_bytes / 4),
                true,
            )
        })
    }

    fn feed(&mut self, piece: &[u8]) {
        self.output_bytes += piece.len();
        let mut lines = std::mem::take(&mut self.lines);
        lines.feed(piece, |line| self.on_line(line));
        self.lines = lines;
    }

    fn on_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.stopped = true;
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        match event["type"].as_str() {
            Some("response.completed" | "response.incomplete") => {
                self.stopped = true;
                if let Some(usage) = read_usage(&event["response"]["usage"]) {
                    self.reported = Some(usage);
                }
            }
            Some("response.failed") => {
                let message = event["response"]["error"]["message"].as_str();
                self.error = Some(message.unwrap_or("the response failed").to_owned());
            }
            Some("error") => {
                let message = event["message"]
                    .as_str()
                    .or_else(|| event["error"]["message"].as_str());
                self.error = Some(message.unwrap_or("no message").to_owned());
            }
            _ => {
                if let Some(error) = event.get("error").filter(|e| !e.is_null()) {
                    let message = error["message"].as_str().unwrap_or("no message");
                    self.error = Some(message.to_owned());
                } else if let Some(usage) = read_usage(&event["usage"]) {
                    self.reported = Some(usage);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSES: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":11,\"output_tokens\":4,\"total_tokens\":15}}}\n\n";

    #[test]
    fn responses_usage_is_read_from_a_stream_split_anywhere() {
        for cut in [1, 9, 60, 150, RESPONSES.len() - 1] {
            let mut scan = UsageScan::default();
            scan.feed(&RESPONSES.as_bytes()[..cut]);
            scan.feed(&RESPONSES.as_bytes()[cut..]);
            assert_eq!(scan.usage(), Usage::new(11, 4, false), "cut at {cut}");
            assert!(scan.stopped);
            assert!(scan.error.is_none());
        }
    }

    #[test]
    fn a_completions_stream_without_usage_ends_at_done_and_is_estimated() {
        let mut scan = UsageScan {
            input_bytes: 40,
            ..UsageScan::default()
        };
        scan.feed(b"data: {\"choices\":[{\"text\":\"fn main\"}]}\n\ndata: [DONE]\n\n");
        assert!(scan.stopped);
        let usage = scan.usage();
        assert!(usage.estimated);
        assert_eq!(usage.prompt_tokens, 10);
    }

    #[test]
    fn error_events_are_noticed_and_long_lines_skipped_unread() {
        let mut scan = UsageScan::default();
        let long = format!(
            "data: {}\n",
            "x".repeat(super::super::sse_lines::SCAN_LINE_BYTES * 2)
        );
        scan.feed(long.as_bytes());
        scan.feed(b"event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"message\":\"overloaded\"}}}\n\n");
        assert_eq!(scan.error.as_deref(), Some("overloaded"));
        assert!(!scan.stopped);
        let mut scan = UsageScan::default();
        scan.feed(b"data: {\"error\":{\"message\":\"boom\"}}\n");
        assert_eq!(scan.error.as_deref(), Some("boom"));
    }

    #[test]
    fn a_whole_answer_reports_its_usage_or_an_estimate() {
        let embeddings = br#"{"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}}"#;
        assert_eq!(whole_usage(embeddings, 100), Usage::new(5, 0, false));
        let responses = br#"{"output":[],"usage":{"input_tokens":7,"output_tokens":3}}"#;
        assert_eq!(whole_usage(responses, 100), Usage::new(7, 3, false));
        let bare = br#"{"choices":[{"text":"12345678"}]}"#;
        assert_eq!(whole_usage(bare, 8), Usage::new(2, 2, true));
        assert_eq!(whole_usage(b"not json", 0), Usage::new(0, 0, true));
    }

    #[test]
    fn only_an_openai_provider_may_be_marked_as_speaking_responses() {
        let config = |kind: &str| -> crate::config::Config {
            toml::from_str(&format!(
                "[[providers]]\nname = \"p\"\nkind = \"{kind}\"\nbase_url = \"http://x/v1\"\n\
                 responses = true\n"
            ))
            .unwrap()
        };
        let file = std::path::Path::new("fusion.toml");
        config("openai").validate(file).unwrap();
        assert!(config("openai").providers[0].responses);
        let err = config("anthropic").validate(file).unwrap_err();
        assert_eq!(err.key, "providers[0].responses");
        assert!(err.reason.contains("kind = \"openai\""), "{}", err.reason);
    }

    #[test]
    fn the_input_is_measured_from_input_prompt_and_instructions() {
        let body = serde_json::json!({"model": "m", "prompt": "abcd", "suffix": "ef",
            "input": ["x", "y"], "instructions": "be"});
        assert_eq!(input_bytes(&body), 4 + 2 + 9 + 2);
    }
}
