//! The composite MCP node with real children: `@modelcontextprotocol/server-everything` and
//! `server-memory` (npm, classic protocol) and `mcp-server-time` (PyPI, newest protocol),
//! aggregated by the real `fusion` binary and driven by the official `mcp` Python SDK through
//! `clients/mcp_session.py`. Faults are real too: a child killed mid-session, one that never
//! starts, one that writes garbage to stdout. Peers come from `scripts/install-peers.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::mcp_session::Session;
use common::{Harness, healthy_script, peer};
use serde_json::{Value, json};

/// `[[mcp.servers]]` entries for the three real children.
fn everything() -> String {
    format!(
        "[[mcp.servers]]\nname = \"everything\"\ncommand = \"{}\"\nargs = [\"stdio\"]\n",
        peer("FUSION_MCP_EVERYTHING")
    )
}

fn time() -> String {
    format!(
        "[[mcp.servers]]\nname = \"time\"\ncommand = \"{}\"\nargs = [\"--local-timezone\", \"UTC\"]\n",
        peer("FUSION_MCP_TIME")
    )
}

fn memory(dir: &std::path::Path) -> String {
    format!(
        "[[mcp.servers]]\nname = \"memory\"\ncommand = \"{}\"\nenv = {{ MEMORY_FILE_PATH = \"{}\" }}\n",
        peer("FUSION_MCP_MEMORY"),
        dir.join("memory.jsonl").display()
    )
}

/// The standard council config (so `fusion_ask` works) plus `mcp` (the `[mcp]` keys and the
/// `[[mcp.servers]]` entries).
async fn setup(mcp: impl FnOnce(&std::path::Path) -> String) -> (Harness, PathBuf) {
    let h = Harness::start(healthy_script()).await;
    let text = format!("{}\n{}", h.standard_config("", ""), mcp(h.dir.path()));
    let path = h.write_config("fusion.toml", &text);
    (h, path)
}

