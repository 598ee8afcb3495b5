//! Fuzz target: an Anthropic upstream's SSE event stream through the translator to OpenAI
//! chunks (`fusion_core::providers::anthropic::translate_sse`). The first byte seeds how the
//! rest is cut into pieces; the translated items must be the same as when the bytes arrive in
//! one piece, and an error, if any, must end the stream.
#![no_main]

use fusion_core::providers::anthropic::translate_sse;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;

/// Each item as comparable text: a chunk as its JSON (the wall-clock `created` zeroed), an
/// error as its class.
fn translate(pieces: Vec<Vec<u8>>) -> Vec<String> {
    let stream = translate_sse(pieces, "fuzz", "claude-fuzz");
    let items: Vec<String> = futures::executor::block_on(
        stream
            .map(|item| match item {
                Ok(mut chunk) => {
                    chunk.created = 0;
                    serde_json::to_string(&chunk).expect("a chunk serializes")
                }
                Err(err) => format!("error: {}", err.class()),
            })
            .collect(),
    );
    if let Some(first_error) = items.iter().position(|i| i.starts_with("error: ")) {
        assert_eq!(first_error + 1, items.len(), "the stream went on after an error");
    }
    items
}

fuzz_target!(|data: &[u8]| {
    fusion_fuzz::timed(data, |data| {
        let Some((&seed, body)) = data.split_first() else {
            return;
        };
        let split = translate(fusion_fuzz::pieces(seed, body));
        let whole = translate(vec![body.to_vec()]);
        assert_eq!(split, whole, "the pieces changed what was translated");
    });
});
