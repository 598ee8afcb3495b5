//! Bad input on the MCP wire, against the real binary: what `fusion mcp` (stdio) and `/mcp` on
//! `fusion serve` answer to malformed JSON, non-JSON-RPC JSON, unknown methods, foreign
//! origins, missing keys and oversized bodies — and that each keeps serving afterwards.
//! (The SDK clients cannot send such input; these tests write the bytes themselves.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{FusionServer, Harness, healthy_script};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wire-test","version":"1"}}}"#;

/// A `fusion mcp` child with line access to its stdin and stdout.
struct StdioServer {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl StdioServer {
    async fn start(h: &Harness) -> Self {
        let config = h.write_config("fusion.toml", &h.standard_config("", ""));
        let mut child = common::fusion_command(h.dir.path())
            .args(["mcp", "--config", config.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            stdout,
        }
    }

    async fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next line on stdout, which must be one JSON-RPC message.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.stdout.next_line())
            .await
            .expect("an answer within 10 s")
            .unwrap()
            .expect("stdout open");
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        message
    }
}

#[tokio::test]
async fn stdio_answers_bad_messages_with_errors_skips_unparsable_lines_and_keeps_serving() {
    let h = Harness::start(healthy_script()).await;
    let mut mcp = StdioServer::start(&h).await;
    mcp.send(INITIALIZE).await;
    assert_eq!(mcp.next().await["id"], 1);
    mcp.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;

    // Not JSON at all: skipped (no id to answer; the SDKs agree not to reply to garbage).
    mcp.send("this is not json {").await;
    // JSON, but not a JSON-RPC message: Invalid Request.
    mcp.send(r#"{"hello":"world"}"#).await;
    let invalid = mcp.next().await;
    assert_eq!(invalid["error"]["code"], -32600, "{invalid}");
    // An unknown method: Method not found, with its id.
    mcp.send(r#"{"jsonrpc":"2.0","id":7,"method":"fusion/teleport","params":{}}"#)
        .await;
    let unknown = mcp.next().await;
    assert_eq!(unknown["id"], 7);
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");

    // Still serving: the tool list comes back whole.
    mcp.send(r#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#)
        .await;
    let tools = mcp.next().await;
    assert_eq!(tools["id"], 8);
    assert_eq!(tools["result"]["tools"][0]["name"], "fusion_ask");

    // Closing stdin ends the server cleanly.
    drop(mcp.stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), mcp.child.wait())
        .await
        .expect("exits when stdin closes")
        .unwrap();
    assert!(status.success(), "{status}");
}

async fn serve(h: &Harness, server_extra: &str, env: &[(&str, &str)]) -> FusionServer {
    let config = format!("[server]\n{server_extra}\n{}", h.standard_config("", ""));
    let path = h.write_config("fusion.toml", &config);
    FusionServer::start(
        h.dir.path(),
        &[
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        env,
    )
    .await
}

fn post(url: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{url}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
}

/// An `initialize` over HTTP succeeds: the endpoint is serving.
async fn assert_initialize_works(url: &str, bearer: Option<&str>) {
    let mut request = post(url, INITIALIZE);
    if let Some(key) = bearer {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("mcp-session-id"));
}

#[tokio::test]
async fn http_a_session_ended_with_delete_is_answered_200_and_is_gone() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(&h, "", &[]).await;
    let response = post(&server.url, INITIALIZE).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let end = || {
        reqwest::Client::new()
            .delete(format!("{}/mcp", server.url))
            .header("mcp-session-id", &session)
            .send()
    };
    // The official Python client logs a failure for anything but 200 or 204.
    assert_eq!(end().await.unwrap().status(), 200);
    let after = post(
        &server.url,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    )
    .header("mcp-session-id", &session)
    .send()
    .await
    .unwrap()
    .status();
    assert_eq!(after, 404, "the ended session is gone");
    server.stop().await;
}

#[tokio::test]
async fn http_malformed_json_gets_400_with_a_json_rpc_parse_error() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(&h, "", &[]).await;
    let response = post(&server.url, "{\"jsonrpc\": \"2.0\", oops")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert_eq!(body["id"], Value::Null);
    assert_initialize_works(&server.url, None).await;
    server.stop().await;
}

#[tokio::test]
async fn http_refuses_foreign_origins_and_hosts_with_403_but_serves_loopback_origins() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(&h, r#"allowed_origins = ["https://app.example.com"]"#, &[]).await;
    let foreign = post(&server.url, INITIALIZE)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let rebinding = post(&server.url, INITIALIZE)
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403);
    for origin in ["http://localhost:6274", "https://app.example.com"] {
        let allowed = post(&server.url, INITIALIZE)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200, "{origin}");
    }
    server.stop().await;
}

