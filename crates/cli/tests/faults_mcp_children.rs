//! The fault matrix for the composite MCP node's children (issue 21): a child that hangs (a
//! call never answered, a `tools/list` never answered), one that floods notifications, and one
//! that answers garbage after a good start — each a real child process (`common/fault_child.py`)
//! behind the real `fusion mcp`, driven by the official Python SDK (`clients/mcp_session.py`).
//! Beside each faulty child runs a steady one, which must keep answering throughout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::mcp_session::Session;
use common::{Harness, crate_dir, healthy_script, peer, wait_for};
use serde_json::{Value, json};

/// A `[[mcp.servers]]` entry running the fault child with `args`, calls bounded by `timeout`.
fn fault_child(name: &str, timeout: &str, args: &[String]) -> String {
    let script = crate_dir().join("tests/common/fault_child.py");
    let mut all = vec![format!("{:?}", script.display().to_string())];
    all.extend(args.iter().map(|a| format!("{a:?}")));
    format!(
        "[[mcp.servers]]\nname = \"{name}\"\ncommand = \"{}\"\nargs = [{}]\ntimeout = \"{timeout}\"\n",
        peer("FUSION_PEERS_PYTHON"),
        all.join(", ")
    )
}

/// The standard council config plus a faulty child (`faulty`, with `args`, its calls bounded by
/// 3 s) and a steady one.
async fn setup(faulty_args: impl FnOnce(&Path) -> Vec<String>) -> (Harness, PathBuf) {
    setup_with("3s", faulty_args).await
}

/// [`setup`] with the faulty child's call timeout `timeout`.
async fn setup_with(
    timeout: &str,
    faulty_args: impl FnOnce(&Path) -> Vec<String>,
) -> (Harness, PathBuf) {
    let h = Harness::start(healthy_script()).await;
    let text = format!(
        "{}\n[mcp]\nstartup_timeout = \"20s\"\n{}{}",
        h.standard_config("", ""),
        fault_child("faulty", timeout, &faulty_args(h.dir.path())),
        fault_child("steady", "30s", &[]),
    );
    let path = h.write_config("fusion.toml", &text);
    (h, path)
}

fn text(answer: &Value) -> &str {
    answer["text"].as_str().unwrap_or_default()
}

/// `steady__echo` answers at once and correctly.
async fn steady_answers(s: &mut Session, word: &str) {
    let echo = s
        .ok(json!({"op": "call", "tool": "steady__echo", "args": {"text": word}}))
        .await;
    assert_eq!(echo["is_error"], false, "{echo}");
    assert_eq!(text(&echo), format!("echo: {word}"), "{echo}");
}

/// The status resource's entry for `name`.
async fn status(s: &mut Session, name: &str) -> Value {
    let servers = s.read_json("fusion://mcp/servers").await;
    servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no `{name}` in {servers}"))
}

