//! The dashboard's MCP server configuration against the real binary: `fusion serve` edits its
//! own config file through `/api/mcp/servers` and its hub follows. The child is a real MCP
//! server needing nothing outside this repository — another `fusion mcp` over stdio (its own
//! tools: `fusion_ask`, `get_cost_estimate`, ...). Added from the form, its tools show in the
//! listing and in `/mcp`'s `tools/list`; a denied tool leaves `tools/list` at once while the
//! child's process keeps running; an invalid edit is refused and the file's bytes stay;
//! reorder, disable and a pasted desktop JSON work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{FUSION, FusionServer, Harness, healthy_script, wait_for, wait_until};
use serde_json::{Value, json};

/// How long a child may take to start and list its tools.
const CHILD_START: Duration = Duration::from_secs(60);

struct Dashboard {
    h: Harness,
    server: FusionServer,
    config: PathBuf,
}

impl Dashboard {
    async fn start() -> Self {
        let h = Harness::start(healthy_script()).await;
        let text = format!(
            "# written by hand: keep this comment\n{}\n[mcp]\nping_interval = \"5s\"  # mine\n",
            h.standard_config("", "")
        );
        let config = h.write_config("fusion.toml", &text);
        // The child's own config: the same mock provider.
        h.write_config("child.toml", &h.standard_config("", ""));
        let server = FusionServer::with_config(h.dir.path(), &config).await;
        Self { h, server, config }
    }

    /// A `[[mcp.servers]]` form entry for a `fusion mcp` child with its own data dir.
    fn child(&self, name: &str) -> Value {
        json!({
            "name": name,
            "command": FUSION,
            "args": ["mcp", "--config", self.path("child.toml")],
            "env": { "FUSION_DATA_DIR": self.path(&format!("{name}-data")) },
        })
    }

