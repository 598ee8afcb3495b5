//! One runtime behind every front door: the config file edited under a running `fusion serve`
//! (a council added, a child MCP server added and one removed, a model changed) is seen by
//! `/v1`, `/api` and `/mcp` alike; a connected MCP client (the official Python SDK) hears
//! `list_changed`; an unchanged child keeps its process; an invalid edit changes nothing and
//! `reload_config` / `POST /api/config/reload` answer the file, key and reason. The same for
//! stdio `fusion mcp`, reloaded by `reload_config`, by a file change and by SIGHUP. Children
//! are the real `server-everything`, `server-memory` and `mcp-server-time`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::mcp_session::Session;
use common::{FusionServer, Harness, healthy_script, peer};
use serde_json::{Value, json};

/// `server-everything` behind `sh`, which writes its PID first: a restart writes a new one.
fn everything(dir: &Path) -> String {
    format!(
        "[[mcp.servers]]\nname = \"everything\"\ncommand = \"sh\"\nargs = [\"-c\", \"echo $$ > {}; exec {} stdio\"]\n",
        dir.join("everything.pid").display(),
        peer("FUSION_MCP_EVERYTHING")
    )
}

fn time() -> String {
    format!(
        "[[mcp.servers]]\nname = \"time\"\ncommand = \"{}\"\nargs = [\"--local-timezone\", \"UTC\"]\n",
        peer("FUSION_MCP_TIME")
    )
}

fn memory(dir: &Path) -> String {
    format!(
        "[[mcp.servers]]\nname = \"memory\"\ncommand = \"{}\"\nenv = {{ MEMORY_FILE_PATH = \"{}\" }}\n",
        peer("FUSION_MCP_MEMORY"),
        dir.join("memory.jsonl").display()
    )
}

/// The first config: the standard council, children `everything` and `time`.
fn before(h: &Harness) -> String {
    format!(
        "{}\n{}{}",
        h.standard_config("", ""),
        everything(h.dir.path()),
        time()
    )
}

/// The edit: council `second` added, `judge` given a context window, `time` removed and
/// `memory` added; `everything` unchanged.
fn after(h: &Harness) -> String {
    let base = h.standard_config("", "").replace(
        "[[models]]\nid = \"judge\"\nprovider = \"mock\"\n",
        "[[models]]\nid = \"judge\"\nprovider = \"mock\"\ncontext_window = 4096\n",
    );
    assert!(base.contains("context_window = 4096"), "{base}");
    format!(
        "{base}\n[councils.second]\npanel = [{{ model = \"m-a\" }}, {{ model = \"m-b\" }}]\n\
         judge = {{ model = \"judge\" }}\nsynthesizer = {{ model = \"synth\" }}\n\n{}{}",
        everything(h.dir.path()),
        memory(h.dir.path())
    )
}

/// `after` with a model that names a provider nobody configured.
fn invalid(h: &Harness) -> String {
    format!(
        "{}\n[[models]]\nid = \"stray\"\nprovider = \"nowhere\"\n",
        after(h)
    )
}

fn pid_of_everything(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("everything.pid"))
        .unwrap()
        .trim()
        .to_owned()
}

fn alive(pid: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-0", pid])
        .status()
        .unwrap()
        .success()
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

fn ids(models: &Value) -> Vec<String> {
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn api_model<'a>(models: &'a Value, id: &str) -> &'a Value {
    models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no model {id} in {models}"))
}

