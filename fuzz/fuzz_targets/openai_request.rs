//! Fuzz target: `/v1/chat/completions` bodies through the server's own parser
//! (`fusion_server::parse_chat_request`: the plain parse, the path-tracking re-parse that names
//! the offending field, and the required-field checks). A body is either accepted with a model
//! and messages — and the request Fusion would forward, serialized, is accepted again — or
//! rejected as a 400; never a panic or another status.
#![no_main]

use fusion_server::parse_chat_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fusion_fuzz::timed(data, |body| match parse_chat_request(body) {
        Ok(chat) => {
            assert!(!chat.model.trim().is_empty());
            assert!(!chat.messages.is_empty());
            let forwarded = serde_json::to_vec(&chat).expect("an accepted request serializes");
            let again = parse_chat_request(&forwarded).unwrap_or_else(|err| {
                panic!(
                    "the re-serialized request is rejected: {}\n{}",
                    err.body(),
                    String::from_utf8_lossy(&forwarded)
                )
            });
            assert_eq!(again.model, chat.model);
            assert_eq!(again.messages.len(), chat.messages.len());
        }
        Err(err) => {
            assert_eq!(err.status().as_u16(), 400, "{}", err.body());
            assert!(err.body()["error"]["message"].is_string());
        }
    });
});
