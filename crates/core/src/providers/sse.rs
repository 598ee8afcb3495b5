//! Upstream server-sent event streams: bytes to events through `eventsource-stream`, with a
//! leading UTF-8 byte-order mark dropped first. The SSE spec says to ignore one, and
//! eventsource-stream 0.2.3 panics on it (it slices the three-byte mark at byte 1), so an
//! upstream sending one would otherwise panic the task reading its stream.

use eventsource_stream::{EventStream, Eventsource};
use futures::{Stream, StreamExt};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` as SSE events, with a leading byte-order mark dropped (even one split across
/// pieces).
pub(crate) fn events<S, B, E>(bytes: S) -> EventStream<impl Stream<Item = Result<Piece<B>, E>>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    // The bytes held while they could still be the start of a mark; `None` once decided.
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    bytes
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .filter_map(move |item| {
            let piece = match (item, head.as_mut()) {
                (Some(Ok(bytes)), None) => Some(Ok(Piece::Passed(bytes))),
                (Some(Ok(bytes)), Some(held)) => {
                    held.extend_from_slice(bytes.as_ref());
                    if held.len() < BOM.len() && BOM.starts_with(held) {
                        None
                    } else {
                        let held = head.take().unwrap_or_default();
                        let start = if held.starts_with(BOM) { BOM.len() } else { 0 };
                        Some(Ok(Piece::Held(held, start)))
                    }
                }
                (Some(Err(e)), _) => Some(Err(e)),
                // The stream ended while the bytes could still have been a mark: they were not.
                (None, _) => head
                    .take()
                    .filter(|held| !held.is_empty())
                    .map(|held| Ok(Piece::Held(held, 0))),
            };
            futures::future::ready(piece)
        })
        .eventsource()
}

/// A piece of the stream: passed through as it came, or the first bytes, held and copied
/// while the mark was looked for (with the offset after the mark, if there was one).
pub(crate) enum Piece<B> {
    Passed(B),
    Held(Vec<u8>, usize),
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Piece<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Piece::Passed(bytes) => bytes.as_ref(),
            Piece::Held(bytes, start) => bytes.get(*start..).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn data_of(pieces: &[&[u8]]) -> Vec<String> {
        let pieces: Vec<Result<Vec<u8>, std::convert::Infallible>> =
            pieces.iter().map(|p| Ok(p.to_vec())).collect();
        events(futures::stream::iter(pieces))
            .map(|event| {
                event
                    .map(|e| e.data)
                    .unwrap_or_else(|e| format!("error: {e}"))
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_leading_byte_order_mark_is_dropped_even_split_across_pieces() {
        let whole = data_of(&[b"\xEF\xBB\xBFdata: a\n\ndata: b\n\n"]).await;
        assert_eq!(whole, ["a", "b"]);
        let split = data_of(&[b"\xEF", b"", b"\xBB", b"\xBFdata: a\n", b"\ndata: b\n\n"]).await;
        assert_eq!(split, ["a", "b"]);
        assert_eq!(data_of(&[b"data: \xEF\xBB\xBFa\n\n"]).await, ["\u{feff}a"]);
    }

    #[tokio::test]
    async fn bytes_that_only_begin_like_a_mark_are_kept() {
        assert_eq!(data_of(&[b"\xEF", b"\xBB"]).await.len(), 1, "a UTF-8 error");
        assert_eq!(data_of(&[b"d", b"ata: x\n\n"]).await, ["x"]);
        assert!(data_of(&[]).await.is_empty());
    }
}