fn council_names(councils: &Value) -> Vec<String> {
    let list = councils["councils"]
        .as_array()
        .or_else(|| councils.as_array())
        .unwrap_or_else(|| panic!("no councils in {councils}"));
    list.iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `tools/list` until `done` holds (children connect in the background).
async fn wait_tools(s: &mut Session, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut tools = Vec::new();
    for _ in 0..300 {
        tools = s.tool_names().await;
        if done(&tools) {
            return tools;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the tools never settled: {tools:?}");
}

fn has(tools: &[String], prefix: &str) -> bool {
    tools.iter().any(|t| t.starts_with(prefix))
}

async fn last_seq(s: &mut Session) -> i64 {
    s.ok(json!({"op": "notifications", "since_seq": 0})).await["last_seq"]
        .as_i64()
        .unwrap_or(0)
}

async fn heard_tools_changed(s: &mut Session, after_seq: i64) {
    let changed = s
        .ok(
            json!({"op": "wait_notification", "method": "notifications/tools/list_changed",
                   "after_seq": after_seq, "timeout_s": 30}),
        )
        .await;
    assert_eq!(changed["found"], true, "no tools/list_changed: {changed}");
}

/// The answer of `reload_config` with an invalid file: an error result naming the key.
fn assert_rejected(answer: &Value, file: &Path) {
    assert_eq!(answer["is_error"], true, "{answer}");
    let error = &answer["structured"]["error"];
    assert_eq!(error["class"], "invalid_config", "{answer}");
    assert_eq!(error["retryable"], false, "{answer}");
    assert_eq!(error["key"], "models[5].provider", "{answer}");
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with(file.file_name().unwrap().to_str().unwrap()),
        "{answer}"
    );
    assert!(
        error["reason"].as_str().unwrap().contains("nowhere"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_config_reaches_v1_api_and_mcp_and_an_invalid_one_changes_nothing() {
    let h = Harness::start(healthy_script()).await;
    let path = h.write_config("fusion.toml", &before(&h));
    let server = FusionServer::with_config(h.dir.path(), &path).await;
    let mut s = Session::http(&format!("{}/mcp", server.url), &["--mode", "legacy"]).await;
    let tools = wait_tools(&mut s, |t| has(t, "everything__") && has(t, "time__")).await;
    assert!(tools.contains(&"reload_config".to_owned()), "{tools:?}");
    let pid = pid_of_everything(h.dir.path());
    let seq = last_seq(&mut s).await;

    // Edited on disk: the watcher reloads it (polled; no clock asserted).
    std::fs::write(&path, after(&h)).unwrap();
    let mut models = Value::Null;
    for _ in 0..300 {
        models = get_json(&format!("{}/v1/models", server.url)).await;
        if ids(&models).contains(&"fusion/second".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ids(&models).contains(&"fusion/second".to_owned()),
        "{models}\n{}",
        server.log()
    );
    // /api sees the changed model, /mcp the new council, from the same snapshot.
    let api = get_json(&format!("{}/api/models", server.url)).await;
    assert_eq!(api_model(&api, "judge")["context_window"], 4096, "{api}");
    let councils = s.read_json("fusion://councils").await;
    assert!(
        council_names(&councils).contains(&"second".to_owned()),
        "{councils}"
    );
    // The children follow: memory in, time out, everything untouched.
    heard_tools_changed(&mut s, seq).await;
    let tools = wait_tools(&mut s, |t| has(t, "memory__") && !has(t, "time__")).await;
    assert!(has(&tools, "everything__"), "{tools:?}");
    assert_eq!(pid_of_everything(h.dir.path()), pid, "everything restarted");
    assert!(alive(&pid), "everything's process is gone");
    let echoed = s
        .ok(json!({"op": "call", "tool": "everything__echo", "args": {"message": "still"}}))
        .await;
    assert_eq!(echoed["text"], "Echo: still", "{echoed}");
    let asked = s
        .ok(json!({"op": "call", "tool": "fusion_ask", "args": {"prompt": "Capital of France?", "council": "second"}}))
        .await;
    assert_eq!(asked["is_error"], false, "{asked}");

    // An invalid edit: both doors say which key is wrong and why; nothing changes.
    std::fs::write(&path, invalid(&h)).unwrap();
    let rejected = reqwest::Client::new()
        .post(format!("{}/api/config/reload", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), 422);
    let body: Value = rejected.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_config", "{body}");
    assert_eq!(body["error"]["param"], "models[5].provider", "{body}");
    assert_eq!(body["fusion"]["key"], "models[5].provider", "{body}");
    let answer = s.ok(json!({"op": "call", "tool": "reload_config"})).await;
    assert_rejected(&answer, &path);
    let models = get_json(&format!("{}/v1/models", server.url)).await;
    assert!(
        ids(&models).contains(&"fusion/second".to_owned())
            && !ids(&models).contains(&"stray".to_owned()),
        "{models}"
    );
    assert!(has(&s.tool_names().await, "memory__"));

    // Put right, asked for over HTTP: the answer says what changed (nothing, here).
    std::fs::write(&path, after(&h)).unwrap();
    let fixed: Value = reqwest::Client::new()
        .post(format!("{}/api/config/reload", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fixed["changed"], false, "{fixed}");
    s.quit().await;
    server.stop().await;
}

/// The PID of `fusion mcp --config CONFIG` (the Python driver's own command line differs).
fn fusion_mcp_pid(config: &Path) -> String {
    let pattern = format!("{} mcp --config {}", common::FUSION, config.display());
    let out = std::process::Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap();
    let pids = String::from_utf8(out.stdout).unwrap();
    let pids: Vec<&str> = pids.lines().collect();
    assert_eq!(pids.len(), 1, "looking for `{pattern}`: {pids:?}");
    pids[0].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_fusion_mcp_reloads_on_reload_config_file_change_and_sighup() {
    let h = Harness::start(healthy_script()).await;
    let path = h.write_config("fusion.toml", &before(&h));
    let mut s = Session::stdio(&path, &["--mode", "legacy"]).await;
    wait_tools(&mut s, |t| has(t, "everything__") && has(t, "time__")).await;
    let pid = pid_of_everything(h.dir.path());

    // reload_config: an invalid file is refused with its key; the tools stay.
    std::fs::write(&path, invalid(&h)).unwrap();
    let answer = s.ok(json!({"op": "call", "tool": "reload_config"})).await;
    assert_rejected(&answer, &path);
    assert!(has(&s.tool_names().await, "time__"));

    // reload_config on the good edit: the answer lists what changed.
    std::fs::write(&path, after(&h)).unwrap();
    let seq = last_seq(&mut s).await;
    let answer = s.ok(json!({"op": "call", "tool": "reload_config"})).await;
    assert_eq!(answer["is_error"], false, "{answer}");
    let report = &answer["structured"];
    assert_eq!(report["councils"]["added"], json!(["second"]), "{report}");
    assert_eq!(report["models"]["changed"], json!(["judge"]), "{report}");
    assert_eq!(
        report["mcp_servers"]["added"],
        json!(["memory"]),
        "{report}"
    );
    assert_eq!(
        report["mcp_servers"]["removed"],
        json!(["time"]),
        "{report}"
    );
    assert_eq!(report["mcp_servers"]["changed"], json!([]), "{report}");
    heard_tools_changed(&mut s, seq).await;
    wait_tools(&mut s, |t| has(t, "memory__") && !has(t, "time__")).await;
    let councils = s.read_json("fusion://councils").await;
    assert!(council_names(&councils).contains(&"second".to_owned()));
    assert_eq!(pid_of_everything(h.dir.path()), pid, "everything restarted");

    // A file change alone: `time` comes back.
    let seq = last_seq(&mut s).await;
    std::fs::write(&path, format!("{}{}", after(&h), time())).unwrap();
    heard_tools_changed(&mut s, seq).await;
    wait_tools(&mut s, |t| has(t, "time__")).await;

    // SIGHUP is handled (its default action would end the process) and the edit is applied.
    let seq = last_seq(&mut s).await;
    std::fs::write(&path, after(&h)).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &fusion_mcp_pid(&path)])
        .status()
        .unwrap();
    assert!(hup.success());
    heard_tools_changed(&mut s, seq).await;
    wait_tools(&mut s, |t| !has(t, "time__")).await;
    assert_eq!(pid_of_everything(h.dir.path()), pid, "everything restarted");
    s.quit().await;
}