/// Calls `tool` until it answers without a tool error (the child came back), at most `tries`
/// times a quarter second apart; the last answer.
async fn call_until_ok(s: &mut Session, tool: &str, args: Value, tries: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..tries {
        last = s
            .ok(json!({"op": "call", "tool": tool, "args": args}))
            .await;
        if last["is_error"] == false {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("`{tool}` never answered again: {last}");
}

#[tokio::test]
async fn a_call_a_child_never_answers_times_out_naming_it_is_cancelled_and_blocks_nothing() {
    let events = std::cell::OnceCell::new();
    let (_h, config) = setup(|dir| {
        let file = dir.join("faulty.events");
        events.set(file.clone()).unwrap();
        vec!["--events".into(), file.display().to_string()]
    })
    .await;
    let events = events.into_inner().unwrap();
    let mut s = Session::stdio(&config, &["--mode", "legacy"]).await;

    s.ok(json!({"op": "start_call", "tag": "hung", "tool": "faulty__hang", "args": {}}))
        .await;
    // While the call hangs, the other child, Fusion's own catalog and the hung child's other
    // tools all answer.
    steady_answers(&mut s, "during the hang").await;
    assert!(s.tool_names().await.iter().any(|t| t == "faulty__echo"));
    let echo = s
        .ok(json!({"op": "call", "tool": "faulty__echo", "args": {"text": "beside"}}))
        .await;
    assert_eq!(text(&echo), "echo: beside", "{echo}");

    let hung = s
        .ok(json!({"op": "await_call", "tag": "hung", "timeout_s": 60}))
        .await;
    let result = &hung["result"];
    assert_eq!(
        result["ok"], true,
        "a hung child gives a tool error: {hung}"
    );
    assert_eq!(result["is_error"], true, "{hung}");
    assert!(
        text(result).contains("`faulty`") && text(result).contains("did not answer within 3s"),
        "the error names the child and its timeout: {hung}"
    );
    // The child was told the request is over: no pending request is left behind on either side.
    wait_for(
        "the hung call's cancellation reaches the child",
        Duration::from_secs(20),
        || async {
            std::fs::read_to_string(&events)
                .ok()
                .filter(|e| e.contains("cancelled"))
        },
    )
    .await;

    steady_answers(&mut s, "after the hang").await;
    let back = call_until_ok(&mut s, "faulty__echo", json!({"text": "again"}), 80).await;
    assert_eq!(text(&back), "echo: again", "{back}");
    let faulty = status(&mut s, "faulty").await;
    assert_eq!(faulty["failed_calls"], 1, "{faulty}");
    assert_eq!(status(&mut s, "steady").await["failed_calls"], 0);
    s.quit().await;
}

#[tokio::test]
async fn a_child_that_stops_answering_tools_list_is_restarted_instead_of_hanging_the_relist() {
    // tools/list is answered once (at start), then never.
    let (_h, config) = setup(|_| vec!["--hang-lists-after".into(), "1".into()]).await;
    let mut s = Session::stdio(&config, &["--mode", "legacy"]).await;
    assert!(s.tool_names().await.iter().any(|t| t == "faulty__hang"));

    // Its list_changed makes the hub re-list it, which it never answers.
    let flooded = s
        .ok(json!({"op": "call", "tool": "faulty__flood", "args": {"kind": "list_changed", "count": 1}}))
        .await;
    assert_eq!(text(&flooded), "flooded 1", "{flooded}");
    steady_answers(&mut s, "while the re-list hangs").await;

    // The re-list is bounded by the child's timeout: the child is taken for hung and restarted
    // (a new process answers tools/list again), rather than a task waiting forever.
    let mut faulty = Value::Null;
    for _ in 0..120 {
        faulty = status(&mut s, "faulty").await;
        if faulty["restarts"].as_u64().unwrap_or(0) >= 1 && faulty["state"] == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        faulty["restarts"].as_u64().unwrap_or(0) >= 1 && faulty["state"] == "ready",
        "the child whose re-list hung was restarted: {faulty}"
    );
    let back = call_until_ok(&mut s, "faulty__echo", json!({"text": "relisted"}), 40).await;
    assert_eq!(text(&back), "echo: relisted", "{back}");
    steady_answers(&mut s, "at the end").await;
    s.quit().await;
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

#[tokio::test]
async fn a_child_flooding_notifications_leaves_the_hub_responsive_bounded_and_relisting_coalesced()
{
    // Each tools/list of the faulty child takes 50 ms: re-listing once per list_changed would
    // pile up thousands of overlapping listings.
    let (_h, config) = setup_with("90s", |_| vec!["--slow-lists".into(), "0.05".into()]).await;
    let mut s = Session::stdio(&config, &["--mode", "legacy"]).await;
    s.ok(json!({"op": "set_level", "level": "debug"})).await;
    let stats = s
        .ok(json!({"op": "call", "tool": "faulty__stats", "args": {}}))
        .await;
    let stats: Value =
        serde_json::from_str(text(&stats)).unwrap_or_else(|e| panic!("{e}: {stats}"));
    let fusion = stats["ppid"].as_u64().unwrap();
    let lists_before = stats["lists"].as_u64().unwrap();
    let rss_before = rss_kib(fusion);

    const FLOOD: u64 = 20_000;
    s.ok(
        json!({"op": "start_call", "tag": "logs", "tool": "faulty__flood",
                "args": {"kind": "message", "count": FLOOD}}),
    )
    .await;
    for i in 0..5 {
        steady_answers(&mut s, &format!("during the log flood {i}")).await;
    }
    let logs = s
        .ok(json!({"op": "await_call", "tag": "logs", "timeout_s": 100}))
        .await;
    assert_eq!(
        text(&logs["result"]),
        format!("flooded {FLOOD}"),
        "the flooding call itself is answered"
    );

    let progress = s
        .ok(
            json!({"op": "call", "tool": "faulty__flood", "progress": true,
                   "args": {"kind": "progress", "count": FLOOD}}),
        )
        .await;
    assert_eq!(
        text(&progress),
        format!("flooded {FLOOD}"),
        "the flooding call itself is answered"
    );
    steady_answers(&mut s, "after the progress flood").await;

    const CHANGES: u64 = 2_000;
    let changed = s
        .ok(json!({"op": "call", "tool": "faulty__flood",
                   "args": {"kind": "list_changed", "count": CHANGES}}))
        .await;
    assert_eq!(text(&changed), format!("flooded {CHANGES}"));
    steady_answers(&mut s, "after the list_changed flood").await;

    // Let every relayed or queued notification drain, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = s
        .ok(json!({"op": "call", "tool": "faulty__stats", "args": {}}))
        .await;
    let stats: Value =
        serde_json::from_str(text(&stats)).unwrap_or_else(|e| panic!("{e}: {stats}"));
    let relists = stats["lists"].as_u64().unwrap() - lists_before;
    assert!(
        relists < CHANGES / 10,
        "{CHANGES} list_changed caused {relists} re-listings: they are not coalesced"
    );
    let growth_mib = rss_kib(fusion).saturating_sub(rss_before) / 1024;
    assert!(
        growth_mib < 48,
        "fusion grew by {growth_mib} MiB relaying {FLOOD} log lines and {FLOOD} progress \
         notifications: the relay is not bounded"
    );
    let faulty = status(&mut s, "faulty").await;
    eprintln!(
        "flood: {relists} re-listings for {CHANGES} list_changed; RSS +{growth_mib} MiB; \
         dropped {} notifications",
        faulty["dropped_notifications"]
    );
    assert_eq!(faulty["state"], "ready", "{faulty}");
    assert!(
        faulty["dropped_notifications"].is_u64(),
        "the status counts notifications dropped under a flood: {faulty}"
    );
    steady_answers(&mut s, "at the end").await;
    s.quit().await;
}

#[tokio::test]
async fn a_child_answering_garbage_after_a_good_start_fails_the_call_and_is_restarted() {
    let (_h, config) = setup(|dir| {
        vec![
            "--state".into(),
            dir.join("faulty.started").display().to_string(),
        ]
    })
    .await;
    let mut s = Session::stdio(&config, &["--mode", "legacy"]).await;
    let good = s
        .ok(json!({"op": "call", "tool": "faulty__echo", "args": {"text": "good start"}}))
        .await;
    assert_eq!(text(&good), "echo: good start", "{good}");

    // Non-JSON, malformed JSON-RPC and an answer with a wrong id instead of the answer.
    let garbage = s
        .ok(json!({"op": "call", "tool": "faulty__garbage", "args": {}}))
        .await;
    assert_eq!(garbage["is_error"], true, "{garbage}");
    assert!(
        text(&garbage).contains("`faulty`"),
        "the error names the child: {garbage}"
    );
    assert!(
        !text(&garbage).contains("wrong id"),
        "an answer to another id is not taken for this call's: {garbage}"
    );
    steady_answers(&mut s, "beside the garbage").await;

    // The child is restarted (supervision: a failed call replaces its connection), and the
    // restarted process answers the same call cleanly.
    let back = call_until_ok(&mut s, "faulty__garbage", json!({}), 80).await;
    assert_eq!(
        text(&back),
        "garbage: answered cleanly after a restart",
        "{back}"
    );
    let faulty = status(&mut s, "faulty").await;
    assert!(faulty["restarts"].as_u64().unwrap_or(0) >= 1, "{faulty}");
    assert_eq!(faulty["state"], "ready", "{faulty}");
    let steady = status(&mut s, "steady").await;
    assert_eq!(steady["restarts"], 0, "{steady}");
    assert_eq!(steady["failed_calls"], 0, "{steady}");
    s.quit().await;
}
