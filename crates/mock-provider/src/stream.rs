//! The SSE body of a streamed chat completion: a role delta, content deltas paced by the script
//! (or tool-call fragments: each call's id and name, then pieces of its arguments), a finish
//! chunk, an optional usage chunk and `data: [DONE]` — or a connection cut mid-stream.

use std::{io, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{
    reply::next_chunk,
    state::InFlight,
    wire::{Chunk, ChunkChoice, Delta, DeltaFunction, DeltaToolCall, ToolCall, Usage},
};

pub(crate) const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const DONE: &[u8] = b"data: [DONE]\n\n";
const CHUNK_OBJECT: &str = "chat.completion.chunk";
/// Bytes of a tool call's arguments per streamed fragment (cut at a character boundary).
const ARGUMENT_PIECE_BYTES: usize = 16;

/// Everything a stream needs, owned so the body can outlive the handler.
pub(crate) struct StreamPlan {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub text: String,
    /// Streamed after the text (which is then empty), as OpenAI streams tool calls.
    pub tool_calls: Vec<ToolCall>,
    /// `Some` when the script reports usage.
    pub usage: Option<Usage>,
    /// The request's `stream_options.include_usage`.
    pub include_usage: bool,
    /// Before the first chunk.
    pub first_delay: Duration,
    /// Before each content chunk.
    pub chunk_delay: Duration,
    pub cut_after: Option<usize>,
    pub chunk_words: usize,
    pub shutdown: CancellationToken,
    /// Held for the life of the body: the request stays in flight until the stream ends.
    pub _in_flight: InFlight,
}

enum Step {
    Role,
    Content {
        offset: usize,
        sent: usize,
    },
    /// Call `call`'s header (`offset: None`), then its arguments from `offset`.
    Tool {
        call: usize,
        offset: Option<usize>,
        sent: usize,
    },
    Usage,
    Done,
    End,
}

/// A `200 text/event-stream` response playing `plan`.
pub(crate) fn response(plan: StreamPlan) -> Response {
    let events = futures::stream::unfold((plan, Step::Role), |(plan, step)| async move {
        let (event, next) = plan.step(step).await?;
        Some((event, (plan, next)))
    });
    sse(Body::from_stream(events))
}

/// A `200 text/event-stream` response with a fixed body.
pub(crate) fn fixed_response(body: Vec<u8>) -> Response {
    sse(Body::from(body))
}

fn sse(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, EVENT_STREAM),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        body,
    )
        .into_response()
}

impl StreamPlan {
    /// Produces the event for `step` and the step after it; `None` ends the body.
    async fn step(&self, step: Step) -> Option<(io::Result<Bytes>, Step)> {
        let next = match step {
            Step::Role => {
                if !pause(self.first_delay, &self.shutdown).await {
                    return Some((Err(stopped()), Step::End));
                }
                let delta = Delta {
                    role: Some("assistant"),
                    content: self.tool_calls.is_empty().then_some(""),
                    tool_calls: None,
                };
                (
                    self.delta_event(delta, None),
                    Step::Content { offset: 0, sent: 0 },
                )
            }
            Step::Content { offset, sent } => {
                let chunk = next_chunk(&self.text[offset..], self.chunk_words);
                if chunk.is_none() && !self.tool_calls.is_empty() {
                    return Some(self.tool_step(0, None, sent).await);
                }
                if let Some(limit) = self.cut_after
                    && (sent >= limit || chunk.is_none())
                {
                    // Let the server flush what was sent, then fail the body: the connection
                    // closes without the chunked terminator or `[DONE]`.
                    tokio::task::yield_now().await;
                    return Some((Err(cut()), Step::End));
                }
                let Some(chunk) = chunk else {
                    return Some(self.finish());
                };
                if !pause(self.chunk_delay, &self.shutdown).await {
                    return Some((Err(stopped()), Step::End));
                }
                let delta = Delta {
                    content: Some(chunk),
                    ..Delta::default()
                };
                let next = Step::Content {
                    offset: offset + chunk.len(),
                    sent: sent + 1,
                };
                (self.delta_event(delta, None), next)
            }
            Step::Tool { call, offset, sent } => {
                return Some(self.tool_step(call, offset, sent).await);
            }
            Step::Usage => (self.chunk_event(&[], Some(self.usage)), Step::Done),
            Step::Done => (Ok(Bytes::from_static(DONE)), Step::End),
            Step::End => return None,
        };
        Some(next)
    }

