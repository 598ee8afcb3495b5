//! Fuzz target: newline-delimited JSON-RPC into Fusion's MCP handler (`FusionMcp` served by
//! rmcp over an in-process duplex pipe), after a valid `initialize`, so tool calls, resource
//! reads and malformed messages all reach it. Each input is one session: the lines are
//! written, the client side closes, and the server must answer and end within 5 s without a
//! panic. Upstream models are a mock provider on 127.0.0.1; the code index lives in a
//! temporary data dir, and `code_index` calls lose their directories (so nothing on this
//! machine is walked or indexed). Progress tokens are taken out too: rmcp stops delivering
//! notifications once the client's side closes, so a handler still reporting progress then
//! waits out rmcp's 5 s drain (a harness artifact: a real client stays connected until it has
//! its answers). Built once per process on a current-thread runtime.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_mcp::{Fusion, FusionMcp};
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use libfuzzer_sys::fuzz_target;
use rmcp::ServiceExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JUDGE: &str = r#"{"consensus":["both agree"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}"#;

/// Sent before the input: a valid handshake.
const PRELUDE: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"fuzz\",\"version\":\"0\"}}}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

/// Most bytes of answers read per input; the rest is drained unread.
const READ_CAP: usize = 1 << 20;

/// How long one session may take before it counts as a hang.
const SESSION_LIMIT: Duration = Duration::from_secs(5);

struct Harness {
    runtime: tokio::runtime::Runtime,
    server: FusionMcp,
    _mock: MockProvider,
    _data_dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let data_dir = tempfile::tempdir().expect("a temporary data dir");
    // SAFETY: set once, before the runtime or any other thread of this process exists.
    unsafe { std::env::set_var("FUSION_DATA_DIR", data_dir.path()) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mock = runtime.block_on(async {
        let script = Script::new()
            .with_model("a", ModelScript::fixed("Answer A."))
            .with_model("b", ModelScript::fixed("Answer B."))
            .with_model("judge", ModelScript::fixed(JUDGE))
            .with_model("synth", ModelScript::fixed("The final answer."));
        MockProvider::start(script).await.expect("the mock provider starts")
    });
    mock.set_recording(false);
    let text = format!(
        r#"[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
retries = 0
timeout = "2s"
[[models]]
id = "a"
provider = "mock"
[[models]]
id = "b"
provider = "mock"
[[models]]
id = "judge"
provider = "mock"
[[models]]
id = "synth"
provider = "mock"
[councils.default]
panel = [{{ model = "a" }}, {{ model = "b" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
"#,
        url = mock.base_url()
    );
    let config: Config = toml::from_str(&text).expect("the harness config parses");
    let registry = runtime
        .block_on(async { ProviderRegistry::from_config(&config) })
        .expect("the registry builds");
    let server = FusionMcp::new(Fusion::new(Arc::new(config), Arc::new(registry)));
    Harness {
        runtime,
        server,
        _mock: mock,
        _data_dir: data_dir,
    }
}

/// Whether `value` names a code-indexing tool anywhere (a call, or a batch holding one).
fn names_index_tool(value: &Value) -> bool {
    match value {
        Value::String(s) => s == "code_index" || s == "retriv_init",
        Value::Array(items) => items.iter().any(names_index_tool),
        Value::Object(map) => map.values().any(names_index_tool),
        _ => false,
    }
}

/// Takes every `keys` member out of `value`, however deep; whether there was one.
fn drop_keys(value: &mut Value, keys: &[&str]) -> bool {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |dropped, item| drop_keys(item, keys) | dropped),
        Value::Object(map) => {
            let mut dropped = false;
            for key in keys {
                dropped |= map.remove(*key).is_some();
            }
            map.values_mut()
                .fold(dropped, |dropped, item| drop_keys(item, keys) | dropped)
        }
        _ => false,
    }
}

/// The input with progress tokens dropped and `code_index` calls stripped of their
/// directories (a line that is not JSON is passed on as it is: the server ignores it too).
fn sandboxed(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for (i, line) in input.split(|b| *b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        // rmcp drops a leading byte-order mark before parsing; so does this check.
        let json = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let rewritten = serde_json::from_slice::<Value>(json).ok().and_then(|mut value| {
            let mut changed = drop_keys(&mut value, &["progressToken"]);
            if names_index_tool(&value) {
                changed |= drop_keys(&mut value, &["paths", "directories", "root"]);
            }
            changed.then(|| serde_json::to_vec(&value).expect("a JSON value serializes"))
        });
        match rewritten {
            Some(line) => out.extend(line),
            None => out.extend_from_slice(line),
        }
    }
    out
}

thread_local! {
    static HARNESS: Harness = harness();
}

fuzz_target!(|data: &[u8]| {
    let input = sandboxed(data);
    HARNESS.with(|h| fusion_fuzz::timed(&input, |input| session(h, input)));
});

fn session(h: &Harness, input: &[u8]) {
    h.runtime.block_on(async {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = h.server.clone();
        let serving = tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let (mut reader, mut writer) = tokio::io::split(client_io);
        let write = async move {
            // The server may hang up first (a bad handshake); that is not a failure.
            let _ = writer.write_all(PRELUDE).await;
            let _ = writer.write_all(input).await;
            let _ = writer.shutdown().await;
        };
        let read = async move {
            let mut seen = 0usize;
            let mut buf = vec![0u8; 16 * 1024];
            let show = std::env::var_os("FUSION_FUZZ_SHOW").is_some();
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if show {
                            eprint!("{}", String::from_utf8_lossy(&buf[..n]));
                        }
                        seen = (seen + n).min(READ_CAP);
                    }
                }
            }
            seen
        };
        let finished = tokio::time::timeout(SESSION_LIMIT, async {
            let (_, answered) = tokio::join!(write, read);
            serving.await.expect("the MCP server task panicked");
            answered
        })
        .await;
        assert!(
            finished.is_ok(),
            "the MCP server did not end its session within {SESSION_LIMIT:?}"
        );
    });
}
