//! The `[[mcp.servers]]` of a configuration as the dashboard shows them: every setting as
//! written in the file (a value that came from `${NAME}` shows the reference, never the
//! variable's value), URL passwords masked, and of `env` and `headers` only the names — their
//! values may be secrets.

use serde::Serialize;

use super::ToolLists;
use crate::config::Config;

/// One server, safe to show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerView {
    pub name: String,
    /// `stdio` (a `command`) or `http` (Streamable HTTP, a `url`).
    pub transport: &'static str,
    pub enabled: bool,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub cwd: Option<String>,
    /// With its password, if any, shown as `****`.
    pub url: Option<String>,
    /// The names of the child's environment variables (values are never shown).
    pub env_keys: Vec<String>,
    /// The names of the HTTP headers sent to the child (values are never shown).
    pub header_keys: Vec<String>,
    pub tools: ToolLists,
    /// Longest call, as `"5m"`.
    pub timeout: String,
}

/// The servers of `config`, in config order.
pub fn server_views(config: &Config) -> Vec<ServerView> {
    let written = |key: String, value: &str| {
        config
            .env_sourced
            .get(&key)
            .cloned()
            .unwrap_or_else(|| value.to_owned())
    };
    config
        .mcp
        .servers
        .iter()
        .enumerate()
        .map(|(i, server)| {
            let at = |field: &str| format!("mcp.servers[{i}].{field}");
            ServerView {
                name: written(at("name"), &server.name),
                transport: if server.url.is_some() {
                    "http"
                } else {
                    "stdio"
                },
                enabled: server.enabled,
                command: server.command.as_deref().map(|c| written(at("command"), c)),
                args: (server.args.iter().enumerate())
                    .map(|(j, arg)| written(at(&format!("args[{j}]")), arg))
                    .collect(),
                cwd: server
                    .cwd
                    .as_ref()
                    .map(|cwd| written(at("cwd"), &cwd.to_string_lossy())),
                url: server
                    .url
                    .as_deref()
                    .map(|url| mask_url_password(&written(at("url"), url))),
                env_keys: server.env.keys().cloned().collect(),
                header_keys: server.headers.keys().cloned().collect(),
                tools: ToolLists {
                    allow: server.tools.allow.clone(),
                    deny: server.tools.deny.clone(),
                },
                timeout: humantime::format_duration(server.timeout).to_string(),
            }
        })
        .collect()
}

/// `url` with its password, if it has one, replaced by `****` (else unchanged).
pub fn mask_url_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            if parsed.set_password(Some("****")).is_ok() {
                parsed.to_string()
            } else {
                url.to_owned()
            }
        }
        _ => url.to_owned(),
    }
}
