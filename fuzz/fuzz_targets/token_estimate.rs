//! Fuzz target: the token estimator (`fusion_core::tokens::estimate_text`) on arbitrary text
//! (invalid UTF-8 replaced). It must not panic, must stay within the time limit however the
//! text repeats, and never counts more tokens than the text has bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    fusion_fuzz::timed(data, |_| {
        let tokens = fusion_core::tokens::estimate_text(&text);
        assert!(
            tokens <= text.len() as u64,
            "{tokens} tokens for {} bytes",
            text.len()
        );
    });
});
