//! Editing the config file in place (the dashboard's MCP server editor): operations on
//! `[[mcp.servers]]` — add (from a form or a pasted desktop-client JSON), replace, remove,
//! enable or disable, reorder, allow or deny one tool — made with `toml_edit`, so the user's
//! comments and layout stay. Every edit reads the file, applies the operation, validates the
//! edited text with the real config loader (the same errors: dotted key and reason, `${ENV}`
//! expanded as usual) and writes it atomically (a temp file in the same directory, renamed over
//! the file, permissions kept); anything wrong leaves the file's bytes as they were.

mod entry;
mod servers;
mod tools;
mod view;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use toml_edit::DocumentMut;

use super::{Config, ConfigError, McpServerConfig, load};

pub use view::{ServerView, mask_url_password, server_views};

/// One server as a form gives it: the keys of `[[mcp.servers]]`, every string as it is to be
/// written in the file (`${ENV}` references stay references). Empty strings count as absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Required to add; to replace, absent keeps the current name (given: renames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Variables of a stdio child. A `null` value keeps the variable's current value: the
    /// dashboard never sees values, only names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// A URL equal to the current one with its password masked keeps the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Headers of a Streamable HTTP child; `null` keeps the header's current value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Option<String>>,
    /// Absent: enabled (to add), unchanged (to replace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Absent: none (to add), unchanged (to replace; single tools are allowed or denied with
    /// [`ServerEdit::SetTool`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolLists>,
    /// Longest call, as `"30s"` or `"2m"`; absent: the default (to add), none (to replace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `tools.allow` and `tools.deny`, as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolLists {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

impl ServerEntry {
    /// The entry of an imported server (its strings are already as they are to be written).
    pub fn from_config(server: &McpServerConfig) -> Self {
        let default_timeout = McpServerConfig::stdio("", "x", Vec::new()).timeout;
        let tools = &server.tools;
        Self {
            name: Some(server.name.clone()),
            command: server.command.clone(),
            args: server.args.clone(),
            env: server
                .env
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            cwd: server
                .cwd
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            url: server.url.clone(),
            headers: server
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            enabled: (!server.enabled).then_some(false),
            tools: (!tools.allow.is_empty() || !tools.deny.is_empty()).then(|| ToolLists {
                allow: tools.allow.clone(),
                deny: tools.deny.clone(),
            }),
            timeout: (server.timeout != default_timeout)
                .then(|| humantime::format_duration(server.timeout).to_string()),
        }
    }
}

/// One change to `[[mcp.servers]]`.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEdit {
    /// Appends a server after the last one.
    Add(ServerEntry),
    /// Appends the servers of a desktop client's JSON (`mcpServers`, VS Code's `servers`),
    /// through `fusion mcp import`'s reading of it (names made unique against the file's).
    Import {
        json: String,
    },
    /// Replaces the settings of server `name`, keeping the lines (and comments) of the keys
    /// that stay.
    Replace {
        name: String,
        entry: ServerEntry,
    },
    Remove {
        name: String,
    },
    SetEnabled {
        name: String,
        enabled: bool,
    },
    /// The new order: every server's name exactly once.
    Reorder {
        names: Vec<String>,
    },
    /// Allows or denies one of the child's own tools (an exact name, not a pattern).
    SetTool {
        name: String,
        tool: String,
        allowed: bool,
    },
}

/// Why an edit was not made (the file is untouched in every case).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    /// The edited file would not load: the loader's error (file, dotted key, reason).
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("no MCP server named `{0}` in the config file")]
    UnknownServer(String),
    /// The request itself is wrong: the field (`names`, `env.TOKEN`, `json`) and why.
    #[error("{field}: {reason}")]
    Request { field: String, reason: String },
    /// The file is not one this editor writes (the council project's JSON format).
    #[error("{0}")]
    NotEditable(String),
    /// The file changed on disk while the edit was being made.
    #[error("{} changed while it was being edited; nothing was written, try again", .0.display())]
    Changed(PathBuf),
    /// Reading or writing the file failed, or the edit did not do what it should (a bug).
    #[error("{0}")]
    Failed(String),
}

