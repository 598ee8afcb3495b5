//! Upstream server-sent event streams: bytes to events through `eventsource-stream`, with
//! leading UTF-8 byte-order marks dropped first. The SSE spec says to ignore one, and
//! eventsource-stream 0.2.3 panics when the stream starts with one (it slices the three-byte
//! mark at byte 1), so an upstream sending one would otherwise panic the task reading its
//! stream. Every leading mark goes, not only the first: after one, a second would reach the
//! same panic (the spec would ignore the line it starts, a field no one reads).

use eventsource_stream::{EventStream, Eventsource};
use futures::{Stream, StreamExt};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` as SSE events, with leading byte-order marks dropped (even split across pieces).
pub(crate) fn events<S, B, E>(bytes: S) -> EventStream<impl Stream<Item = Result<Piece<B>, E>>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    // The first bytes, held while they could still be (the start of) a mark; `None` once the
    // stream is past them.
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    bytes
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .filter_map(move |item| {
            let piece = match (item, head.as_mut()) {
                (Some(Ok(bytes)), None) => Some(Ok(Piece::Passed(bytes))),
                (Some(Ok(bytes)), Some(held)) => {
                    held.extend_from_slice(bytes.as_ref());
                    let marks = leading_marks(held);
                    held.drain(..marks);
                    if held.len() < BOM.len() && BOM.starts_with(held) {
                        None
                    } else {
                        head.take().map(|held| Ok(Piece::Held(held)))
                    }
                }
                (Some(Err(e)), _) => Some(Err(e)),
                // The stream ended on bytes that could still have begun a mark: they did not.
                (None, _) => head
                    .take()
                    .filter(|held| !held.is_empty())
                    .map(|held| Ok(Piece::Held(held))),
            };
            futures::future::ready(piece)
        })
        .eventsource()
}

/// How many bytes of whole marks `bytes` starts with.
fn leading_marks(bytes: &[u8]) -> usize {
    let mut at = 0;
    while bytes[at..].starts_with(BOM) {
        at += BOM.len();
    }
    at
}

/// A piece of the stream: passed through as it came, or the first bytes (marks dropped),
/// held while marks were looked for.
pub(crate) enum Piece<B> {
    Passed(B),
    Held(Vec<u8>),
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Piece<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Piece::Passed(bytes) => bytes.as_ref(),
            Piece::Held(bytes) => bytes,
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
    async fn leading_byte_order_marks_are_dropped_even_split_across_pieces() {
        let whole = data_of(&[b"\xEF\xBB\xBFdata: a\n\ndata: b\n\n"]).await;
        assert_eq!(whole, ["a", "b"]);
        let two = data_of(&[b"\xEF\xBB\xBF\xEF\xBB", b"\xBFdata: a\n\n"]).await;
        assert_eq!(two, ["a"]);
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
