//! Token estimates for upstreams that report no usage. Counts come from the `cl100k_base`
//! tokenizer (tiktoken-rs); they are estimates for any other model and are marked as such.

use std::sync::OnceLock;

use fusion_types::{ChatMessage, Usage};
use tiktoken_rs::CoreBPE;

fn encoder() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok()).as_ref()
}

/// Estimated tokens in a text (a rough 4-characters-per-token rule if the tokenizer is missing).
pub fn estimate_text(text: &str) -> u64 {
    match encoder() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => (text.chars().count() as u64).div_ceil(4),
    }
}

/// Estimated prompt tokens of a message list (content plus a small per-message overhead).
pub fn estimate_messages(messages: &[ChatMessage]) -> u64 {
    messages
        .iter()
        .map(|m| estimate_text(&m.text_content()) + 4)
        .sum::<u64>()
        + 3
}

/// An estimated usage for a call that reported none.
pub fn estimate_usage(messages: &[ChatMessage], completion: &str) -> Usage {
    Usage::new(estimate_messages(messages), estimate_text(completion), true)
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
}