    fn path(&self, name: &str) -> String {
        self.h.dir.path().join(name).display().to_string()
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", self.server.url);
        let mut request = client.request(method.parse().unwrap(), url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(method, path, Some(body)).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    async fn list(&self) -> Value {
        let (status, list) = self.send("GET", "/api/mcp/servers", None).await;
        assert_eq!(status, 200, "{list}");
        list
    }

    async fn server(&self, name: &str) -> Value {
        let list = self.list().await;
        let servers = list["servers"].as_array().unwrap();
        let found = servers.iter().find(|s| s["name"] == name);
        found.cloned().unwrap_or(Value::Null)
    }

    /// Waits until child `name` is ready with its tools listed; answers its entry.
    async fn ready(&self, name: &str) -> Value {
        wait_for(
            &format!("{name} is ready with tools"),
            CHILD_START,
            || async {
                let server = self.server(name).await;
                let ready = server["status"]["state"] == "ready"
                    && server["status"]["tools"]
                        .as_array()
                        .is_some_and(|t| !t.is_empty());
                ready.then_some(server)
            },
        )
        .await
    }

    async fn mcp_tools(&self) -> Vec<String> {
        mcp_tool_names(&self.server.url).await
    }
}

/// One JSON-RPC message from an MCP HTTP answer (plain JSON or an SSE stream).
fn rpc_message(content_type: &str, body: &str) -> Value {
    if content_type.starts_with("text/event-stream") {
        for line in body.lines() {
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(message) = serde_json::from_str::<Value>(data.trim())
                && message.get("id").is_some()
            {
                return message;
            }
        }
        panic!("no JSON-RPC answer in the stream: {body}");
    }
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Every tool name `/mcp` lists now, through a fresh session (all pages).
async fn mcp_tool_names(url: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let post = |session: Option<&str>, body: Value| {
        let mut request = client
            .post(format!("{url}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "mcp-servers-api-test", "version": "1"}}});
    let response = post(None, init).await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = response.text().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let _ = post(Some(&session), initialized)
        .await
        .unwrap()
        .text()
        .await;
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for id in 2..100 {
        let params = cursor
            .as_ref()
            .map_or(json!({}), |c| json!({ "cursor": c }));
        let list = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
        let response = post(Some(&session), list).await.unwrap();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let answer = rpc_message(&content_type, &response.text().await.unwrap());
        let result = &answer["result"];
        let tools = result["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"));
        names.extend(tools.iter().map(|t| t["name"].as_str().unwrap().to_owned()));
        match result["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let _ = client
        .delete(format!("{url}/mcp"))
        .header("mcp-session-id", &session)
        .send()
        .await;
    names
}

/// The ids of the running processes whose command line names `config` (the children started
/// with it). Linux's /proc; elsewhere none are seen.
fn processes_with(config: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| line.split(|b| *b == 0).any(|arg| arg == config.as_bytes()))
        })
        .collect();
    pids.sort_unstable();
    pids
}

fn has(tools: &[String], name: &str) -> bool {
    tools.iter().any(|t| t == name)
}

#[tokio::test]
async fn a_server_added_from_the_form_lists_its_tools_and_a_denied_tool_leaves_tools_list() {
    let d = Dashboard::start().await;
    let report = d
        .ok(
            "POST",
            "/api/mcp/servers",
            json!({"server": d.child("kid")}),
        )
        .await;
    assert_eq!(report["mcp_servers"]["added"], json!(["kid"]), "{report}");
    let file = std::fs::read_to_string(&d.config).unwrap();
    assert!(
        file.contains("# written by hand: keep this comment"),
        "{file}"
    );
    assert!(file.contains("ping_interval = \"5s\"  # mine"), "{file}");

    let kid = d.ready("kid").await;
    assert_eq!(kid["transport"], "stdio");
    assert_eq!(kid["env_keys"], json!(["FUSION_DATA_DIR"]));
    assert!(
        !kid.to_string().contains("kid-data"),
        "env values are never shown: {kid}"
    );
    let own: Vec<&str> = kid["status"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        own.contains(&"fusion_ask") && own.contains(&"get_cost_estimate"),
        "{own:?}"
    );
    let tools = d.mcp_tools().await;
    assert!(has(&tools, "kid__fusion_ask"), "{tools:?}");
    assert!(has(&tools, "kid__get_cost_estimate"), "{tools:?}");
    let child_config = d.path("child.toml");
    let process = processes_with(&child_config);
    if cfg!(target_os = "linux") {
        assert_eq!(process.len(), 1, "one child process: {process:?}");
    }

    let deny = json!({"tool": "fusion_ask", "allowed": false});
    let report = d.ok("POST", "/api/mcp/servers/kid/tools", deny).await;
    // A filter-only change is reported apart: the child is not restarted.
    assert_eq!(report["mcp_servers"]["changed"], json!([]), "{report}");
    assert_eq!(report["mcp_tool_filters"], json!(["kid"]), "{report}");
    assert!(
        std::fs::read_to_string(&d.config)
            .unwrap()
            .contains("tools.deny = [\"fusion_ask\"]")
    );
    // Applied by the time the edit is answered, on the same child: no restart, no gap.
    let tools = d.mcp_tools().await;
    assert!(!has(&tools, "kid__fusion_ask"), "{tools:?}");
    assert!(has(&tools, "kid__get_cost_estimate"), "{tools:?}");
    let kid = d.server("kid").await;
    assert_eq!(kid["status"]["state"], "ready", "{kid}");
    assert_eq!(kid["status"]["restarts"], 0, "{kid}");
    assert_eq!(
        processes_with(&child_config),
        process,
        "the child's process kept running"
    );
    assert_eq!(kid["tools"]["deny"], json!(["fusion_ask"]));
    assert!(
        !kid["status"]["tools"]
            .to_string()
            .contains("\"fusion_ask\""),
        "{kid}"
    );

    // Allowed again, it comes back, still from the same process.
    let allow = json!({"tool": "fusion_ask", "allowed": true});
    d.ok("POST", "/api/mcp/servers/kid/tools", allow).await;
    assert!(has(&d.mcp_tools().await, "kid__fusion_ask"));
    assert_eq!(processes_with(&child_config), process);
    d.server.stop().await;
}

#[tokio::test]
async fn an_invalid_edit_is_refused_and_the_config_files_bytes_stay() {
    let d = Dashboard::start().await;
    let before = std::fs::read(&d.config).unwrap();
    let mut both = d.child("both");
    both["url"] = json!("http://127.0.0.1:9/mcp");
    let (status, answer) = d
        .send("POST", "/api/mcp/servers", Some(json!({ "server": both })))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_config");
    assert_eq!(answer["error"]["param"], "mcp.servers[0].url");
    assert!(
        answer["fusion"]["reason"]
            .as_str()
            .unwrap()
            .contains("not both")
    );
    let (status, answer) = d
        .send(
            "POST",
            "/api/mcp/servers",
            Some(json!({"server": {"name": "x", "comand": "y"}})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["param"], "server.comand");
    assert_eq!(std::fs::read(&d.config).unwrap(), before);
    assert_eq!(d.list().await["servers"], json!([]));
    d.server.stop().await;
}

#[tokio::test]
async fn reorder_disable_and_a_pasted_desktop_json_reach_the_hub() {
    let d = Dashboard::start().await;
    d.ok(
        "POST",
        "/api/mcp/servers",
        json!({"server": d.child("kid")}),
    )
    .await;
    let pasted = json!({"mcpServers": {"pasted": {
        "command": FUSION,
        "args": ["mcp", "--config", d.path("child.toml")],
        "env": {"FUSION_DATA_DIR": d.path("pasted-data")},
    }}});
    let report = d
        .ok(
            "POST",
            "/api/mcp/servers",
            json!({"desktop_json": pasted.to_string()}),
        )
        .await;
    assert_eq!(report["edit"]["servers"], json!(["pasted"]), "{report}");
    d.ready("pasted").await;
    d.ready("kid").await;
    wait_until(
        "both children's tools are in tools/list",
        CHILD_START,
        || async {
            let tools = d.mcp_tools().await;
            has(&tools, "pasted__fusion_ask") && has(&tools, "kid__fusion_ask")
        },
    )
    .await;

    d.ok(
        "POST",
        "/api/mcp/servers/order",
        json!({"names": ["pasted", "kid"]}),
    )
    .await;
    let names: Vec<Value> = d.list().await["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, [json!("pasted"), json!("kid")]);
    let file = std::fs::read_to_string(&d.config).unwrap();
    assert!(
        file.find("name = \"pasted\"") < file.find("name = \"kid\""),
        "{file}"
    );

    let report = d
        .ok(
            "POST",
            "/api/mcp/servers/kid/enabled",
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(report["mcp_servers"]["removed"], json!(["kid"]), "{report}");
    let kid = d.server("kid").await;
    assert_eq!(kid["enabled"], false);
    assert_eq!(kid["status"], Value::Null);
    let tools = d.mcp_tools().await;
    assert!(!tools.iter().any(|t| t.starts_with("kid__")), "{tools:?}");
    assert!(has(&tools, "pasted__fusion_ask"), "{tools:?}");

    let (status, _) = d.send("DELETE", "/api/mcp/servers/pasted", None).await;
    assert_eq!(status, 200);
    let file = std::fs::read_to_string(&d.config).unwrap();
    assert!(
        !file.contains("pasted") && file.contains("keep this comment"),
        "{file}"
    );
    assert!(Path::new(&d.path("fusion.toml")).exists());
    d.server.stop().await;
}
