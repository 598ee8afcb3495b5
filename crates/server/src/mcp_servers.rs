//! `/api/mcp/servers`: the child MCP servers as the dashboard shows and configures them.
//! `GET` lists every `[[mcp.servers]]` entry in config order (settings as written, env and
//! header names only — their values may be secrets) with the hub's status of its child (state,
//! restarts, last error, tools, call stats). The writes — add (a form's fields or a pasted
//! desktop-client JSON), replace, remove, enable or disable, reorder, allow or deny one tool —
//! edit the config file in place (`fusion_core::config::edit`: comments and layout kept,
//! validated by the loader, written atomically), then reload it through the runtime and answer
//! the reload report. A refused edit is `422 invalid_config` with the key, the file untouched;
//! a process without a config file answers `409`.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use fusion_core::config::edit::{self, EditError, ServerEdit, ServerEntry};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

/// One edit, with its reload, at a time.
static EDITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/mcp/servers", get(list).post(add))
        // `order` is also a possible server name: its PUT and DELETE still reach it.
        .route(
            "/api/mcp/servers/order",
            post(reorder).put(replace_order).delete(remove_order),
        )
        .route("/api/mcp/servers/{name}", put(replace).delete(remove))
        .route("/api/mcp/servers/{name}/enabled", post(set_enabled))
        .route("/api/mcp/servers/{name}/tools", post(set_tool))
}

