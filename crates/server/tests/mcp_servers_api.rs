//! `/api/mcp/servers` through `tower::ServiceExt::oneshot` over a runtime that reads a real
//! config file: what the listing shows (and never shows), each edit written in place with the
//! file's comments kept and reloaded, refused edits leaving the file's bytes as they were, and
//! bad input named. (The children here never start; `crates/cli/tests/mcp_servers_api.rs`
//! runs real ones through the binary.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::runtime::Runtime;
use fusion_server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const FILE: &str = r#"# my Fusion config
[storage]
url = "sqlite::memory:"

# the children
[[mcp.servers]]
name = "files"        # local files
command = "/nonexistent/fusion-test-child"
args = ["--root", "/tmp"]
env = { API_TOKEN = "sk-very-secret-value", CACHE = "${HOME}/cache" }
enabled = false

[[mcp.servers]]
name = "remote"
url = "http://127.0.0.1:9/mcp"
headers = { Authorization = "Bearer hdr-secret-value" }
enabled = false
"#;

/// A temp dir removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("fusion-mcp-servers-api-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Api {
    _dir: Dir,
    path: PathBuf,
    state: AppState,
}

impl Api {
    async fn start(text: &str) -> Self {
        let dir = Dir::new();
        let path = dir.0.join("fusion.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = fusion_core::config::load_file(&path).unwrap();
        let runtime = Runtime::start(loaded.config, Some(path.clone()))
            .await
            .unwrap();
        let state = AppState::new(runtime, Vec::new(), None);
        Self {
            _dir: dir,
            path,
            state,
        }
    }

    fn file(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap()
    }

    async fn call(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        call(&self.state, method, uri, body).await
    }

    async fn send(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, uri, Some(&body.to_string())).await
    }

