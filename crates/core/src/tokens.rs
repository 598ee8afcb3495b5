//! Token estimates for routing and for upstreams that report no usage. Counts come from the
//! `cl100k_base` tokenizer (tiktoken-rs); they are estimates for any other model and are marked
//! as such.
//!
//! Counting is linear and bounded whatever the input: tiktoken's pre-split regex and its
//! byte-pair merge are super-linear in the length of one piece (a 500 KB run of letters took
//! over a minute, a 1 MB one panicked), so text reaches the tokenizer in bounded segments cut
//! before whitespace, and a run without whitespace is cut every [`RUN_BYTES`]. A text longer
//! than [`EXACT_BYTES`] is sampled: its head and tail are counted and the rest extrapolated
//! from their tokens per byte. Callers on the async worker go through [`crate::cpu::off_worker`]
//! for large inputs, so even the bounded work never stalls other requests.

use std::sync::OnceLock;

use fusion_types::{ChatMessage, Usage};
use tiktoken_rs::CoreBPE;

/// A segment handed to the tokenizer ends before the first whitespace past this many bytes.
const SEGMENT_BYTES: usize = 1024;
/// A run without whitespace is cut into pieces of at most this many bytes (real tokens are far
/// shorter, so the count barely moves; the merge's cost stays bounded per piece).
const RUN_BYTES: usize = 64;
/// Texts up to this size are counted whole; longer ones are sampled.
pub const EXACT_BYTES: usize = 64 * 1024;
/// Bytes counted at each end of a sampled text.
const SAMPLE_BYTES: usize = 16 * 1024;

fn encoder() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok()).as_ref()
}

/// Estimated tokens in a text (a rough 4-bytes-per-token rule if the tokenizer is missing).
/// Linear in the text's length; texts over [`EXACT_BYTES`] are sampled at head and tail.
pub fn estimate_text(text: &str) -> u64 {
    let Some(bpe) = encoder() else {
        return (text.len() as u64).div_ceil(4);
    };
    if text.len() <= EXACT_BYTES {
        return count_segments(bpe, text);
    }
    let head = &text[..floor_char_boundary(text, SAMPLE_BYTES)];
    let tail = &text[ceil_char_boundary(text, text.len() - SAMPLE_BYTES)..];
    let sampled = count_segments(bpe, head) + count_segments(bpe, tail);
    let per_byte = sampled as f64 / (head.len() + tail.len()).max(1) as f64;
    (per_byte * text.len() as f64).ceil() as u64
}

/// Counts `text` segment by segment.
fn count_segments(bpe: &CoreBPE, text: &str) -> u64 {
    segments(text)
        .map(|segment| bpe.encode_ordinary(segment).len() as u64)
        .sum()
}

/// Splits `text` into segments of bounded length: a segment ends before a whitespace
/// character once it holds [`SEGMENT_BYTES`] (so a word keeps its leading space, as the
/// tokenizer would split it), and a run without whitespace is cut every [`RUN_BYTES`].
fn segments(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut run = 0usize;
        let mut cut = rest.len();
        for (at, ch) in rest.char_indices() {
            if ch.is_whitespace() {
                run = 0;
                if at >= SEGMENT_BYTES {
                    cut = at;
                    break;
                }
            } else {
                if run >= RUN_BYTES || at >= 2 * SEGMENT_BYTES {
                    cut = at;
                    break;
                }
                run += ch.len_utf8();
            }
        }
        let (segment, next) = rest.split_at(cut);
        rest = next;
        Some(segment)
    })
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Estimated prompt tokens of a message list (content plus a small per-message overhead).
pub fn estimate_messages(messages: &[ChatMessage]) -> u64 {
    messages
        .iter()
        .map(|m| estimate_text(&m.text_content()) + 4)
        .sum::<u64>()
        + 3
}

/// Bytes of text in a message list: how much counting its tokens costs.
pub fn message_bytes(messages: &[ChatMessage]) -> usize {
    messages.iter().map(|m| m.text_len()).sum()
}

/// An estimated usage for a call that reported none.
pub fn estimate_usage(messages: &[ChatMessage], completion: &str) -> Usage {
    Usage::new(estimate_messages(messages), estimate_text(completion), true)
}

/// [`estimate_usage`] off the async worker when the texts are large.
pub async fn estimate_usage_off_worker(messages: &[ChatMessage], completion: &str) -> Usage {
    let bytes = message_bytes(messages) + completion.len();
    if bytes <= crate::cpu::INLINE_BYTES {
        return estimate_usage(messages, completion);
    }
    let (messages, completion) = (messages.to_vec(), completion.to_owned());
    crate::cpu::off_worker(move || estimate_usage(&messages, &completion)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusion_types::Role;

    #[test]
    fn estimates_are_marked_and_nonzero_for_text() {
        let usage = estimate_usage(
            &[ChatMessage::text(
                Role::User,
                "What is the capital of France?",
            )],
            "Paris is the capital of France.",
        );
        assert!(usage.estimated);
        assert!(usage.prompt_tokens > 7, "{usage:?}");
        assert!((5..=10).contains(&usage.completion_tokens), "{usage:?}");
        assert_eq!(
            usage.total_tokens,
            usage.prompt_tokens + usage.completion_tokens
        );
    }

    #[test]
    fn segments_cover_the_text_and_stay_bounded() {
        let prose = "The quick brown fox jumps over the lazy dog. ".repeat(200);
        let letters = "a".repeat(10_000);
        let mixed = format!("{prose}{letters} ünïcödé {}", "\t".repeat(5000));
        for text in [prose.as_str(), letters.as_str(), mixed.as_str(), "", "x"] {
            let parts: Vec<&str> = segments(text).collect();
            assert_eq!(parts.concat(), text);
            assert!(parts.iter().all(|p| !p.is_empty()));
            assert!(
                parts.iter().all(|p| p.len() <= 2 * SEGMENT_BYTES + 4),
                "a segment past the bound"
            );
        }
        assert!(segments(&letters).all(|p| p.len() <= RUN_BYTES));
    }

    #[test]
    fn segmented_counts_match_the_whole_text_count_on_prose() {
        let prose =
            "Fusion routes each request to the cheapest model that is good enough. ".repeat(100);
        let whole = encoder().unwrap().encode_ordinary(&prose).len() as u64;
        let counted = estimate_text(&prose);
        let diff = counted.abs_diff(whole) as f64 / whole as f64;
        assert!(diff < 0.02, "segmented {counted} vs whole {whole}");
    }

    #[test]
    fn a_megabyte_run_of_letters_is_counted_without_panicking() {
        let text = "a".repeat(1 << 20);
        let tokens = estimate_text(&text);
        // cl100k merges long runs of one letter into multi-letter tokens.
        assert!(tokens > 1000 && tokens < (1 << 20), "{tokens}");
    }

    #[test]
    fn long_texts_are_sampled_close_to_the_exact_count() {
        let prose =
            "Routing on measured quality beats routing on guesses, every time. ".repeat(3000);
        assert!(prose.len() > EXACT_BYTES);
        let exact = count_segments(encoder().unwrap(), &prose);
        let sampled = estimate_text(&prose);
        let diff = sampled.abs_diff(exact) as f64 / exact as f64;
        assert!(diff < 0.02, "sampled {sampled} vs exact {exact}");
    }

    #[test]
    fn multibyte_text_at_sample_edges_is_cut_on_char_boundaries() {
        let text = "é".repeat(EXACT_BYTES);
        assert!(estimate_text(&text) > 0);
    }
}
