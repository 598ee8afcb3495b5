//! Fuzz target: an OpenAI-compatible upstream's SSE stream through `decode_sse` (eventsource
//! framing, `[DONE]`, chunk and in-stream error parsing). The first byte seeds how the rest is
//! cut into pieces; the decoded items must be the same as when the bytes arrive in one piece,
//! and an error, if any, must end the stream.
#![no_main]

use fusion_core::providers::ChunkStream;
use fusion_core::providers::openai::decode_sse;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;

fn decode(pieces: Vec<Vec<u8>>) -> Vec<String> {
    let bytes = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::convert::Infallible>));
    outcome(decode_sse(bytes, "fuzz".to_owned()))
}

/// Each item as comparable text: a chunk as its JSON, an error as its class (messages may
/// quote byte offsets that depend on the pieces).
fn outcome(stream: ChunkStream) -> Vec<String> {
    let items: Vec<String> = futures::executor::block_on(
        stream
            .map(|item| match item {
                Ok(chunk) => serde_json::to_string(&chunk).expect("a chunk serializes"),
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
        let split = decode(fusion_fuzz::pieces(seed, body));
        let whole = decode(vec![body.to_vec()]);
        assert_eq!(split, whole, "the pieces changed what was decoded");
    });
});
