//! Hostile input against the real `fusion serve` and `fusion mcp`: a megabyte prompt of one
//! letter (routing, tasks and the MCP routing tools answer it, and `/health` is not held up),
//! web pages of other sites and DNS-rebinding hosts (refused before anything runs), an upstream
//! whose body never ends (502, memory bounded), idle sockets and more connections than allowed
//! (closed, the server keeps serving), and a wrong method (a JSON 405).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::mcp_session::Session;
use common::{FusionServer, Harness};
use fusion_mock_provider::{Failure, ModelScript, Script};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One megabyte of `a`: tiktoken's pre-split regex and merge were super-linear on it.
fn letters() -> String {
    "a".repeat(1 << 20)
}

fn script() -> Script {
    Script::new()
        .with_model("local", ModelScript::fixed("routed answer"))
        .with_model("endless", ModelScript::failing(Failure::Endless))
}

fn config(h: &Harness, server: &str) -> String {
    let url = h.mock.base_url();
    format!(
        r#"[server]
{server}

[router]
discover = false

[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "20s"
max_response_bytes = 1048576

[[models]]
id = "local"
provider = "mock"
context_window = 2000000

[[models]]
id = "endless"
provider = "mock"
context_window = 2000000
quality = {{ default = 0.1 }}
"#
    )
}

async fn serve(h: &Harness, server: &str) -> FusionServer {
    let path = h.write_config("fusion.toml", &config(h, server));
    FusionServer::with_config(h.dir.path(), &path).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_megabyte_prompt_of_one_letter_is_routed_and_answered_while_health_answers() {
    let h = Harness::start(script()).await;
    let server = serve(&h, "").await;
    let http = client();
    let body =
        json!({"model": "router/auto", "messages": [{"role": "user", "content": letters()}]});
    let routed = http
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&body)
        .send();
    let health = async {
        // Sent while the big prompt is being counted.
        tokio::time::sleep(Duration::from_millis(50)).await;
        http.get(format!("{}/health", server.url)).send().await
    };
    let (routed, health) = tokio::join!(routed, health);
    assert_eq!(health.unwrap().status(), 200);
    let (status, body) = json_of(routed.unwrap()).await;
    assert_eq!(status, 200, "{body}\n{}", server.log());
    assert_eq!(body["choices"][0]["message"]["content"], "routed answer");
    let estimate = &body["fusion"]["route"]["estimate"];
    assert!(
        estimate["input_tokens"].as_u64().unwrap() > 10_000,
        "{estimate}"
    );

    // The same prompt as an async task without a model: routed at submit, then completed.
    let submitted = http
        .post(format!("{}/api/tasks", server.url))
        .json(&json!({"work": {"kind": "completion",
            "messages": [{"role": "user", "content": letters()}]}}))
        .send()
        .await
        .unwrap();
    let (status, task) = json_of(submitted).await;
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_owned();
    let done = wait_for_task(&http, &server, &id).await;
    assert_eq!(done["state"], "completed", "{done}");
    server.stop().await;
}

async fn wait_for_task(http: &reqwest::Client, server: &FusionServer, id: &str) -> Value {
    for _ in 0..600 {
        let response = http
            .get(format!("{}/api/tasks/{id}", server.url))
            .send()
            .await
            .unwrap();
        let (_, task) = json_of(response).await;
        if matches!(
            task["state"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {id} did not finish");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_routing_tools_answer_a_megabyte_task() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h, ""));
    let mut session = Session::stdio(&path, &[]).await;
    let call = |tool: &str, args: Value| json!({"op": "call", "tool": tool, "args": args});

    let decided = session
        .ok(call("preemptive_route_task", json!({"task": letters()})))
        .await;
    let decision = &decided["structured"];
    assert_eq!(decision["chosen"], "local", "{decided}");

    let estimate = session
        .ok(call(
            "get_cost_estimate",
            json!({"task": letters(), "context_length": 300000}),
        ))
        .await;
    assert_eq!(estimate["is_error"], false, "{estimate}");

    let queued = session
        .ok(call("route_task", json!({"task": letters()})))
        .await;
    let structured = &queued["structured"];
    let id = structured["task_id"]
        .as_str()
        .or(structured["id"].as_str())
        .unwrap_or_else(|| panic!("no task id: {queued}"))
        .to_owned();
    let mut state = Value::Null;
    for _ in 0..600 {
        let status = session
            .ok(call("get_task_status", json!({"task_id": id})))
            .await;
        let task = &status["structured"];
        state = task
            .get("state")
            .or(task.get("status"))
            .cloned()
            .unwrap_or(Value::Null);
        if matches!(state.as_str(), Some("completed" | "failed" | "cancelled")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "completed");
    session.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_another_site_cannot_post_to_v1_or_api_and_nothing_reaches_a_model() {
    let h = Harness::start(script()).await;
    let server = serve(&h, "").await;
    let http = client();
    let body = json!({"model": "local", "messages": [{"role": "user", "content": "spend"}]});
    // A "simple" cross-origin request: text/plain needs no CORS preflight.
    for path in ["/v1/chat/completions", "/api/tasks"] {
        let response = http
            .post(format!("{}{path}", server.url))
            .header("origin", "https://evil.example")
            .header("content-type", "text/plain")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let (status, error) = json_of(response).await;
        assert_eq!(status, 403, "{path}: {error}");
        assert_eq!(error["error"]["code"], "origin_not_allowed", "{error}");
    }
    // Without a browser Origin, a body that is not declared JSON is still refused.
    let response = http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (status, error) = json_of(response).await;
    assert_eq!(status, 415, "{error}");
    assert_eq!(error["error"]["code"], "unsupported_media_type");
    assert!(
        h.mock.requests().is_empty(),
        "a refused request reached the model"
    );

    // The same request from a loopback page (or a plain client) goes through.
    let response = http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("origin", "http://localhost:5173")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebinding_host_cannot_read_tasks_usage_or_metrics_unless_configured() {
    let h = Harness::start(script()).await;
    let server = serve(&h, r#"allowed_hosts = ["fusion.lan"]"#).await;
    let http = client();
    for path in [
        "/api/tasks",
        "/api/usage",
        "/metrics",
        "/v1/models",
        "/health",
    ] {
        let url = format!("{}{path}", server.url);
        let refused = http
            .get(&url)
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        let (status, error) = json_of(refused).await;
        assert_eq!(status, 403, "{path}: {error}");
        assert_eq!(error["error"]["code"], "host_not_allowed", "{error}");
        let configured = http
            .get(&url)
            .header("host", "fusion.lan:8787")
            .send()
            .await
            .unwrap();
        assert_eq!(configured.status(), 200, "{path} by a configured name");
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_upstream_body_fails_the_call_with_502_and_memory_stays_bounded() {
    let h = Harness::start(script()).await;
    let server = serve(&h, "").await;
    let http = client();
    for stream in [false, true] {
        let body = json!({"model": "endless", "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]});
        let response = http
            .post(format!("{}/v1/chat/completions", server.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, answer) = json_of(response).await;
        if stream {
            // The error arrives as the stream's event (headers were already sent) or as a 502.
            let text = answer.to_string();
            assert!(
                text.contains("upstream_response_too_large"),
                "stream: {status} {text}"
            );
        } else {
            assert_eq!(status, 502, "{answer}");
            assert_eq!(answer["error"]["code"], "upstream_response_too_large");
        }
    }
    let rss_kib = rss_kib(server.child.id().unwrap());
    assert!(rss_kib < 256 * 1024, "RSS grew to {rss_kib} KiB");
    server.stop().await;
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn address(server: &FusionServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; the bytes it sent first.
async fn until_closed(socket: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), socket.read_to_end(&mut seen)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sockets_are_closed_after_the_header_timeout() {
    let h = Harness::start(script()).await;
    let server = serve(&h, r#"header_timeout = "1s""#).await;
    // Nothing sent at all.
    let mut silent = TcpStream::connect(address(&server)).await.unwrap();
    // Half a request line, then silence (slowloris).
    let mut partial = TcpStream::connect(address(&server)).await.unwrap();
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHo")
        .await
        .unwrap();
    // A finished request on a keep-alive connection, then idle.
    let mut kept = TcpStream::connect(address(&server)).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    until_closed(&mut silent).await;
    until_closed(&mut partial).await;
    let answered = String::from_utf8_lossy(&until_closed(&mut kept).await).into_owned();
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_are_closed_and_the_server_keeps_serving() {
    let h = Harness::start(script()).await;
    let server = serve(&h, "max_connections = 3").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut socket = TcpStream::connect(address(&server)).await.unwrap();
        // A request answered proves the connection is being served (and counted).
        socket
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        socket.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        held.push(socket);
    }
    let mut extra = TcpStream::connect(address(&server)).await.unwrap();
    let _ = extra
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let seen = until_closed(&mut extra).await;
    assert!(seen.is_empty(), "served past the cap: {seen:?}");
    assert!(server.log().contains("max_connections"), "{}", server.log());
    drop(held);
    let mut answered = false;
    for _ in 0..100 {
        if let Ok(response) = client().get(format!("{}/health", server.url)).send().await
            && response.status() == 200
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        answered,
        "the server did not serve again after the held connections closed"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_method_gets_a_json_405() {
    let h = Harness::start(script()).await;
    let server = serve(&h, "").await;
    let response = client()
        .get(format!("{}/v1/chat/completions", server.url))
        .send()
        .await
        .unwrap();
    let (status, error) = json_of(response).await;
    assert_eq!(status, 405);
    assert_eq!(error["error"]["code"], "method_not_allowed", "{error}");
    server.stop().await;
}
