//! The composite MCP node with a Streamable HTTP child: `server-everything` in its
//! `streamableHttp` mode (forced onto 127.0.0.1 by `scripts/node-loopback.cjs`), reached through
//! `fusion mcp`; the child restarted so its session is gone; and the differential conformance
//! run — the official suite against the child directly and through Fusion in passthrough mode —
//! where no scenario may pass directly and fail through Fusion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::mcp_session::Session;
use common::{FusionServer, Harness, healthy_script, peer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// server-everything serving Streamable HTTP on a loopback port.
struct HttpEverything {
    child: Child,
    port: u16,
}

impl HttpEverything {
    async fn start(port: u16) -> Self {
        let mut child = Command::new(peer("FUSION_MCP_EVERYTHING"))
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .env(
                "NODE_OPTIONS",
                format!(
                    "--require={}",
                    common::repo_root()
                        .join("scripts/node-loopback.cjs")
                        .display()
                ),
            )
            // It logs every request on stdout: nobody reads it, so it must not be a pipe.
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start server-everything");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("listening on port") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            ready,
            Ok(true),
            "server-everything did not start on port {port}"
        );
        // Keep draining its stderr so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn config_with(h: &Harness, mcp: &str) -> PathBuf {
    let text = format!("{}\n{mcp}", h.standard_config("", ""));
    h.write_config("fusion.toml", &text)
}

#[tokio::test]
async fn an_http_child_is_aggregated_and_survives_a_restart_that_drops_its_session() {
    let h = Harness::start(healthy_script()).await;
    let port = free_port();
    let remote = HttpEverything::start(port).await;
    let config = config_with(
        &h,
        &format!(
            // server-everything answers a forgotten session with 400 (not 404) and no request
            // id: the call times out, and Fusion reconnects.
            "[[mcp.servers]]\nname = \"remote\"\nurl = \"{}\"\ntimeout = \"3s\"\n",
            remote.url()
        ),
    )
    .await;
    let mut s = Session::stdio(&config, &["--mode", "legacy"]).await;
    let echo = s
        .ok(json!({"op": "call", "tool": "remote__echo", "args": {"message": "one"}}))
        .await;
    assert_eq!(echo["text"], "Echo: one", "{echo}");
    let servers = s.read_json("fusion://mcp/servers").await;
    assert_eq!(servers["servers"][0]["transport"], "streamable-http");

    // A new process on the same port knows nothing of Fusion's session.
    remote.stop().await;
    let remote = HttpEverything::start(port).await;
    let mut answer = Value::Null;
    for _ in 0..100 {
        answer = s
            .ok(json!({"op": "call", "tool": "remote__echo", "args": {"message": "two"}}))
            .await;
        if answer["is_error"] == false {
            break;
        }
        assert!(
            answer["text"]
                .as_str()
                .unwrap_or_default()
                .contains("`remote`"),
            "errors name the child: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer["text"], "Echo: two", "{answer}");
    s.quit().await;
    remote.stop().await;
}

/// Runs the conformance suite against `url`; the names of the scenarios that passed.
async fn conformance(url: &str, out: &Path) -> Vec<String> {
    let run = Command::new(common::repo_root().join("scripts/mcp-conformance.sh"))
        .arg(url)
        .arg(out)
        .kill_on_drop(true)
        .output();
    let run = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the suite finishes within 300 s")
        .expect("run scripts/mcp-conformance.sh");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).unwrap_or_else(|e| {
            panic!(
                "no summary ({e}): {}\n{}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            )
        }),
    )
    .unwrap();
    summary["scenarios_passed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn no_conformance_scenario_passes_directly_and_fails_through_fusion_in_passthrough() {
    let h = Harness::start(healthy_script()).await;
    let child = HttpEverything::start(free_port()).await;
    let direct = conformance(&child.url(), &h.dir.path().join("direct")).await;
    assert!(
        !direct.is_empty(),
        "the child passes some scenarios on its own"
    );

    let config = config_with(
        &h,
        &format!(
            "[mcp]\nmode = \"passthrough\"\n[[mcp.servers]]\nname = \"everything\"\nurl = \"{}\"\n",
            child.url()
        ),
    )
    .await;
    let server = FusionServer::with_config(h.dir.path(), &config).await;
    let through = conformance(
        &format!("{}/mcp", server.url),
        &h.dir.path().join("through"),
    )
    .await;
    let lost: Vec<&String> = direct.iter().filter(|s| !through.contains(s)).collect();
    assert!(
        lost.is_empty(),
        "scenarios that pass directly but fail through Fusion: {lost:?}\n(direct: {direct:?}; through: {through:?}; log: {})",
        server.log()
    );
    server.stop().await;
    child.stop().await;
}

#[tokio::test]
async fn each_client_session_gets_its_own_session_with_a_stateful_http_child() {
    let h = Harness::start(healthy_script()).await;
    let child = HttpEverything::start(free_port()).await;
    let config = config_with(
        &h,
        &format!(
            "[[mcp.servers]]\nname = \"remote\"\nurl = \"{}\"\n",
            child.url()
        ),
    )
    .await;
    let server = FusionServer::with_config(h.dir.path(), &config).await;
    let url = format!("{}/mcp", server.url);
    let mut a = Session::http(&url, &["--mode", "legacy"]).await;
    let mut b = Session::http(&url, &["--mode", "legacy"]).await;
    for s in [&mut a, &mut b] {
        let echo = s
            .ok(json!({"op": "call", "tool": "remote__echo", "args": {"message": "mine"}}))
            .await;
        assert_eq!(echo["text"], "Echo: mine", "{echo}");
    }
    let b_seen = b.ok(json!({"op": "notifications", "since_seq": 0})).await["last_seq"]
        .as_i64()
        .unwrap_or(0);

    // Simulated logging is state of the child's session: switched on by A, it talks to A only
    // (one message at once, then one every 5 s: B listens for longer than that).
    a.ok(json!({"op": "set_level", "level": "debug"})).await;
    a.ok(json!({"op": "call", "tool": "remote__toggle-simulated-logging", "args": {}}))
        .await;
    let heard = a
        .ok(json!({"op": "wait_notification", "method": "notifications/message", "after_seq": 0, "timeout_s": 30}))
        .await;
    assert_eq!(heard["found"], true, "{heard}");
    let b_heard = b
        .ok(json!({"op": "wait_notification", "method": "notifications/message", "after_seq": b_seen, "timeout_s": 8}))
        .await;
    assert_eq!(b_heard["found"], false, "B heard A's session: {b_heard}");
    a.quit().await;
    b.quit().await;
    server.stop().await;
    child.stop().await;
}
