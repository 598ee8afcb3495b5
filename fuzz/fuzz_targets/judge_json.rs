//! Fuzz target: reading a judge's reply (`fusion_core::council::parse_analysis`: finding the
//! JSON object in prose or code fences, repairing trailing commas and cut-off ends, reading
//! the analysis fields leniently). It must not panic, and an analysis it read, written back
//! as JSON, reads back as itself.
#![no_main]

use fusion_core::council::parse_analysis;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    fusion_fuzz::timed(data, |_| match parse_analysis(&text) {
        Ok(analysis) => {
            let json = serde_json::to_string(&analysis).expect("an analysis serializes");
            let again = parse_analysis(&json)
                .unwrap_or_else(|err| panic!("its own JSON does not read back: {err}\n{json}"));
            assert_eq!(again, analysis, "{json}");
        }
        Err(reason) => assert!(!reason.is_empty()),
    });
});