    async fn list(&self) -> Value {
        let (status, body) = self.call("GET", "/api/mcp/servers", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn names(&self) -> Vec<String> {
        let list = self.list().await;
        let servers = list["servers"].as_array().unwrap();
        servers
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

#[tokio::test]
async fn the_listing_shows_settings_as_written_and_only_the_names_of_env_and_headers() {
    let api = Api::start(FILE).await;
    let list = api.list().await;
    let shown = list.to_string();
    assert!(!shown.contains("sk-very-secret-value"), "{shown}");
    assert!(!shown.contains("hdr-secret-value"), "{shown}");
    let home = std::env::var("HOME").unwrap();
    assert!(!shown.contains(&format!("{home}/cache")), "{shown}");
    assert_eq!(list["editable"], true);
    assert!(
        list["config_file"]
            .as_str()
            .unwrap()
            .ends_with("fusion.toml")
    );
    let files = &list["servers"][0];
    assert_eq!(files["name"], "files");
    assert_eq!(files["transport"], "stdio");
    assert_eq!(files["enabled"], false);
    assert_eq!(files["args"], json!(["--root", "/tmp"]));
    assert_eq!(files["env_keys"], json!(["API_TOKEN", "CACHE"]));
    assert_eq!(
        files["status"],
        Value::Null,
        "a disabled child has no status"
    );
    let remote = &list["servers"][1];
    assert_eq!(remote["transport"], "http");
    assert_eq!(remote["url"], "http://127.0.0.1:9/mcp");
    assert_eq!(remote["header_keys"], json!(["Authorization"]));
}

#[tokio::test]
async fn a_server_added_from_the_form_is_written_after_the_others_and_reloaded() {
    let api = Api::start(FILE).await;
    let server = json!({"name": "extra", "command": "/nonexistent/child", "args": ["-v"],
                        "env": {"TOKEN": "t"}, "enabled": false, "timeout": "30s"});
    let (status, report) = api
        .send("POST", "/api/mcp/servers", json!({ "server": server }))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(report["edit"]["servers"], json!(["extra"]));
    let file = api.file();
    assert!(file.starts_with(FILE), "{file}");
    assert!(file.contains("name = \"extra\""), "{file}");
    assert_eq!(api.names().await, ["files", "remote", "extra"]);
    // The running configuration has it too (a reload happened).
    let config: std::sync::Arc<Config> = api.state.config();
    assert_eq!(config.mcp.servers[2].args, ["-v"]);
    assert_eq!(config.mcp.servers[2].timeout.as_secs(), 30);
}

#[tokio::test]
async fn an_invalid_edit_is_refused_with_the_key_and_the_file_is_byte_identical() {
    let api = Api::start(FILE).await;
    let before = std::fs::read(&api.path).unwrap();
    let both = json!({"server": {"name": "both", "command": "x", "url": "http://127.0.0.1:9/mcp"}});
    let (status, body) = api.send("POST", "/api/mcp/servers", both).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_config");
    assert_eq!(body["error"]["param"], "mcp.servers[2].url");
    assert!(
        body["fusion"]["reason"]
            .as_str()
            .unwrap()
            .contains("not both"),
        "{body}"
    );
    let duplicate = json!({"server": {"name": "files", "command": "x"}});
    let (status, body) = api.send("POST", "/api/mcp/servers", duplicate).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["param"], "mcp.servers[2].name");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate"),
        "{body}"
    );
    let rename = json!({"server": {"name": "remote", "command": "x"}});
    let (status, body) = api.send("PUT", "/api/mcp/servers/files", rename).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(std::fs::read(&api.path).unwrap(), before);
    assert_eq!(api.names().await, ["files", "remote"]);
}

#[tokio::test]
async fn replace_reorder_disable_deny_and_remove_edit_the_file_in_place() {
    let api = Api::start(FILE).await;
    // Replace: secrets sent back as null stay; the comment on the name line stays.
    let server = json!({"command": "/nonexistent/other", "args": ["--root", "/srv"],
                        "env": {"API_TOKEN": null, "CACHE": null}});
    let (status, report) = api
        .send("PUT", "/api/mcp/servers/files", json!({ "server": server }))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let file = api.file();
    assert!(
        file.contains("name = \"files\"        # local files"),
        "{file}"
    );
    assert!(file.contains("sk-very-secret-value") && file.contains("/nonexistent/other"));

    let order = json!({"names": ["remote", "files"]});
    let (status, report) = api.send("POST", "/api/mcp/servers/order", order).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(api.names().await, ["remote", "files"]);
    assert!(api.file().contains("# the children"));

    let (status, report) = api
        .send(
            "POST",
            "/api/mcp/servers/remote/enabled",
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report["mcp_servers"]["added"],
        json!(["remote"]),
        "{report}"
    );
    assert_eq!(api.list().await["servers"][0]["enabled"], true);

    let deny = json!({"tool": "delete_everything", "allowed": false});
    let (status, _) = api.send("POST", "/api/mcp/servers/files/tools", deny).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.list().await["servers"][1]["tools"]["deny"],
        json!(["delete_everything"])
    );

    let (status, report) = api.call("DELETE", "/api/mcp/servers/files", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(api.names().await, ["remote"]);
    assert!(api.file().starts_with("# my Fusion config\n"));
}

#[tokio::test]
async fn a_pasted_desktop_json_adds_its_servers_with_the_imports_warnings() {
    let api = Api::start(FILE).await;
    let pasted = r#"{"mcpServers": {"files": {"command": "npx", "args": ["-y", "x"], "disabled": true},
                     "gh": {"command": "npx", "env": {"GITHUB_TOKEN": "${input:token}"}, "disabled": true}}}"#;
    let (status, report) = api
        .send(
            "POST",
            "/api/mcp/servers",
            json!({ "desktop_json": pasted }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["edit"]["servers"], json!(["files-2", "gh"]));
    assert!(
        report["edit"]["warnings"]
            .to_string()
            .contains("input:token"),
        "{report}"
    );
    assert_eq!(api.names().await, ["files", "remote", "files-2", "gh"]);
    // The object itself works too.
    let object = json!({"desktop_json": {"mcpServers": {"more": {"url": "http://127.0.0.1:9/mcp", "disabled": true}}}});
    let (status, _) = api.send("POST", "/api/mcp/servers", object).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.names().await.len(), 5);
    let (status, body) = api
        .send(
            "POST",
            "/api/mcp/servers",
            json!({"desktop_json": "{\"nothing\": 1}"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "desktop_json");
}

#[tokio::test]
async fn bad_input_gets_a_4xx_naming_the_field_and_changes_nothing() {
    let api = Api::start(FILE).await;
    let before = std::fs::read(&api.path).unwrap();
    let cases: [(&str, &str, &str, StatusCode, Value); 9] = [
        (
            "POST",
            "/api/mcp/servers",
            "{\"server\": ",
            StatusCode::BAD_REQUEST,
            Value::Null,
        ),
        (
            "POST",
            "/api/mcp/servers",
            r#"{"server": {"name": "x", "evn": {}}}"#,
            StatusCode::BAD_REQUEST,
            json!("server.evn"),
        ),
        (
            "POST",
            "/api/mcp/servers",
            r#"{"srever": {}}"#,
            StatusCode::BAD_REQUEST,
            json!("srever"),
        ),
        (
            "POST",
            "/api/mcp/servers",
            r#"{"server": {"command": "x"}}"#,
            StatusCode::BAD_REQUEST,
            json!("server.name"),
        ),
        (
            "POST",
            "/api/mcp/servers/files/enabled",
            r#"{"enabled": "yes"}"#,
            StatusCode::BAD_REQUEST,
            json!("enabled"),
        ),
        (
            "POST",
            "/api/mcp/servers/files/tools",
            r#"{"allowed": false}"#,
            StatusCode::BAD_REQUEST,
            json!("tool"),
        ),
        (
            "POST",
            "/api/mcp/servers/nope/enabled",
            r#"{"enabled": false}"#,
            StatusCode::NOT_FOUND,
            json!("name"),
        ),
        (
            "POST",
            "/api/mcp/servers/order",
            r#"{"names": ["files"]}"#,
            StatusCode::BAD_REQUEST,
            json!("names"),
        ),
        (
            "PUT",
            "/api/mcp/servers/files",
            r#"{"server": {"command": "x", "env": {"NEW": null}}}"#,
            StatusCode::BAD_REQUEST,
            json!("server.env.NEW"),
        ),
    ];
    for (method, uri, body, status, param) in cases {
        let (got, answer) = api.call(method, uri, Some(body)).await;
        assert_eq!(got, status, "{method} {uri} {body}: {answer}");
        assert_eq!(
            answer["error"]["param"], param,
            "{method} {uri} {body}: {answer}"
        );
    }
    assert_eq!(std::fs::read(&api.path).unwrap(), before);
}

#[tokio::test]
async fn a_server_named_order_can_still_be_replaced_and_removed() {
    let api = Api::start(&format!(
        "{FILE}\n[[mcp.servers]]\nname = \"order\"\ncommand = \"x\"\nenabled = false\n"
    ))
    .await;
    let server = json!({"server": {"command": "y", "enabled": false}});
    let (status, body) = api.send("PUT", "/api/mcp/servers/order", server).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(api.file().contains("command = \"y\""));
    let (status, _) = api.call("DELETE", "/api/mcp/servers/order", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.names().await, ["files", "remote"]);
}

#[tokio::test]
async fn without_a_config_file_the_list_is_read_only_and_edits_are_409() {
    let config: Config = toml::from_str("").unwrap();
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let state = AppState::with_keys(config, registry, Vec::new(), None);
    let (status, list) = call(&state, "GET", "/api/mcp/servers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["editable"], false);
    assert_eq!(list["config_file"], Value::Null);
    assert_eq!(list["servers"], json!([]));
    let body = json!({"server": {"name": "a", "command": "x"}}).to_string();
    let (status, answer) = call(&state, "POST", "/api/mcp/servers", Some(&body)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "no_config_file");
}
