//! Fuzz target: `fusion.toml` text through the loader's text-only entry point
//! (`fusion_core::config::parse_text`: TOML syntax, the inline-secret check, `${ENV}`
//! expansion, typed fields, validation). `${ENV}` is looked up in a fixed fake environment, so
//! fuzzed input never reads the real one, and nothing reads or writes files.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

/// The only variables the fuzzed config can see.
fn fake_env(name: &str) -> Option<String> {
    match name {
        "FUSION_FUZZ_SET" => Some("value".to_owned()),
        "FUSION_FUZZ_EMPTY" => Some(String::new()),
        "OPENROUTER_API_KEY" | "FUSION_API_KEY" | "ISSUES_TOKEN" => Some("sk-fuzz".to_owned()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    fusion_fuzz::timed(data, |_| {
        match fusion_core::config::parse_text(text, Path::new("fuzz/fusion.toml"), &fake_env) {
            Ok((config, _warnings)) => {
                let _ = fusion_core::config::render_masked(&config);
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        }
    });
});
