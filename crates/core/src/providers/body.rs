//! Bounded reading of upstream bodies: an answer is read up to the provider's
//! `max_response_bytes` (a non-streamed body whole; a stream one line at a time), so an
//! upstream that sends without end fails its call with `upstream_response_too_large` instead
//! of growing Fusion's memory until the machine runs out.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;

use crate::config::ProviderConfig;
use crate::{Error, ErrorKind, Result};

/// Error bodies (non-2xx answers) are read up to this many bytes; the message needs no more.
pub(crate) const ERROR_BODY_BYTES: u64 = 64 * 1024;

/// Reads `response`'s body whole, failing once it passes `limit` bytes.
pub(crate) async fn read_capped(
    config: &ProviderConfig,
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Bytes> {
    let too_large = || -> Error {
        ErrorKind::ResponseTooLarge {
            provider: config.name.clone(),
            limit,
        }
        .into()
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::from_reqwest(&config.name, &e, config.timeout))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Reads at most `limit` bytes of a body, ignoring the rest and any error (for messages).
pub(crate) async fn read_prefix(mut response: reqwest::Response, limit: u64) -> Bytes {
    let mut body = BytesMut::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = (limit as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= limit {
            break;
        }
    }
    body.freeze()
}

/// A stream error: the upstream's own, or a line longer than the limit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CappedError<E> {
    #[error(transparent)]
    Upstream(E),
    #[error("{0}")]
    LineTooLong(#[source] LineTooLong),
}

/// A line longer than the limit, found in an error's `source()` chain by stream decoders.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent a line of over {0} bytes without a line break (max_response_bytes)")]
pub(crate) struct LineTooLong(pub(crate) u64);

/// The limit a stream error says was passed, if that is what it is.
pub(crate) fn line_too_long(err: &(dyn std::error::Error + 'static)) -> Option<u64> {
    let mut source = Some(err);
    while let Some(cause) = source {
        if let Some(LineTooLong(limit)) = cause.downcast_ref::<LineTooLong>() {
            return Some(*limit);
        }
        source = cause.source();
    }
    None
}

/// Passes a byte stream through, failing it when a line (an SSE event's field) grows past
/// `limit` bytes: a parser buffers a line until its end, so an endless line would be endless
/// memory.
pub(crate) struct CappedLines<S> {
    inner: S,
    limit: u64,
    /// Bytes since the last line break.
    open: u64,
    failed: bool,
}

impl<S> CappedLines<S> {
    pub(crate) fn new(inner: S, limit: u64) -> Self {
        Self {
            inner,
            limit,
            open: 0,
            failed: false,
        }
    }
}

impl<S, E> Stream for CappedLines<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
{
    type Item = std::result::Result<Bytes, CappedError<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.open = match chunk.iter().rposition(|b| *b == b'\n' || *b == b'\r') {
                    Some(at) => (chunk.len() - at - 1) as u64,
                    None => self.open + chunk.len() as u64,
                };
                if self.open > self.limit {
                    self.failed = true;
                    let limit = self.limit;
                    return Poll::Ready(Some(Err(CappedError::LineTooLong(LineTooLong(limit)))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(CappedError::Upstream(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn chunks(
        parts: &[&'static str],
    ) -> impl Stream<Item = std::result::Result<Bytes, std::io::Error>> + Unpin {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p.as_bytes())))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn short_lines_pass_whatever_the_total() {
        let parts = ["data: 1234\n\n"; 100];
        let out: Vec<_> = CappedLines::new(chunks(&parts), 16).collect().await;
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn a_line_past_the_limit_fails_the_stream_once() {
        let parts = ["data: ", "0123456789", "0123456789", "more", "\n\n"];
        let out: Vec<_> = CappedLines::new(chunks(&parts), 16).collect().await;
        assert_eq!(out.len(), 3, "two chunks, then the error, then the end");
        assert!(matches!(
            out[2],
            Err(CappedError::LineTooLong(LineTooLong(16)))
        ));
        let Err(err) = &out[2] else { unreachable!() };
        assert_eq!(line_too_long(err), Some(16));
    }
}