async fn list(State(state): State<AppState>) -> Response {
    let config = state.config();
    let source = state.runtime().source().map(std::path::Path::to_path_buf);
    let editable = match source.clone() {
        Some(path) => tokio::task::spawn_blocking(move || edit::editable(&path).is_ok())
            .await
            .unwrap_or(false),
        None => false,
    };
    let hub = state.hub();
    let mut tools: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (target, _) in hub.catalog().tools() {
        tools
            .entry(target.server.clone())
            .or_default()
            .push(target.name.clone());
    }
    let statuses: HashMap<String, _> = hub
        .status()
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let servers: Vec<Value> = edit::server_views(&config)
        .into_iter()
        .map(|view| {
            let status = statuses.get(&view.name).filter(|_| view.enabled).map(|s| {
                let mut names = tools.get(&view.name).cloned().unwrap_or_default();
                names.sort();
                json!({
                    "state": s.state,
                    "restarts": s.restarts,
                    "last_error": s.last_error,
                    "protocol_version": s.protocol_version,
                    "tools": names,
                    "calls": s.calls,
                    "errors": s.failed_calls,
                    "p50_ms": s.p50_ms,
                })
            });
            let mut shown = serde_json::to_value(&view).unwrap_or_else(|_| json!({}));
            shown["status"] = status.unwrap_or(Value::Null);
            shown
        })
        .collect();
    Json(json!({
        "config_file": source,
        "editable": editable,
        "separator": config.mcp.separator,
        "mode": config.mcp.mode,
        "servers": servers,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    #[serde(default)]
    server: Option<ServerEntry>,
    /// The pasted JSON, as text or as the object itself.
    #[serde(default)]
    desktop_json: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceBody {
    server: ServerEntry,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnabledBody {
    enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolBody {
    tool: String,
    allowed: bool,
}

const ADD_SHAPE: &str = "{\"server\": {\"name\", \"command\" or \"url\", ...}} or \
                         {\"desktop_json\": \"{\\\"mcpServers\\\": {...}}\"}";

async fn add(State(state): State<AppState>, body: Bytes) -> Response {
    let body: AddBody = match parse(&state, &body, ADD_SHAPE) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    match (body.server, body.desktop_json) {
        (Some(server), None) => {
            let why = format!(
                "added MCP server `{}`",
                server.name.as_deref().unwrap_or("")
            );
            let param = |field: &str| format!("server.{field}");
            change(&state, ServerEdit::Add(server), &why, param).await
        }
        (None, Some(pasted)) => {
            let json = match pasted {
                Value::String(text) => text,
                object @ Value::Object(_) => object.to_string(),
                _ => {
                    return ApiError::bad_request(
                        "`desktop_json`: give the pasted JSON as a string (or the object)",
                        Some("desktop_json".into()),
                    )
                    .into_response();
                }
            };
            let param = |_: &str| "desktop_json".to_owned();
            let why = "imported MCP servers from a desktop client's JSON";
            change(&state, ServerEdit::Import { json }, why, param).await
        }
        (Some(_), Some(_)) => ApiError::bad_request(
            "give either `server` or `desktop_json`, not both",
            Some("desktop_json".into()),
        )
        .into_response(),
        (None, None) => ApiError::bad_request(
            format!("`server` is missing: expected {ADD_SHAPE}"),
            Some("server".into()),
        )
        .into_response(),
    }
}

async fn replace(State(state): State<AppState>, Path(name): Path<String>, body: Bytes) -> Response {
    let shape = "{\"server\": {\"command\" or \"url\", \"args\", \"env\", ...}}";
    let body: ReplaceBody = match parse(&state, &body, shape) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let why = format!("replaced MCP server `{name}`");
    let edit = ServerEdit::Replace {
        name,
        entry: body.server,
    };
    change(&state, edit, &why, |field| format!("server.{field}")).await
}

async fn replace_order(state: State<AppState>, body: Bytes) -> Response {
    replace(state, Path("order".to_owned()), body).await
}

async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let why = format!("removed MCP server `{name}`");
    change(&state, ServerEdit::Remove { name }, &why, str::to_owned).await
}

async fn remove_order(state: State<AppState>) -> Response {
    remove(state, Path("order".to_owned())).await
}

async fn set_enabled(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: EnabledBody = match parse(&state, &body, "{\"enabled\": true}") {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let verb = if body.enabled { "enabled" } else { "disabled" };
    let why = format!("{verb} MCP server `{name}`");
    let edit = ServerEdit::SetEnabled {
        name,
        enabled: body.enabled,
    };
    change(&state, edit, &why, str::to_owned).await
}

async fn reorder(State(state): State<AppState>, body: Bytes) -> Response {
    let body: OrderBody = match parse(&state, &body, "{\"names\": [\"a\", \"b\"]}") {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let edit = ServerEdit::Reorder { names: body.names };
    change(&state, edit, "reordered MCP servers", str::to_owned).await
}

async fn set_tool(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: ToolBody = match parse(&state, &body, "{\"tool\": \"name\", \"allowed\": false}") {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let verb = if body.allowed { "allowed" } else { "denied" };
    let why = format!("{verb} tool `{}` of MCP server `{name}`", body.tool);
    let edit = ServerEdit::SetTool {
        name,
        tool: body.tool,
        allowed: body.allowed,
    };
    change(&state, edit, &why, str::to_owned).await
}

/// Edits the file, reloads it, and answers the reload report (with `edit`: what changed).
/// `param` names a request field of the editor's as the body calls it.
async fn change(
    state: &AppState,
    edit: ServerEdit,
    why: &str,
    param: impl Fn(&str) -> String,
) -> Response {
    let Some(path) = state.runtime().source().map(std::path::Path::to_path_buf) else {
        return refusal(
            StatusCode::CONFLICT,
            "no_config_file",
            "this server runs without a config file (on discovered local model servers), so \
             there is nothing to edit: start it with --config FILE or a ./fusion.toml to \
             configure MCP servers here"
                .into(),
            None,
        );
    };
    let _one_at_a_time = EDITING.lock().await;
    let file = path.clone();
    let edited =
        match tokio::task::spawn_blocking(move || edit::edit_mcp_servers(&file, &edit)).await {
            Ok(Ok(edited)) => edited,
            Ok(Err(e)) => return edit_refused(e, &param),
            Err(e) => {
                return ApiError::internal(format!("the config edit failed: {e}")).into_response();
            }
        };
    match state
        .runtime()
        .reload_because(&format!("dashboard: {why}"))
        .await
    {
        Ok(report) => {
            let mut body = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
            body["edit"] = json!({
                "changed": edited.changed,
                "servers": edited.servers,
                "warnings": edited.warnings,
            });
            Json(body).into_response()
        }
        Err(rejected) => {
            // What runs and what the file says stay the same: the edit is undone.
            let previous = edited.previous;
            let undo =
                tokio::task::spawn_blocking(move || edit::write_atomically(&path, &previous));
            if edited.changed && !matches!(undo.await, Ok(Ok(()))) {
                tracing::error!("could not put the config file back after a refused reload");
            }
            invalid(
                &rejected.key,
                &rejected.reason,
                rejected.file.as_deref(),
                "the edited file did not reload, so it was put back as it was",
            )
        }
    }
}

fn edit_refused(error: EditError, param: &dyn Fn(&str) -> String) -> Response {
    match error {
        EditError::Invalid(e) => invalid(
            &e.key,
            &e.reason,
            Some(&e.file),
            "the edit was refused and the file left as it was",
        ),
        EditError::UnknownServer(name) => refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no MCP server named `{name}` in the config file"),
            Some("name".into()),
        ),
        EditError::Request { field, reason } => {
            let field = param(&field);
            ApiError::bad_request(format!("`{field}`: {reason}"), Some(field)).into_response()
        }
        EditError::NotEditable(message) => {
            refusal(StatusCode::CONFLICT, "not_editable", message, None)
        }
        e @ EditError::Changed(_) => refusal(StatusCode::CONFLICT, "conflict", e.to_string(), None),
        EditError::Failed(detail) => ApiError::internal(detail).into_response(),
    }
}

/// `422 invalid_config`: the key (also `param`) and the reason, the file in `fusion`.
fn invalid(key: &str, reason: &str, file: Option<&std::path::Path>, what: &str) -> Response {
    let mut body = error_body(
        "invalid_config",
        format!("{what}: {key}: {reason}"),
        Some(key.to_owned()),
    );
    body["fusion"] = json!({ "file": file, "key": key, "reason": reason });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

/// An error in the API's usual shape (`{"error": {message, type, param, code}}`).
fn refusal(status: StatusCode, code: &str, message: String, param: Option<String>) -> Response {
    (status, Json(error_body(code, message, param))).into_response()
}

fn error_body(code: &str, message: String, param: Option<String>) -> Value {
    json!({
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    })
}

/// The JSON body as `T`, or a 4xx naming the offending field.
fn parse<T: DeserializeOwned>(state: &AppState, body: &Bytes, shape: &str) -> Result<T, ApiError> {
    let limit = state.config().server.max_body_bytes;
    if body.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize::<_, T>(&mut de);
    if parsed.is_ok()
        && let Err(e) = de.end()
    {
        return Err(ApiError::bad_request(
            format!("the body is not valid JSON ({e}); expected {shape}"),
            None,
        ));
    }
    parsed.map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(
                format!("the body is not valid JSON ({inner}); expected {shape}"),
                None,
            );
        }
        let mut param = e.path().to_string();
        let message = inner.to_string();
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_owned());
        // The path may or may not end at the field the message names.
        if let Some(field) = named {
            if param == "." {
                param = field;
            } else if !param.ends_with(&format!(".{field}")) && param != field {
                param = format!("{param}.{field}");
            }
        }
        let param = (param != ".").then_some(param);
        let at = param
            .as_deref()
            .map_or(String::new(), |p| format!("`{p}`: "));
        ApiError::bad_request(format!("{at}{message}; expected {shape}"), param)
    })
}
