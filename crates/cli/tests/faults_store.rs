//! The fault matrix for the store (issue 21): `fusion serve` whose PostgreSQL goes away under
//! traffic and comes back (a private server of the test's own, `common/private_postgres.rs`),
//! and `fusion serve` whose SQLite file sits on a full disk (a 2 MiB tmpfs mounted in a mount
//! namespace of its own, `common/tiny_disk.rs`). Either way chat completions are answered —
//! the gateway never waits on the store — the ledger buffers or counts what it cannot write,
//! and writing resumes once the store is back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/private_postgres.rs"]
mod private_postgres;
#[path = "common/tiny_disk.rs"]
mod tiny_disk;

use std::time::Duration;

use common::{FusionServer, Harness, wait_for};
use fusion_mock_provider::{ModelScript, Script};
use private_postgres::PrivatePostgres;
use serde_json::{Value, json};
use tiny_disk::TinyDiskServer;

/// Longest any one request may take before the test calls it hung.
const HUNG: Duration = Duration::from_secs(30);

fn script() -> Script {
    Script::new()
        .with_model("small", ModelScript::echo())
        .with_model("slow", ModelScript::echo().with_latency_ms(3_000))
}

fn config(h: &Harness, storage: &str) -> String {
    format!(
        r#"{storage}
[router]
discover = false

[tasks]
poll_interval = "200ms"
local_slots = 1

[[providers]]
name = "local"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "60s"

[[models]]
id = "small"
provider = "local"

[[models]]
id = "slow"
provider = "local"
"#,
        url = h.mock.base_url()
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(HUNG).build().unwrap()
}

/// A request that must come back within [`HUNG`]: its status and JSON body (or text).
async fn send(request: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer within {HUNG:?} ({e})"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

async fn chat(server: &FusionServer, text: &str) -> (u16, Value) {
    chat_at(&server.url, text).await
}

async fn chat_at(url: &str, text: &str) -> (u16, Value) {
    let body = json!({"model": "small", "messages": [{"role": "user", "content": text}]});
    send(
        client()
            .post(format!("{url}/v1/chat/completions"))
            .json(&body),
        &format!("chat `{}`", &text[..text.len().min(40)]),
    )
    .await
}

async fn get(server: &FusionServer, path: &str) -> (u16, Value) {
    get_at(&server.url, path).await
}

async fn get_at(url: &str, path: &str) -> (u16, Value) {
    send(client().get(format!("{url}{path}")), path).await
}

async fn submit(server: &FusionServer, text: &str) -> (u16, Value) {
    let body = json!({"work": {"kind": "completion", "model": "slow",
                               "messages": [{"role": "user", "content": text}]}});
    send(
        client()
            .post(format!("{}/api/tasks", server.url))
            .json(&body),
        "POST /api/tasks",
    )
    .await
}

/// `fusion_ledger_rows_dropped_total` on /metrics (0 when not yet reported).
async fn rows_dropped(server: &FusionServer) -> u64 {
    metric(&server.url, "fusion_ledger_rows_dropped_total").await
}

/// The counter `name` on /metrics (0 when not yet reported).
async fn metric(url: &str, name: &str) -> u64 {
    let (status, body) = get_at(url, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body.as_str()
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

async fn serve(h: &Harness, config: &str) -> FusionServer {
    let path = h.dir.path().join("fusion.toml");
    std::fs::write(&path, config).unwrap();
    FusionServer::with_config(h.dir.path(), &path).await
}

/// The calls `/api/usage?caller=http` counts, once it answers.
async fn http_calls(server: &FusionServer) -> Option<u64> {
    http_calls_at(&server.url).await
}

async fn http_calls_at(url: &str) -> Option<u64> {
    let (status, body) = get_at(url, "/api/usage?caller=http").await;
    (status == 200).then(|| body["total"]["calls"].as_u64().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn with_postgresql_stopped_mid_run_chats_are_answered_rows_kept_and_tasks_resume() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .unwrap();
    let h = Harness::start(script()).await;
    let storage = format!("[storage]\nurl = \"{}\"\n", pg.url);
    let server = serve(&h, &config(&h, &storage)).await;

    for i in 0..5 {
        let (status, body) = chat(&server, &format!("before {i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(http_calls(&server).await, Some(5));
    // One task running (3 s upstream), one queued behind it (one local slot).
    let (status, running) = submit(&server, "running").await;
    assert_eq!(status, 202, "{running}");
    let (status, queued) = submit(&server, "queued").await;
    assert_eq!(status, 202, "{queued}");
    let running_id = running["id"].as_str().unwrap().to_owned();
    let queued_id = queued["id"].as_str().unwrap().to_owned();
    wait_for("the first task runs", HUNG, || async {
        let (_, view) = get(&server, &format!("/api/tasks/{running_id}")).await;
        (view["state"] == "running").then_some(())
    })
    .await;

    let stop = &pg;
    tokio::task::block_in_place(|| stop.stop());

    // The store is down: the gateway still answers, never waiting on it.
    for i in 0..20 {
        let (status, body) = chat(&server, &format!("during {i}")).await;
        assert_eq!(
            status,
            200,
            "chat {i} with the store down: {body}\n{}",
            server.log()
        );
    }
    let (status, health) = get(&server, "/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["store"]["reachable"], false, "{health}");
    // A task submitted now is refused with a clear 503, or accepted and run later.
    let (status, late) = submit(&server, "submitted during the outage").await;
    eprintln!("a task submitted with the store down: {status} {late}");
    let mut ids = vec![running_id, queued_id];
    match status {
        202 => ids.push(late["id"].as_str().unwrap().to_owned()),
        503 => assert!(
            late.to_string().contains("store"),
            "the 503 says the store is unavailable: {late}"
        ),
        other => panic!("a task submitted with the store down got {other}: {late}"),
    }

    tokio::task::block_in_place(|| pg.start_again());

    // Every task ends, completed; the ledger writes what it held.
    let mut views = Vec::new();
    for _ in 0..600 {
        views.clear();
        for id in &ids {
            let (_, view) = get(&server, &format!("/api/tasks/{id}")).await;
            views.push(view);
        }
        let finals = ["completed", "failed", "cancelled"];
        if views
            .iter()
            .all(|v| finals.iter().any(|f| v["state"] == *f))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for view in &views {
        assert_eq!(
            view["state"],
            "completed",
            "every task completes once the store is back: {views:?}\n{}",
            server.log()
        );
    }
    let dropped = rows_dropped(&server).await;
    assert_eq!(dropped, 0, "no ledger row was dropped over a short outage");
    let calls = wait_for(
        "the rows held during the outage are written",
        Duration::from_secs(60),
        || async { http_calls(&server).await.filter(|&n| n == 25) },
    )
    .await;
    assert_eq!(calls, 25);
    let (_, health) = get(&server, "/health").await;
    assert_eq!(health["store"]["reachable"], true, "{health}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_sqlite_disk_full_chats_are_answered_failures_counted_and_writes_resume() {
    let h = Harness::start(script()).await;
    let mount = h.dir.path().join("tiny");
    let storage = format!(
        "[storage]\nurl = \"sqlite://{}/fusion.db\"\n",
        mount.display()
    );
    let path = h.dir.path().join("fusion.toml");
    std::fs::write(&path, config(&h, &storage)).unwrap();
    let mut server = TinyDiskServer::start(h.dir.path(), &mount, "2m", &path).await;
    let url = server.url.clone();
    for i in 0..5 {
        let (status, body) = chat_at(&url, &format!("before {i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(http_calls_at(&url).await, Some(5));

    let filler = mount.join("filler");
    let filled = server.fill(&filler);
    assert!(
        filled > 0 && server.available() < 64 * 1024,
        "the disk is full"
    );

    // The disk is full: every chat is still answered.
    let padding = "x".repeat(2_000);
    for i in 0..200 {
        let (status, body) = chat_at(&url, &format!("full {i} {padding}")).await;
        assert_eq!(
            status,
            200,
            "chat {i} on a full disk: {body}\n{}",
            server.log()
        );
    }
    let (status, health) = get_at(&url, "/health").await;
    assert_eq!(status, 200, "{health}");
    // The ledger's failed writes are counted (and logged), not fatal.
    wait_for(
        "a failed ledger write is counted",
        Duration::from_secs(60),
        || async { (metric(&url, "fusion_ledger_write_errors_total").await > 0).then_some(()) },
    )
    .await;
    assert!(
        server.running(),
        "fusion serve died on a full disk:\n{}",
        server.log()
    );
    // Waiting to retry is not a busy loop: over two idle seconds the server uses well under
    // one second of CPU.
    let ticks_per_second = 100;
    let before = server.cpu_ticks();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = server.cpu_ticks() - before;
    assert!(
        used < ticks_per_second,
        "fusion serve used {used} CPU ticks in 2 idle seconds on a full disk: a busy loop"
    );

    // Space comes back: the rows held meanwhile are written.
    server.free(&filler);
    let mut calls = None;
    for _ in 0..600 {
        calls = http_calls_at(&url).await;
        if calls == Some(205) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = server.log();
    let tail: Vec<&str> = log.lines().rev().take(12).collect();
    assert_eq!(
        calls,
        Some(205),
        "the ledger writes again once the disk has room ({} free bytes; {} rows written); \
         the end of the log:\n{}",
        server.available(),
        metric(&url, "fusion_ledger_rows_written_total").await,
        tail.join("\n")
    );
    let calls = calls.unwrap_or_default();
    assert_eq!(calls, 205);
    assert_eq!(metric(&url, "fusion_ledger_rows_dropped_total").await, 0);
    let (status, body) = chat_at(&url, "after").await;
    assert_eq!(status, 200, "{body}");
    assert!(server.running(), "{}", server.log());
}
