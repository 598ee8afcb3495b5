//! Fuzz target: JSON config text, two ways: as the seed project's legacy council file through
//! the loader's text-only entry point (`parse_text` with a `.json` name), and as a desktop
//! client's MCP server list through `fusion mcp import` (`import_mcp_servers`). What import
//! accepts must render as TOML that reads back as the same servers, and every string it wrote
//! must pass Fusion's `${ENV}` expansion (placeholders it cannot fill are escaped); expanded
//! values may still fail validation (a URL built from a variable), which is not import's doing.
//! `${ENV}` is looked up in a fake environment: no file or real variable is read.
#![no_main]

use std::path::Path;

use fusion_core::config::{Config, import_mcp_servers, parse_text, render_mcp_servers};
use libfuzzer_sys::fuzz_target;

/// Every variable is set, to a value that fits in a URL.
fn fake_env(_name: &str) -> Option<String> {
    Some("x".to_owned())
}

/// Whether a config error's reason is one of `${ENV}` expansion's own (by their fixed start
/// and end: the reasons of validation errors may quote any text in between).
fn is_expansion_error(reason: &str) -> bool {
    reason.starts_with("unterminated `${` in `")
        || reason.ends_with(
            "is not a valid reference; write `${NAME}` or `${NAME:-default}` \
             (or `$${` for a literal `${`)",
        )
        || (reason.starts_with("environment variable ") && reason.ends_with(" is not set"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    fusion_fuzz::timed(data, |_| {
        if let Err(err) = parse_text(text, Path::new("fuzz/council.json"), &fake_env) {
            assert!(!err.to_string().is_empty());
        }
        let Ok(imported) = import_mcp_servers(text, &["fusion"], "__") else {
            return;
        };
        let rendered = render_mcp_servers(&imported.servers)
            .unwrap_or_else(|err| panic!("imported servers do not render: {err}"));
        let config: Config = toml::from_str(&rendered)
            .unwrap_or_else(|err| panic!("rendered servers are not a config: {err}\n{rendered}"));
        assert_eq!(config.mcp.servers, imported.servers, "{rendered}");
        if let Err(err) = parse_text(&rendered, Path::new("fuzz/fusion.toml"), &fake_env) {
            assert!(
                !is_expansion_error(&err.reason),
                "a rendered string fails ${{ENV}} expansion: {err}\n{rendered}"
            );
        }
    });
});