    /// The next tool-call fragment from call `call` on (see [`Step::Tool`]), or the finish.
    async fn tool_step(
        &self,
        call: usize,
        offset: Option<usize>,
        sent: usize,
    ) -> (io::Result<Bytes>, Step) {
        let Some((fragment, next)) = self.tool_fragment(call, offset, sent) else {
            return self.finish();
        };
        if self.cut_after.is_some_and(|limit| sent >= limit) {
            tokio::task::yield_now().await;
            return (Err(cut()), Step::End);
        }
        if !pause(self.chunk_delay, &self.shutdown).await {
            return (Err(stopped()), Step::End);
        }
        let delta = Delta {
            tool_calls: Some([fragment]),
            ..Delta::default()
        };
        (self.delta_event(delta, None), next)
    }

    /// The fragment of call `call` at `offset` and the step after it; `None` after the last.
    fn tool_fragment(
        &self,
        call: usize,
        offset: Option<usize>,
        sent: usize,
    ) -> Option<(DeltaToolCall<'_>, Step)> {
        let tool = self.tool_calls.get(call)?;
        let arguments = tool.function.arguments.as_str();
        let Some(offset) = offset else {
            let header = DeltaToolCall {
                index: call,
                id: Some(&tool.id),
                kind: Some("function"),
                function: DeltaFunction {
                    name: Some(&tool.function.name),
                    arguments: "",
                },
            };
            let next = Step::Tool {
                call,
                offset: Some(0),
                sent: sent + 1,
            };
            return Some((header, next));
        };
        if offset >= arguments.len() {
            return self.tool_fragment(call + 1, None, sent);
        }
        let mut end = (offset + ARGUMENT_PIECE_BYTES).min(arguments.len());
        while !arguments.is_char_boundary(end) {
            end += 1;
        }
        let piece = DeltaToolCall {
            index: call,
            id: None,
            kind: None,
            function: DeltaFunction {
                name: None,
                arguments: &arguments[offset..end],
            },
        };
        let next = Step::Tool {
            call,
            offset: Some(end),
            sent: sent + 1,
        };
        Some((piece, next))
    }

    /// The finish chunk (`finish_reason` `stop`, or `tool_calls` after tool calls), followed
    /// by usage when the client asked for it.
    fn finish(&self) -> (io::Result<Bytes>, Step) {
        let next = if self.reports_usage() {
            Step::Usage
        } else {
            Step::Done
        };
        let reason = if self.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        (self.delta_event(Delta::default(), Some(reason)), next)
    }

    /// Whether the stream ends with a usage chunk (and its other chunks carry `usage: null`).
    fn reports_usage(&self) -> bool {
        self.include_usage && self.usage.is_some()
    }

    fn delta_event(
        &self,
        delta: Delta<'_>,
        finish_reason: Option<&'static str>,
    ) -> io::Result<Bytes> {
        let choice = ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        };
        let usage = self.reports_usage().then_some(None);
        self.chunk_event(std::slice::from_ref(&choice), usage)
    }

    fn chunk_event(
        &self,
        choices: &[ChunkChoice<'_>],
        usage: Option<Option<Usage>>,
    ) -> io::Result<Bytes> {
        let chunk = Chunk {
            id: &self.id,
            object: CHUNK_OBJECT,
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        event(&chunk)
    }
}

/// One `data: <json>\n\n` event.
pub(crate) fn event<T: Serialize>(value: &T) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, value).map_err(io::Error::other)?;
    buf.extend_from_slice(b"\n\n");
    Ok(Bytes::from(buf))
}

/// The `[DONE]` event.
pub(crate) fn done_event() -> &'static [u8] {
    DONE
}

/// An empty `chat.completion.chunk` (no choices) for the `EmptyChoices` failure.
pub(crate) fn empty_choices_event(id: &str, created: u64, model: &str) -> io::Result<Bytes> {
    event(&Chunk {
        id,
        object: CHUNK_OBJECT,
        created,
        model,
        choices: &[],
        usage: None,
    })
}

/// Sleeps for `delay` unless the provider stops first; returns whether it slept in full.
pub(crate) async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    if delay.is_zero() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shutdown.cancelled() => false,
    }
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "mock provider: scripted stream cut",
    )
}

fn stopped() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "mock provider: shutting down",
    )
}
