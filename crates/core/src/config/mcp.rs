//! `[mcp]`: the child MCP servers Fusion aggregates (`[[mcp.servers]]`, stdio commands or
//! Streamable HTTP URLs), how their catalog is presented (namespaced, lazy or passthrough), and
//! the checks that make every exposed name valid before anything starts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `[mcp]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Between a server's name and its tool or prompt names: `<server><separator><tool>`.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// How clients see the catalog.
    #[serde(default)]
    pub mode: CatalogMode,
    /// How long start-up waits for children before serving without the slow ones.
    #[serde(default = "default_startup_timeout", with = "duration")]
    pub startup_timeout: Duration,
    /// How often each ready child is pinged.
    #[serde(default = "default_ping_interval", with = "duration")]
    pub ping_interval: Duration,
    #[serde(default)]
    pub servers: Vec<McpServerConfig>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            separator: default_separator(),
            mode: CatalogMode::default(),
            startup_timeout: default_startup_timeout(),
            ping_interval: default_ping_interval(),
            servers: Vec::new(),
        }
    }
}

fn default_separator() -> String {
    "__".to_owned()
}

fn default_startup_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_ping_interval() -> Duration {
    Duration::from_secs(30)
}

fn default_call_timeout() -> Duration {
    Duration::from_secs(300)
}

fn default_true() -> bool {
    true
}

/// How the aggregated catalog is shown to clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogMode {
    /// Every child's tools, prompts and resources under `<server><separator><name>`, plus
    /// Fusion's own.
    #[default]
    Namespaced,
    /// Only `find_tools` and `call_tool` (plus Fusion's own tools), for clients whose context
    /// would drown in hundreds of tool definitions.
    Lazy,
    /// Exactly one child, its catalog unprefixed and nothing of Fusion's own.
    Passthrough,
}

/// One `[[mcp.servers]]` entry: a stdio child (`command`) or a Streamable HTTP one (`url`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub tools: ToolFilter,
    /// Longest a call to this child may take.
    #[serde(default = "default_call_timeout", with = "duration")]
    pub timeout: Duration,
}

impl McpServerConfig {
    /// A stdio child with this command line (for imports and tests).
    pub fn stdio(name: impl Into<String>, command: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            name: name.into(),
            command: Some(command.into()),
            args,
            env: BTreeMap::new(),
            cwd: None,
            url: None,
            headers: BTreeMap::new(),
            enabled: true,
            tools: ToolFilter::default(),
            timeout: default_call_timeout(),
        }
    }

    /// A Streamable HTTP child at this URL (for imports and tests).
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            command: None,
            url: Some(url.into()),
            ..Self::stdio(name, "", Vec::new())
        }
    }
}