#[tokio::test]
async fn http_requires_the_bearer_key_when_keys_are_configured() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(
        &h,
        r#"api_keys_env = ["MCP_TEST_KEY"]"#,
        &[("MCP_TEST_KEY", "sk-mcp-test")],
    )
    .await;
    let missing = post(&server.url, INITIALIZE).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = post(&server.url, INITIALIZE)
        .bearer_auth("sk-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_initialize_works(&server.url, Some("sk-mcp-test")).await;
    server.stop().await;
}

#[tokio::test]
async fn http_oversized_bodies_get_413_and_unknown_methods_a_json_rpc_error() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(&h, "max_body_bytes = 4096", &[]).await;
    let prompt = "x".repeat(8192);
    let big = json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
        "params":{"name":"fusion_ask","arguments":{"prompt": prompt}}});
    let response = post(&server.url, big.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 413);

    // Stateless (2026-07-28) request for a method nobody has: -32601, not silence.
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "wire-test", "version": "1"}
    });
    let unknown =
        json!({"jsonrpc":"2.0","id":4,"method":"fusion/teleport","params":{"_meta": meta}});
    let response = post(&server.url, unknown.to_string())
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "fusion/teleport")
        .send()
        .await
        .unwrap();
    // The SDK answers a stateless request with JSON (404: there is no such method).
    assert_eq!(response.status(), 404);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["id"], 4);
    assert_eq!(message["error"]["code"], -32601, "{message}");
    assert_initialize_works(&server.url, None).await;
    server.stop().await;
}

/// A `fusion mcp` session past the handshake.
async fn initialized_stdio(h: &Harness) -> StdioServer {
    let mut mcp = StdioServer::start(h).await;
    mcp.send(INITIALIZE).await;
    assert_eq!(mcp.next().await["id"], 1);
    mcp.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    mcp
}

#[tokio::test]
async fn stdio_tools_call_with_array_arguments_answers_invalid_params() {
    let h = Harness::start(healthy_script()).await;
    let mut mcp = initialized_stdio(&h).await;
    mcp.send(
        r#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"fusion_ask","arguments":["Q?"]}}"#,
    )
    .await;
    let answer = mcp.next().await;
    assert_eq!(answer["id"], 11, "{answer}");
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`arguments` must be an object"),
        "{answer}"
    );
    // Still serving.
    mcp.send(r#"{"jsonrpc":"2.0","id":12,"method":"tools/list"}"#)
        .await;
    assert_eq!(mcp.next().await["id"], 12);
}

#[tokio::test]
async fn stdio_invalid_request_replies_carry_the_request_id() {
    let h = Harness::start(healthy_script()).await;
    let mut mcp = initialized_stdio(&h).await;
    // An id but neither a method nor a result: Invalid Request, answered with that id.
    mcp.send(r#"{"jsonrpc":"2.0","id":21}"#).await;
    let answer = mcp.next().await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert_eq!(answer["id"], 21, "{answer}");
    mcp.send(r#"{"jsonrpc":"1.0","id":"req-22","method":"tools/list"}"#)
        .await;
    let answer = mcp.next().await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert_eq!(answer["id"], "req-22", "{answer}");
    // Still serving.
    mcp.send(r#"{"jsonrpc":"2.0","id":23,"method":"tools/list"}"#)
        .await;
    assert_eq!(mcp.next().await["id"], 23);
}