fn text(answer: &Value) -> &str {
    answer["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn every_childs_tools_prompts_and_resources_are_listed_under_its_prefix_and_work() {
    let (_h, config) = setup(|dir| format!("{}{}{}", everything(), memory(dir), time())).await;
    let mut s = Session::stdio(&config, &[]).await;

    let tools = s.tool_names().await;
    for expected in [
        "fusion_ask",
        "find_tools",
        "everything__echo",
        "everything__get-sum",
        "memory__create_entities",
        "memory__read_graph",
        "time__get_current_time",
        "time__convert_time",
    ] {
        assert!(
            tools.iter().any(|t| t == expected),
            "{expected} missing from {tools:?}"
        );
    }
    assert!(
        tools.iter().all(|t| t.len() <= 64
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')),
        "{tools:?}"
    );

    let echo = s
        .ok(json!({"op": "call", "tool": "everything__echo", "args": {"message": "hi"}}))
        .await;
    assert_eq!(text(&echo), "Echo: hi");
    let sum = s
        .ok(json!({"op": "call", "tool": "everything__get-sum", "args": {"a": 2, "b": 3}}))
        .await;
    assert!(text(&sum).contains('5'), "{sum}");
    let now = s
        .ok(json!({"op": "call", "tool": "time__get_current_time", "args": {"timezone": "UTC"}}))
        .await;
    assert_eq!(now["is_error"], false, "{now}");
    assert!(text(&now).contains("UTC"), "{now}");
    let created = s
        .ok(json!({"op": "call", "tool": "memory__create_entities", "args": {"entities": [
            {"name": "fusion", "entityType": "project", "observations": ["aggregates MCP servers"]}
        ]}}))
        .await;
    assert_eq!(created["is_error"], false, "{created}");
    let graph = s
        .ok(json!({"op": "call", "tool": "memory__read_graph", "args": {}}))
        .await;
    assert!(text(&graph).contains("aggregates MCP servers"), "{graph}");

    let prompts = s.ok(json!({"op": "list_prompts"})).await;
    let names: Vec<&str> = prompts["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"everything__args-prompt"), "{names:?}");
    let prompt = s
        .ok(json!({"op": "get_prompt", "name": "everything__args-prompt", "args": {"city": "Paris"}}))
        .await;
    assert!(prompt["messages"].to_string().contains("Paris"), "{prompt}");

    let resources = s.ok(json!({"op": "list_resources"})).await;
    let uris: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert!(uris.contains(&"fusion://mcp/servers"), "{uris:?}");
    let doc = uris
        .iter()
        .find(|u| u.starts_with("demo://resource/static/"))
        .expect("server-everything's static resources are listed unchanged");
    let read = s.ok(json!({"op": "read", "uri": doc})).await;
    assert_eq!(read["contents"][0]["uri"], *doc);
    let templated = s
        .ok(json!({"op": "read", "uri": "demo://resource/dynamic/text/7"}))
        .await;
    assert!(templated["contents"][0]["text"].is_string(), "{templated}");

    let servers = s.read_json("fusion://mcp/servers").await;
    let states: Vec<(&str, &str)> = servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("everything", "ready"),
            ("memory", "ready"),
            ("time", "ready")
        ]
    );
    s.quit().await;
}

#[tokio::test]
async fn progress_and_log_messages_of_a_child_reach_the_client() {
    let (_h, config) = setup(|_| everything()).await;
    let mut s = Session::stdio(&config, &["--mode", "legacy"]).await;
    s.ok(json!({"op": "set_level", "level": "debug"})).await;
    let long = s
        .ok(
            json!({"op": "call", "tool": "everything__trigger-long-running-operation",
                   "args": {"duration": 1, "steps": 3}, "progress": true}),
        )
        .await;
    assert_eq!(long["is_error"], false, "{long}");
    let steps: Vec<f64> = long["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(steps, [1.0, 2.0, 3.0], "{long}");

    s.ok(json!({"op": "call", "tool": "everything__toggle-simulated-logging", "args": {}}))
        .await;
    let log = s
        .ok(json!({"op": "wait_notification", "method": "notifications/message", "after_seq": 0, "timeout_s": 30}))
        .await;
    assert_eq!(log["found"], true, "{log}");
    assert!(
        log["params"]["logger"]
            .as_str()
            .unwrap_or_default()
            .starts_with("everything"),
        "relayed logs name their server: {log}"
    );
    s.quit().await;
}

#[tokio::test]
async fn a_cancelled_call_to_a_child_ends_at_once_and_the_session_goes_on() {
    let (_h, config) = setup(|_| everything()).await;
    let mut s = Session::stdio(&config, &["--mode", "legacy"]).await;
    let cancelled = s
        .ok(
            json!({"op": "cancel_call", "tool": "everything__trigger-long-running-operation",
                   "args": {"duration": 30, "steps": 30}, "after_s": 4.0}),
        )
        .await;
    assert_eq!(cancelled["cancelled"], true, "{cancelled}");
    assert!(
        !cancelled["progress"].as_array().unwrap().is_empty(),
        "progress arrived before the cancel: {cancelled}"
    );
    let echo = s
        .ok(json!({"op": "call", "tool": "everything__echo", "args": {"message": "next"}}))
        .await;
    assert_eq!(text(&echo), "Echo: next");
    let servers = s.read_json("fusion://mcp/servers").await;
    assert_eq!(servers["servers"][0]["state"], "ready", "{servers}");
    assert_eq!(
        servers["servers"][0]["restarts"], 0,
        "a cancel is not a failure: {servers}"
    );
    s.quit().await;
}

#[tokio::test]
async fn a_childs_sampling_request_is_answered_by_the_client() {
    let (_h, config) = setup(|_| everything()).await;
    let mut s = Session::stdio(
        &config,
        &[
            "--mode",
            "legacy",
            "--sampling-reply",
            "sampled by the test client",
        ],
    )
    .await;
    let sampled = s
        .ok(
            json!({"op": "call", "tool": "everything__trigger-sampling-request",
                   "args": {"prompt": "Say something", "maxTokens": 20}}),
        )
        .await;
    assert_eq!(sampled["is_error"], false, "{sampled}");
    assert!(
        sampled.to_string().contains("sampled by the test client"),
        "the child's result carries the client's answer: {sampled}"
    );
    let seen = s.ok(json!({"op": "notifications", "since_seq": 0})).await;
    assert!(
        seen["sampling"].to_string().contains("Say something"),
        "the client saw the child's request: {seen}"
    );
    s.quit().await;
}

/// server-everything behind a shell that records its pid, so the test can kill it.
fn killable_everything(dir: &std::path::Path) -> String {
    let pid = dir.join("everything.pid");
    format!(
        "[[mcp.servers]]\nname = \"everything\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo $$ > {}; exec {} stdio\"]\n",
        pid.display(),
        peer("FUSION_MCP_EVERYTHING")
    )
}

#[tokio::test]
async fn a_killed_child_fails_cleanly_while_others_work_then_returns_with_list_changed() {
    let (h, config) = setup(|dir| format!("{}{}", killable_everything(dir), time())).await;
    let mut s = Session::stdio(&config, &["--mode", "legacy"]).await;
    s.ok(json!({"op": "call", "tool": "everything__echo", "args": {"message": "before"}}))
        .await;
    let marker = s.ok(json!({"op": "notifications", "since_seq": 0})).await;
    let last_seq = marker["last_seq"].as_i64().unwrap_or(0);

    let pid = std::fs::read_to_string(h.dir.path().join("everything.pid")).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());

    // Calls to the dead child fail as tool errors that name it; the other child still works.
    let dead = s
        .ok(json!({"op": "call", "tool": "everything__echo", "args": {"message": "during"}}))
        .await;
    if dead["is_error"] == true {
        assert!(text(&dead).contains("`everything`"), "{dead}");
    }
    let other = s
        .ok(json!({"op": "call", "tool": "time__get_current_time", "args": {"timezone": "UTC"}}))
        .await;
    assert_eq!(other["is_error"], false, "{other}");

    // It comes back: the client hears list_changed, and its tools work again.
    let changed = s
        .ok(
            json!({"op": "wait_notification", "method": "notifications/tools/list_changed",
                   "after_seq": last_seq, "timeout_s": 30}),
        )
        .await;
    assert_eq!(changed["found"], true, "{changed}");
    let mut back = Value::Null;
    for _ in 0..50 {
        back = s
            .ok(json!({"op": "call", "tool": "everything__echo", "args": {"message": "after"}}))
            .await;
        if back["is_error"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(text(&back), "Echo: after", "{back}");
    let servers = s.read_json("fusion://mcp/servers").await;
    assert_eq!(servers["servers"][0]["restarts"], 1, "{servers}");
    assert_eq!(servers["servers"][0]["state"], "ready", "{servers}");
    s.quit().await;
}

#[tokio::test]
async fn a_child_that_never_starts_is_reported_and_blocks_nothing() {
    let (_h, config) = setup(|dir| {
        format!(
            "[mcp]\nstartup_timeout = \"3s\"\n{}[[mcp.servers]]\nname = \"ghost\"\ncommand = \"{}\"\n\
             [[mcp.servers]]\nname = \"garbage\"\ncommand = \"sh\"\nargs = [\"-c\", \"while true; do echo 'not json at all'; sleep 0.2; done\"]\n",
            time(),
            dir.join("no-such-binary").display()
        )
    })
    .await;
    let mut s = Session::stdio(&config, &[]).await;
    let tools = s.tool_names().await;
    assert!(
        tools.iter().any(|t| t == "time__get_current_time"),
        "{tools:?}"
    );
    assert!(
        !tools
            .iter()
            .any(|t| t.starts_with("ghost__") || t.starts_with("garbage__"))
    );
    let now = s
        .ok(json!({"op": "call", "tool": "time__get_current_time", "args": {"timezone": "UTC"}}))
        .await;
    assert_eq!(now["is_error"], false, "{now}");

    let servers = s.read_json("fusion://mcp/servers").await;
    let by_name = |name: &str| {
        servers["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap()
    };
    let ghost = by_name("ghost");
    assert_ne!(ghost["state"], "ready", "{ghost}");
    assert!(
        ghost["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot start"),
        "{ghost}"
    );
    let garbage = by_name("garbage");
    assert_ne!(garbage["state"], "ready", "{garbage}");
    assert!(garbage["last_error"].is_string(), "{garbage}");
    assert_eq!(by_name("time")["state"], "ready");

    let unknown = s
        .run(json!({"op": "call", "tool": "ghost__anything", "args": {}}))
        .await;
    assert_eq!(unknown["ok"], false, "{unknown}");
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    s.quit().await;
}

#[tokio::test]
async fn lazy_mode_shows_only_fusions_tools_with_find_and_call_for_every_child_tool() {
    let (_h, config) =
        setup(|dir| format!("[mcp]\nmode = \"lazy\"\n{}{}", everything(), memory(dir))).await;
    let mut s = Session::stdio(&config, &[]).await;
    let tools = s.tool_names().await;
    assert_eq!(
        tools,
        [
            "fusion_ask",
            "preemptive_route_task",
            "get_cost_estimate",
            "benchmark_task",
            "benchmark_tasks",
            "benchmark_model",
            "reload_config",
            "code_index",
            "code_search",
            "route_task",
            "get_task_status",
            "cancel_task",
            "cancel_job",
            "get_free_models",
            "clear_openrouter_tracking",
            "benchmark_free_models",
            "set_model_prompting_strategy",
            "looped_start",
            "looped_report",
            "looped_check_work",
            "looped_fuse_review",
            "looped_next",
            "looped_status",
            "fusion_do",
            "find_tools",
            "call_tool"
        ]
    );
    let found = s
        .ok(json!({"op": "call", "tool": "find_tools", "args": {"query": "echo a message back"}}))
        .await;
    assert_eq!(
        found["structured"]["tools"][0]["name"], "everything__echo",
        "{found}"
    );
    assert!(found["structured"]["tools"][0]["inputSchema"]["properties"]["message"].is_object());
    let called = s
        .ok(json!({"op": "call", "tool": "call_tool",
                   "args": {"name": "everything__echo", "arguments": {"message": "lazy"}}}))
        .await;
    assert_eq!(text(&called), "Echo: lazy", "{called}");
    let missing = s
        .ok(json!({"op": "call", "tool": "call_tool", "args": {"name": "nope__nothing"}}))
        .await;
    assert_eq!(missing["is_error"], true);
    assert!(text(&missing).contains("find_tools"), "{missing}");
    s.quit().await;
}

#[tokio::test]
async fn the_http_front_door_serves_the_same_catalog_in_both_protocol_eras() {
    let (h, config) = setup(|_| format!("{}{}", everything(), time())).await;
    let server = common::FusionServer::with_config(h.dir.path(), &config).await;
    let url = format!("{}/mcp", server.url);
    for mode in ["default", "legacy"] {
        let mut s = Session::http(&url, &["--mode", mode]).await;
        let tools = s.tool_names().await;
        assert!(
            tools.iter().any(|t| t == "everything__echo"),
            "{mode}: {tools:?}"
        );
        let echo = s
            .ok(json!({"op": "call", "tool": "everything__echo", "args": {"message": mode}}))
            .await;
        assert_eq!(text(&echo), format!("Echo: {mode}"));
        let now = s
            .ok(json!({"op": "call", "tool": "time__get_current_time", "args": {"timezone": "UTC"}}))
            .await;
        assert_eq!(now["is_error"], false, "{now}");
        s.quit().await;
    }
    server.stop().await;
}