/// `tools.allow` / `tools.deny`: glob patterns (`*`, `?`, `[abc]`) over the child's own tool
/// names. Empty `allow` allows everything; `deny` wins.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// Characters allowed in exposed names (and so in server names and the separator).
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Checks `[mcp]`; the error is `(dotted key, reason)`.
pub(super) fn validate(mcp: &McpConfig) -> Result<(), (String, String)> {
    if mcp.separator.is_empty() || !mcp.separator.chars().all(is_name_char) {
        return Err((
            "mcp.separator".into(),
            format!(
                "`{}` is not usable: it must be one or more of A-Z a-z 0-9 _ -",
                mcp.separator
            ),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, server) in mcp.servers.iter().enumerate() {
        let key = |field: &str| format!("mcp.servers[{i}].{field}");
        let name = &server.name;
        if name.is_empty() || name.len() > 32 || !name.chars().all(is_name_char) {
            return Err((
                key("name"),
                format!("`{name}` must be 1 to 32 of A-Z a-z 0-9 _ - (it prefixes tool names)"),
            ));
        }
        if name.contains(&mcp.separator) {
            return Err((
                key("name"),
                format!(
                    "`{name}` contains the separator `{}`; rename the server or set \
                     mcp.separator",
                    mcp.separator
                ),
            ));
        }
        if !names.insert(name.as_str()) {
            return Err((key("name"), format!("duplicate server name `{name}`")));
        }
        match (&server.command, &server.url) {
            (Some(command), None) if !command.trim().is_empty() => {}
            (Some(_), None) => return Err((key("command"), "must not be empty".into())),
            (None, Some(url)) => match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => return Err((key("url"), format!("`{url}` is not an http(s) URL"))),
            },
            (Some(_), Some(_)) => {
                return Err((
                    key("url"),
                    "give either `command` (a stdio child) or `url` (Streamable HTTP), not both"
                        .into(),
                ));
            }
            (None, None) => {
                return Err((
                    key("command"),
                    "give `command` (a stdio child) or `url` (Streamable HTTP)".into(),
                ));
            }
        }
        if server.url.is_none() && !server.headers.is_empty() {
            return Err((key("headers"), "only for `url` servers".into()));
        }
        if server.command.is_none() && (!server.args.is_empty() || !server.env.is_empty()) {
            return Err((
                key("args"),
                "`args` and `env` are only for `command` servers".into(),
            ));
        }
        for (list, patterns) in [("allow", &server.tools.allow), ("deny", &server.tools.deny)] {
            for (j, pattern) in patterns.iter().enumerate() {
                if let Err(e) = globset::Glob::new(pattern) {
                    return Err((key(&format!("tools.{list}[{j}]")), e.kind().to_string()));
                }
            }
        }
        if server.timeout.is_zero() {
            return Err((key("timeout"), "must be positive".into()));
        }
    }
    if mcp.mode == CatalogMode::Passthrough {
        let enabled = mcp.servers.iter().filter(|s| s.enabled).count();
        if enabled != 1 {
            return Err((
                "mcp.mode".into(),
                format!("\"passthrough\" needs exactly one enabled server; there are {enabled}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<McpConfig, String> {
        let mcp: McpConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        validate(&mcp).map_err(|(key, reason)| format!("{key}: {reason}"))?;
        Ok(mcp)
    }

    #[test]
    fn stdio_and_http_children_parse_with_defaults() {
        let mcp = parse(
            r#"
            [[servers]]
            name = "fs"
            command = "npx"
            args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
            [[servers]]
            name = "issues"
            url = "https://mcp.example.com/mcp"
            headers = { Authorization = "Bearer x" }
            tools.deny = ["delete_*"]
            timeout = "30s"
            "#,
        )
        .unwrap();
        assert_eq!(mcp.separator, "__");
        assert_eq!(mcp.mode, CatalogMode::Namespaced);
        assert!(mcp.servers[0].enabled);
        assert_eq!(mcp.servers[1].tools.deny, ["delete_*"]);
        assert_eq!(mcp.servers[1].timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_server_name_containing_the_separator_is_refused_at_config_time() {
        let err = parse("[[servers]]\nname = \"my__fs\"\ncommand = \"x\"").unwrap_err();
        assert!(
            err.starts_with("servers[0].name") || err.contains("mcp.servers[0].name"),
            "{err}"
        );
        assert!(err.contains("separator"), "{err}");
        // With another separator the same name is fine.
        parse("separator = \"-\"\n[[servers]]\nname = \"my__fs\"\ncommand = \"x\"").unwrap();
    }

    #[test]
    fn names_with_invalid_characters_or_duplicates_are_refused() {
        assert!(parse("[[servers]]\nname = \"a b\"\ncommand = \"x\"").is_err());
        assert!(parse("[[servers]]\nname = \"\"\ncommand = \"x\"").is_err());
        let dup = "[[servers]]\nname = \"a\"\ncommand = \"x\"\n[[servers]]\nname = \"a\"\nurl = \"http://h/mcp\"";
        assert!(parse(dup).unwrap_err().contains("duplicate"));
        assert!(
            parse("separator = \".\"\n")
                .unwrap_err()
                .contains("separator")
        );
    }

    #[test]
    fn exactly_one_transport_is_required() {
        let both = parse("[[servers]]\nname = \"a\"\ncommand = \"x\"\nurl = \"http://h/mcp\"");
        assert!(both.unwrap_err().contains("not both"));
        assert!(
            parse("[[servers]]\nname = \"a\"")
                .unwrap_err()
                .contains("give `command`")
        );
        assert!(parse("[[servers]]\nname = \"a\"\nurl = \"ftp://h\"").is_err());
        assert!(
            parse("[[servers]]\nname = \"a\"\ncommand = \"x\"\nheaders = { A = \"b\" }").is_err()
        );
    }

    #[test]
    fn bad_globs_and_passthrough_without_exactly_one_child_are_refused() {
        let glob = parse("[[servers]]\nname = \"a\"\ncommand = \"x\"\ntools.allow = [\"[\"]");
        assert!(glob.unwrap_err().contains("tools.allow[0]"));
        let none = parse("mode = \"passthrough\"");
        assert!(none.unwrap_err().contains("exactly one"));
        parse("mode = \"passthrough\"\n[[servers]]\nname = \"a\"\ncommand = \"x\"").unwrap();
    }
}
