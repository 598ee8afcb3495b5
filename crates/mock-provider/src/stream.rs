//! The SSE body of a streamed chat completion: a role delta, content deltas paced by the script,
//! a finish chunk, an optional usage chunk and `data: [DONE]` — or a connection cut mid-stream.

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
    wire::{Chunk, ChunkChoice, Delta, Usage},
};

pub(crate) const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const DONE: &[u8] = b"data: [DONE]\n\n";
const CHUNK_OBJECT: &str = "chat.completion.chunk";

/// Everything a stream needs, owned so the body can outlive the handler.
pub(crate) struct StreamPlan {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub text: String,
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
    Content { offset: usize, sent: usize },
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
                    content: Some(""),
                };
                (
                    self.delta_event(delta, None),
                    Step::Content { offset: 0, sent: 0 },
                )
            }
            Step::Content { offset, sent } => {
                let chunk = next_chunk(&self.text[offset..], self.chunk_words);
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
                    role: None,
                    content: Some(chunk),
                };
                let next = Step::Content {
                    offset: offset + chunk.len(),
                    sent: sent + 1,
                };
                (self.delta_event(delta, None), next)
            }
            Step::Usage => (self.chunk_event(&[], Some(self.usage)), Step::Done),
            Step::Done => (Ok(Bytes::from_static(DONE)), Step::End),
            Step::End => return None,
        };
        Some(next)
    }

    /// The `finish_reason: "stop"` chunk, followed by usage when the client asked for it.
    fn finish(&self) -> (io::Result<Bytes>, Step) {
        let next = if self.reports_usage() {
            Step::Usage
        } else {
            Step::Done
        };
        (self.delta_event(Delta::default(), Some("stop")), next)
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
