//! `fusion mcp import`: reads the MCP server list of desktop clients (`mcpServers` in Claude
//! Desktop, Cursor, Cline and Windsurf files; `servers` or `mcp.servers` in VS Code's) into
//! `[[mcp.servers]]` entries, with usable and unique names and client placeholders translated
//! to Fusion's `${ENV}` syntax, and renders them as TOML to append to `fusion.toml`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use self::json::{Json, Members, get};
use super::expand::{child_key, index_key};
use super::mcp::{McpServerConfig, is_name_char};

/// What an import produced: the servers to add, and what the user should know about them.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub servers: Vec<McpServerConfig>,
    pub warnings: Vec<String>,
}

mod json;

/// Longest server name (it prefixes every exposed tool name).
const MAX_NAME_LEN: usize = 32;

/// Entry keys that only mean something to the client (approval lists and the like): dropped
/// without a warning. Any other key not understood is reported.
const CLIENT_ONLY_KEYS: &[&str] = &["autoApprove", "alwaysAllow", "trust", "description"];

/// Parses the JSON text; names are sanitized to [A-Za-z0-9_-]{1,32} (warning when changed),
/// de-duplicated against `existing` names (warning, suffix -2, -3...), must not contain `separator`
/// (replace it, warn). SSE-only servers get a warning that SSE is deprecated and are imported as url
/// servers only if the URL doesn't end with /sse, else skipped with a warning. `disabled: true` →
/// enabled=false. Env values that look like secrets stay as given but a warning suggests ${ENV}.
///
/// Every string is returned as it is to be written in `fusion.toml`, before Fusion's `${ENV}`
/// expansion: VS Code's `${env:NAME}` becomes `${NAME}`, and placeholders Fusion cannot fill
/// (`${input:…}`, `${workspaceFolder}`) are escaped to stay literal, with a warning. Shape
/// errors name the JSON path (`mcpServers.github.args[1]: expected a string, found a number`).
pub fn import_mcp_servers(
    json: &str,
    existing: &[&str],
    separator: &str,
) -> Result<Imported, String> {
    if separator.is_empty() || !separator.chars().all(is_name_char) {
        return Err(format!(
            "separator `{separator}` is not usable: use A-Z a-z 0-9 _ -"
        ));
    }
    let root: Json = serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
    let Json::Object(root) = root else {
        return Err(format!(
            "expected a JSON object at the top level, found {}",
            root.kind()
        ));
    };
    let (base, entries) = locate_servers(&root)?;
    let mut warnings = Vec::new();
    let mut taken: HashSet<String> = existing.iter().map(|name| (*name).to_owned()).collect();
    let mut servers = Vec::new();
    for (i, (raw_name, entry)) in entries.iter().enumerate() {
        let path = child_key(base, raw_name);
        if entries[i + 1..].iter().any(|(later, _)| later == raw_name) {
            warnings.push(format!(
                "{path}: appears more than once; the last one is imported"
            ));
            continue;
        }
        let Some(mut server) = parse_entry(&path, entry, &mut warnings)? else {
            continue;
        };
        server.name = pick_name(&path, raw_name, &taken, separator, &mut warnings)?;
        taken.insert(server.name.clone());
        servers.push(server);
    }
    Ok(Imported { servers, warnings })
}