impl EditError {
    pub(crate) fn request(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Request {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// What an accepted edit did.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    /// Whether the file changed (allowing an allowed tool changes nothing).
    pub changed: bool,
    /// The servers the edit added, renamed to or touched, by their names now.
    pub servers: Vec<String>,
    /// Things worth telling the user (from a desktop JSON import).
    pub warnings: Vec<String>,
    /// The file's bytes before the edit: [`write_atomically`] them back to undo it.
    pub previous: Vec<u8>,
    /// The file's text now.
    pub text: String,
}

/// Whether `path` is a config file this editor can write (`Err` says why not).
pub fn editable(path: &Path) -> Result<(), EditError> {
    let json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let looks_json = std::fs::read(path)
        .map(|bytes| bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'))
        .unwrap_or(false);
    if json || looks_json {
        return Err(EditError::NotEditable(format!(
            "{} is in the council project's JSON format, which the dashboard does not edit; \
             write a fusion.toml (`fusion config check` shows this one as TOML)",
            path.display()
        )));
    }
    Ok(())
}

/// Applies `edit` to the config file at `path`: read, edit, validate with the loader (`${ENV}`
/// looked up in this process's environment), write atomically. Blocking (file I/O, parsing):
/// call it off the async workers.
pub fn edit_mcp_servers(path: &Path, edit: &ServerEdit) -> Result<Edited, EditError> {
    editable(path)?;
    let real = std::fs::canonicalize(path)
        .map_err(|e| EditError::Failed(format!("cannot find {}: {e}", path.display())))?;
    let previous = std::fs::read(&real)
        .map_err(|e| EditError::Failed(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8(previous.clone()).map_err(|_| {
        EditError::Invalid(ConfigError::new(path, "-", "the file is not UTF-8 text"))
    })?;
    let env = |name: &str| std::env::var(name).ok();
    let applied = apply(&text, path, edit, &env)?;
    if applied.changed {
        let now = std::fs::read(&real)
            .map_err(|e| EditError::Failed(format!("cannot read {}: {e}", path.display())))?;
        if now != previous {
            return Err(EditError::Changed(path.to_owned()));
        }
        write_atomically(&real, applied.text.as_bytes())
            .map_err(|e| EditError::Failed(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(Edited {
        previous,
        ..applied
    })
}

/// Applies `edit` to the text of the config file `source` and validates the result as the
/// loader does, with `${ENV}` looked up through `env`. Reads and writes nothing.
pub fn apply(
    text: &str,
    source: &Path,
    edit: &ServerEdit,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Edited, EditError> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut doc: DocumentMut = match body.parse() {
        Ok(doc) => doc,
        Err(e) => {
            // The loader's own words for a file that does not parse.
            return Err(EditError::Invalid(
                load::parse_text(text, source, env)
                    .err()
                    .unwrap_or_else(|| ConfigError::new(source, "-", format!("invalid TOML: {e}"))),
            ));
        }
    };
    let before = load::parse_text(text, source, env).ok().map(|(c, _)| c);
    let outcome = servers::apply(&mut doc, source, edit)?;
    let mut edited = doc.to_string();
    if text.starts_with('\u{feff}') {
        edited.insert(0, '\u{feff}');
    }
    let changed = edited != text;
    let (after, _) = load::parse_text(&edited, source, env).map_err(EditError::Invalid)?;
    check_outcome(edit, before.as_ref(), &after, &outcome.expected_names)?;
    Ok(Edited {
        changed,
        servers: outcome.servers,
        warnings: outcome.warnings,
        previous: text.as_bytes().to_vec(),
        text: edited,
    })
}

/// Makes sure the edited file says what the edit meant: the servers' names in the expected
/// order, and for the edits that move whole entries, every other setting as it was.
fn check_outcome(
    edit: &ServerEdit,
    before: Option<&Config>,
    after: &Config,
    expected_names: &[String],
) -> Result<(), EditError> {
    let names: Vec<&str> = after.mcp.servers.iter().map(|s| s.name.as_str()).collect();
    let fail = |what: &str| {
        Err(EditError::Failed(format!(
            "the edit did not give the expected [[mcp.servers]] ({what}); nothing was written"
        )))
    };
    if names != expected_names {
        return fail(&format!("names {names:?}, expected {expected_names:?}"));
    }
    let Some(before) = before else {
        return Ok(());
    };
    let find = |name: &str| before.mcp.servers.iter().find(|s| s.name == name).cloned();
    let expected: Option<Vec<McpServerConfig>> = match edit {
        ServerEdit::Reorder { .. } | ServerEdit::Remove { .. } => {
            names.iter().map(|name| find(name)).collect()
        }
        ServerEdit::SetEnabled { name, enabled } => names
            .iter()
            .map(|n| {
                find(n).map(|mut s| {
                    if n == name {
                        s.enabled = *enabled;
                    }
                    s
                })
            })
            .collect(),
        _ => return Ok(()),
    };
    if expected.as_deref() != Some(&after.mcp.servers[..]) {
        return fail("other settings moved");
    }
    Ok(())
}

/// Temp files of this process get distinct names.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces the file at `path` with `bytes` at once: written to a temp file in the same
/// directory (same permissions), synced, then renamed over it. A symlink is followed (the
/// file it points to is replaced, the link stays).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let dir = real.parent().unwrap_or_else(|| Path::new("."));
    let file_name = real
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(
        ".{file_name}.edit-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        if let Ok(metadata) = std::fs::metadata(&real) {
            file.set_permissions(metadata.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &real)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    // The rename itself is durable once the directory is synced (best effort).
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