/// Renders servers as `[[mcp.servers]]` TOML blocks to append to fusion.toml (valid TOML;
/// round-trips through toml::from_str into McpConfig's servers). Defaults (`enabled = true`,
/// the call timeout, empty tool filters) are left out.
pub fn render_mcp_servers(servers: &[McpServerConfig]) -> Result<String, String> {
    const ORDER: &[&str] = &[
        "name", "command", "args", "env", "cwd", "url", "headers", "enabled", "tools", "timeout",
    ];
    let defaults = toml::Value::try_from(McpServerConfig::stdio("", "x", Vec::new()))
        .map_err(|e| format!("cannot render the defaults: {e}"))?;
    let mut out = String::new();
    for server in servers {
        let value = toml::Value::try_from(server)
            .map_err(|e| format!("server `{}` cannot be rendered: {e}", server.name))?;
        let toml::Value::Table(mut table) = value else {
            return Err(format!(
                "server `{}` did not render as a table",
                server.name
            ));
        };
        table.retain(|key, value| match (key, &*value) {
            ("name" | "command" | "url", _) => true,
            ("enabled" | "timeout", value) => defaults.get(key) != Some(value),
            (_, toml::Value::Table(t)) => t.values().any(|v| !is_empty_value(v)),
            (_, v) => !is_empty_value(v),
        });
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("[[mcp.servers]]\n");
        let mut keys: Vec<&String> = table.keys().collect();
        keys.sort_by_key(|key| {
            (
                ORDER.iter().position(|o| o == key).unwrap_or(ORDER.len()),
                *key,
            )
        });
        for key in keys {
            // Keys are `McpServerConfig`'s field names, all bare TOML keys.
            if let Some(value) = table.get(key.as_str()) {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
    }
    Ok(out)
}

fn is_empty_value(value: &toml::Value) -> bool {
    match value {
        toml::Value::Array(items) => items.is_empty(),
        toml::Value::Table(table) => table.is_empty(),
        _ => false,
    }
}

/// The server object and its dotted path: `mcpServers`, VS Code's `servers`, or `mcp.servers`.
fn locate_servers(root: &Members) -> Result<(&'static str, &Members), String> {
    let vscode_settings = match get(root, "mcp") {
        Some(Json::Object(mcp)) => get(mcp, "servers"),
        _ => None,
    };
    let found = [
        ("mcpServers", get(root, "mcpServers")),
        ("servers", get(root, "servers")),
        ("mcp.servers", vscode_settings),
    ];
    match found
        .into_iter()
        .find_map(|(path, value)| value.map(|v| (path, v)))
    {
        Some((path, Json::Object(entries))) => Ok((path, entries)),
        Some((path, other)) => Err(format!(
            "{path}: expected an object, found {}",
            other.kind()
        )),
        None => {
            Err("found no `mcpServers` object (nor VS Code's `servers`) at the top level".into())
        }
    }
}

/// How a client entry talks to its server.
enum Transport {
    Stdio,
    Http,
    Sse,
}

/// One client entry as a server (its name is set later); `None` when it is skipped.
fn parse_entry(
    path: &str,
    entry: &Json,
    warnings: &mut Vec<String>,
) -> Result<Option<McpServerConfig>, String> {
    let Json::Object(fields) = entry else {
        return Err(format!(
            "{path}: expected an object, found {}",
            entry.kind()
        ));
    };
    let field = |key: &str| get(fields, key).map(|value| (child_key(path, key), value));
    let text = |key: &str, warnings: &mut Vec<String>| {
        field(key).map(|(p, v)| string(&p, v, warnings)).transpose()
    };
    let first_of = |keys: [&'static str; 3]| keys.into_iter().find(|k| get(fields, k).is_some());
    let command = text("command", warnings)?;
    let url_key = first_of(["url", "serverUrl", "httpUrl"]);
    let url = url_key
        .map(|key| text(key, warnings))
        .transpose()?
        .flatten();
    let kind_key = first_of(["type", "transport", "transportType"]);
    let kind = kind_key
        .map(|key| text(key, warnings))
        .transpose()?
        .flatten();
    let kind = kind.map(|k| k.to_ascii_lowercase().replace(['-', '_'], ""));
    let transport = match (kind.as_deref(), &command, &url) {
        (Some("stdio"), _, _) => Transport::Stdio,
        (Some("http" | "streamablehttp"), _, _) => Transport::Http,
        (Some("sse"), _, _) => Transport::Sse,
        (Some(other), _, _) => {
            warnings.push(format!(
                "{path}: skipped: transport `{other}` is not supported"
            ));
            return Ok(None);
        }
        (None, Some(_), None) => Transport::Stdio,
        (None, None, Some(url)) if is_sse_endpoint(url) => Transport::Sse,
        (None, None, Some(_)) => Transport::Http,
        (None, Some(_), Some(_)) => {
            return Err(format!("{path}: has both `command` and `url`; keep one"));
        }
        (None, None, None) => {
            return Err(format!(
                "{path}: expected `command` (stdio) or `url` (HTTP)"
            ));
        }
    };
    if matches!(transport, Transport::Http | Transport::Sse) {
        let url_path = child_key(path, url_key.unwrap_or("url"));
        let Some(url) = &url else {
            return Err(format!("{url_path}: an HTTP server needs a URL"));
        };
        // A URL with `${ENV}` references is only checked by Fusion, after expansion.
        let http =
            matches!(reqwest::Url::parse(url), Ok(u) if matches!(u.scheme(), "http" | "https"));
        if !http && !url.contains("${") {
            return Err(format!("{url_path}: `{url}` is not an http(s) URL"));
        }
        if matches!(transport, Transport::Sse) {
            if is_sse_endpoint(url) {
                warnings.push(format!(
                    "{path}: skipped: `{url}` is an SSE endpoint, and the SSE transport is \
                     deprecated and not spoken by Fusion; if the server also offers Streamable \
                     HTTP (often at /mcp), add that URL by hand"
                ));
                return Ok(None);
            }
            warnings.push(format!(
                "{path}: the SSE transport is deprecated and not spoken by Fusion; imported as a \
                 Streamable HTTP server at `{url}`: check that the server offers it there"
            ));
        }
    }
    let args = match field("args") {
        Some((p, Json::Array(items))) => items
            .iter()
            .enumerate()
            .map(|(i, item)| string(&index_key(&p, i), item, warnings))
            .collect::<Result<Vec<_>, _>>()?,
        Some((p, other)) => return Err(format!("{p}: expected an array, found {}", other.kind())),
        None => Vec::new(),
    };
    let env = string_map(field("env"), warnings)?;
    let headers = string_map(field("headers"), warnings)?;
    let cwd = text("cwd", warnings)?;
    let enabled = match field("disabled") {
        Some((_, Json::Bool(disabled))) => !disabled,
        Some((p, other)) => return Err(format!("{p}: expected a boolean, found {}", other.kind())),
        None => true,
    };
    let mut server = match transport {
        Transport::Stdio => {
            let Some(command) = command.filter(|c| !c.trim().is_empty()) else {
                let command_path = child_key(path, "command");
                return Err(format!(
                    "{command_path}: a stdio server needs a non-empty command"
                ));
            };
            let mut server = McpServerConfig::stdio("", command, args);
            server.env = env;
            server.cwd = cwd.map(PathBuf::from);
            ignored(
                path,
                &[("url", url.is_some()), ("headers", !headers.is_empty())],
                warnings,
            );
            server
        }
        Transport::Http | Transport::Sse => {
            let mut server = McpServerConfig::http("", url.unwrap_or_default());
            server.headers = headers;
            let stdio_only = [
                ("command", command.is_some()),
                ("args", !args.is_empty()),
                ("env", !env.is_empty()),
                ("cwd", cwd.is_some()),
            ];
            ignored(path, &stdio_only, warnings);
            server
        }
    };
    server.enabled = enabled;
    let unknown: Vec<&str> = fields
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| !is_known_key(key))
        .collect();
    if !unknown.is_empty() {
        warnings.push(format!(
            "{path}: ignored `{}` (no fusion.toml equivalent)",
            unknown.join("`, `")
        ));
    }
    Ok(Some(server))
}

fn is_known_key(key: &str) -> bool {
    const KNOWN: &[&str] = &[
        "command",
        "args",
        "env",
        "cwd",
        "url",
        "serverUrl",
        "httpUrl",
        "headers",
        "type",
        "transport",
        "transportType",
        "disabled",
    ];
    KNOWN.contains(&key) || CLIENT_ONLY_KEYS.contains(&key)
}

fn ignored(path: &str, present: &[(&str, bool)], warnings: &mut Vec<String>) {
    let keys: Vec<&str> = present
        .iter()
        .filter(|(_, p)| *p)
        .map(|(key, _)| *key)
        .collect();
    if !keys.is_empty() {
        warnings.push(format!(
            "{path}: ignored `{}` (not used by this kind of server)",
            keys.join("`, `")
        ));
    }
}

/// Whether a URL's path ends in `/sse` (the legacy HTTP+SSE endpoint).
fn is_sse_endpoint(url: &str) -> bool {
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    path.trim_end_matches('/').ends_with("/sse")
}

/// A JSON string, translated for `fusion.toml`.
fn string(path: &str, value: &Json, warnings: &mut Vec<String>) -> Result<String, String> {
    match value {
        Json::String(text) => Ok(translate_placeholders(path, text, warnings)),
        other => Err(format!("{path}: expected a string, found {}", other.kind())),
    }
}

/// `env` or `headers`: an object of strings; values that look like secrets get a warning.
fn string_map(
    field: Option<(String, &Json)>,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    let Some((path, value)) = field else {
        return Ok(map);
    };
    let Json::Object(members) = value else {
        return Err(format!(
            "{path}: expected an object, found {}",
            value.kind()
        ));
    };
    for (key, value) in members {
        let item_path = child_key(&path, key);
        let value = string(&item_path, value, warnings)?;
        if looks_like_secret(key, &value) {
            let suggestion = if is_env_name(key) {
                key.as_str()
            } else {
                "NAME"
            };
            warnings.push(format!(
                "{item_path} looks like a secret and is written to fusion.toml as given; \
                 consider `\"${{{suggestion}}}\"` with the value in Fusion's environment"
            ));
        }
        map.insert(key.clone(), value);
    }
    Ok(map)
}

fn looks_like_secret(key: &str, value: &str) -> bool {
    const KEY_WORDS: &[&str] = &[
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "AUTH",
        "COOKIE",
    ];
    const VALUE_PREFIXES: &[&str] = &[
        "sk-",
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "glpat-",
        "xoxb-",
        "xoxp-",
        "AKIA",
        "AIza",
        "Bearer ",
        "Basic ",
    ];
    let whole_reference = value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .is_some_and(is_reference);
    if value.trim().is_empty() || whole_reference {
        return false;
    }
    let upper = key.to_ascii_uppercase();
    KEY_WORDS.iter().any(|word| upper.contains(word))
        || VALUE_PREFIXES
            .iter()
            .any(|prefix| value.starts_with(prefix))
}

/// Rewrites client placeholders for Fusion's `${ENV}` expansion: `${env:NAME}` → `${NAME}`,
/// `${NAME}` and `${NAME:-default}` kept, anything else (and a lone `${`) escaped as `$${`.
fn translate_placeholders(path: &str, text: &str, warnings: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let Some(close) = tail.find('}') else {
            out.push_str("$${");
            rest = tail;
            continue;
        };
        let inner = &tail[..close];
        if let Some(name) = inner.strip_prefix("env:").filter(|name| is_env_name(name)) {
            out.push_str(&format!("${{{name}}}"));
        } else if is_reference(inner) && !EDITOR_VARIABLES.contains(&inner) {
            out.push_str(&format!("${{{inner}}}"));
        } else {
            // Escaped whole: a `${` inside it would otherwise still be expanded.
            out.push_str(&format!("$${{{}}}", inner.replace("${", "$${")));
            warnings.push(format!(
                "{path}: `${{{inner}}}` is a client placeholder Fusion cannot fill; it is kept \
                 literally: replace it with a value or a `${{ENV}}` reference"
            ));
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    out
}

/// VS Code's predefined `${...}` variables: they look like environment references but are not.
const EDITOR_VARIABLES: &[&str] = &[
    "workspaceFolder",
    "workspaceFolderBasename",
    "workspaceRoot",
    "userHome",
    "pathSeparator",
    "cwd",
    "file",
    "fileBasename",
    "fileBasenameNoExtension",
    "fileDirname",
    "fileExtname",
    "fileWorkspaceFolder",
    "relativeFile",
    "relativeFileDirname",
    "execPath",
    "lineNumber",
    "selectedText",
];

/// The inside of a Fusion reference: `NAME` or `NAME:-default`.
fn is_reference(inner: &str) -> bool {
    is_env_name(inner.split_once(":-").map_or(inner, |(name, _)| name))
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A usable, unused name for `raw`, with one warning saying why it differs.
fn pick_name(
    path: &str,
    raw: &str,
    taken: &HashSet<String>,
    separator: &str,
    warnings: &mut Vec<String>,
) -> Result<String, String> {
    let mut reasons = Vec::new();
    let valid = (1..=MAX_NAME_LEN).contains(&raw.len()) && raw.chars().all(is_name_char);
    let mut name = if valid {
        raw.to_owned()
    } else {
        reasons.push(format!("names are 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ -"));
        sanitize(raw)
    };
    // Replacing a separator of two or more characters by one shrinks the name, and a
    // one-character separator is replaced by another character, so this ends.
    let filler = if separator == "-" { "_" } else { "-" };
    if name.contains(separator) {
        reasons.push(format!("the name contained the separator `{separator}`"));
        while name.contains(separator) {
            name = name.replace(separator, filler);
        }
    }
    if taken.contains(&name) {
        reasons.push(format!("`{name}` is already taken"));
        name = (2..10_000)
            .map(|n| {
                let suffix = format!("{filler}{n}");
                let stem: String = name.chars().take(MAX_NAME_LEN - suffix.len()).collect();
                stem + &suffix
            })
            .find(|candidate| !candidate.contains(separator) && !taken.contains(candidate))
            .ok_or_else(|| format!("{path}: no free name for `{name}`"))?;
    }
    if !reasons.is_empty() {
        warnings.push(format!(
            "{path}: imported as `{name}` ({})",
            reasons.join("; ")
        ));
    }
    Ok(name)
}

/// `raw` with each run of unusable characters turned into one `-`, trimmed, at most 32 long.
fn sanitize(raw: &str) -> String {
    let mut name = String::new();
    for c in raw.chars() {
        if is_name_char(c) {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(MAX_NAME_LEN);
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "server".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests;
