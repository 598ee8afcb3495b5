//! Unit tests of `fusion mcp import`: one per rule, and the render → parse round trip.

use super::*;

fn import(json: &str) -> Imported {
    import_mcp_servers(json, &[], "__").unwrap()
}

fn has(warnings: &[String], needle: &str) -> bool {
    warnings.iter().any(|w| w.contains(needle))
}

#[test]
fn claude_desktop_stdio_and_http_servers_import_in_file_order() {
    let out = import(
        r#"{"mcpServers": {
            "zeta": {"command": "npx", "args": ["-y", "server-zeta"], "env": {"MODE": "x"},
                     "cwd": "/srv"},
            "alpha": {"url": "https://mcp.example.com/mcp",
                      "headers": {"X-Team": "core"}}
        }}"#,
    );
    assert_eq!(out.warnings, Vec::<String>::new());
    let [zeta, alpha] = &out.servers[..] else {
        panic!("{:?}", out.servers)
    };
    let mut expected =
        McpServerConfig::stdio("zeta", "npx", vec!["-y".into(), "server-zeta".into()]);
    expected.env.insert("MODE".into(), "x".into());
    expected.cwd = Some(PathBuf::from("/srv"));
    assert_eq!(zeta, &expected);
    let mut expected = McpServerConfig::http("alpha", "https://mcp.example.com/mcp");
    expected.headers.insert("X-Team".into(), "core".into());
    assert_eq!(alpha, &expected);
}

#[test]
fn vscode_servers_key_transport_types_and_url_aliases_are_understood() {
    let out = import(
        r#"{"inputs": [], "servers": {
            "a": {"type": "stdio", "command": "uvx", "args": ["a"]},
            "b": {"type": "http", "url": "http://127.0.0.1:9000/mcp"},
            "c": {"transportType": "streamableHttp", "url": "http://h/mcp"},
            "d": {"serverUrl": "https://windsurf.example/mcp"},
            "e": {"httpUrl": "https://${env:MCP_HOST}/mcp"}
        }}"#,
    );
    let urls: Vec<_> = out.servers.iter().map(|s| s.url.as_deref()).collect();
    assert_eq!(
        urls,
        [
            None,
            Some("http://127.0.0.1:9000/mcp"),
            Some("http://h/mcp"),
            Some("https://windsurf.example/mcp"),
            Some("https://${MCP_HOST}/mcp")
        ]
    );
    let settings = r#"{"mcp": {"servers": {"x": {"command": "x"}}}}"#;
    assert_eq!(import(settings).servers[0].name, "x");
    assert!(
        import_mcp_servers("{}", &[], "__")
            .unwrap_err()
            .contains("mcpServers")
    );
}

#[test]
fn shape_errors_name_the_json_path() {
    let err = |json: &str| import_mcp_servers(json, &[], "__").unwrap_err();
    assert_eq!(
        err(r#"{"mcpServers": {"github": {"command": "npx", "args": ["-y", 7]}}}"#),
        "mcpServers.github.args[1]: expected a string, found a number"
    );
    assert!(
        err(r#"{"mcpServers": {"my fs": {"command": "x", "env": {"A": true}}}}"#)
            .starts_with(r#"mcpServers."my fs".env.A: expected a string"#)
    );
    assert!(
        err(r#"{"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}"#)
            .starts_with("mcpServers.a.disabled: expected a boolean")
    );
    assert!(err(r#"{"mcpServers": {"a": {"url": "ftp://h"}}}"#).starts_with("mcpServers.a.url"));
    assert!(err(r#"{"mcpServers": {"a": {"command": "x", "url": "http://h"}}}"#).contains("both"));
    assert!(err(r#"{"mcpServers": {"a": {}}}"#).contains("expected `command`"));
    assert!(err(r#"{"mcpServers": {"a": {"command": " "}}}"#).starts_with("mcpServers.a.command"));
    assert!(err(r#"{"mcpServers": []}"#).starts_with("mcpServers: expected an object"));
    assert!(err(r#"{"mcpServers": {"a": 1}}"#).starts_with("mcpServers.a: expected an object"));
    assert!(err("[1]").contains("top level"));
    assert!(err("{").starts_with("not valid JSON"));
}

#[test]
fn names_are_sanitized_with_a_warning() {
    let out = import(
        r#"{"mcpServers": {
            "My Server (prod)": {"command": "a"},
            "@scope/pkg.name": {"command": "b"},
            "日本": {"command": "c"},
            "an-extremely-long-server-name-that-goes-on": {"command": "d"},
            "fine_name-1": {"command": "e"}
        }}"#,
    );
    let names: Vec<_> = out.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "My-Server-prod",
            "scope-pkg-name",
            "server",
            "an-extremely-long-server-name-th",
            "fine_name-1"
        ]
    );
    assert_eq!(out.warnings.len(), 4, "{:?}", out.warnings);
    assert!(has(
        &out.warnings,
        r#"mcpServers."My Server (prod)": imported as `My-Server-prod`"#
    ));
}

#[test]
fn the_separator_is_replaced_in_names() {
    let out = import(r#"{"mcpServers": {"my__fs": {"command": "a"}, "x___y": {"command": "b"}}}"#);
    assert_eq!(out.servers[0].name, "my-fs");
    assert_eq!(out.servers[1].name, "x-_y");
    assert!(has(&out.warnings, "contained the separator `__`"));
    let dash = import_mcp_servers(r#"{"mcpServers": {"my-fs": {"command": "a"}}}"#, &[], "-");
    assert_eq!(dash.unwrap().servers[0].name, "my_fs");
    assert!(
        import_mcp_servers("{}", &[], "")
            .unwrap_err()
            .contains("separator")
    );
}

#[test]
fn names_are_deduplicated_against_existing_and_imported_ones() {
    let json = r#"{"mcpServers": {"github": {"command": "a"}, "git hub": {"command": "b"},
                   "git.hub": {"command": "c"}}}"#;
    let out = import_mcp_servers(json, &["github", "git-hub"], "__").unwrap();
    let names: Vec<_> = out.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["github-2", "git-hub-2", "git-hub-3"]);
    assert!(has(
        &out.warnings,
        "mcpServers.github: imported as `github-2` (`github` is already taken)"
    ));
    let long = "a".repeat(32);
    let out = import_mcp_servers(
        &format!(r#"{{"mcpServers": {{"{long}": {{"command": "x"}}}}}}"#),
        &[&long],
        "__",
    );
    assert_eq!(
        out.unwrap().servers[0].name,
        format!("{}-2", "a".repeat(30))
    );
    let dup = import(r#"{"mcpServers": {"a": {"command": "first"}, "a": {"command": "last"}}}"#);
    assert_eq!(dup.servers.len(), 1);
    assert_eq!(dup.servers[0].command.as_deref(), Some("last"));
}

#[test]
fn sse_servers_are_skipped_or_imported_with_a_deprecation_warning() {
    let out = import(
        r#"{"mcpServers": {
            "legacy": {"url": "http://localhost:3000/sse"},
            "legacy2": {"type": "sse", "url": "https://h.example/sse/"},
            "both": {"type": "sse", "url": "https://h.example/mcp"},
            "ws": {"type": "websocket", "url": "ws://h"}
        }}"#,
    );
    assert_eq!(out.servers.len(), 1);
    assert_eq!(out.servers[0].url.as_deref(), Some("https://h.example/mcp"));
    assert!(has(&out.warnings, "mcpServers.legacy: skipped"));
    assert!(has(&out.warnings, "mcpServers.legacy2: skipped"));
    assert!(has(
        &out.warnings,
        "mcpServers.both: the SSE transport is deprecated"
    ));
    assert!(has(
        &out.warnings,
        "mcpServers.ws: skipped: transport `websocket`"
    ));
}

#[test]
fn disabled_servers_import_as_not_enabled() {
    let out = import(
        r#"{"mcpServers": {"a": {"command": "x", "disabled": true},
                       "b": {"command": "y", "disabled": false}}}"#,
    );
    assert!(!out.servers[0].enabled);
    assert!(out.servers[1].enabled);
}

#[test]
fn secret_looking_values_are_kept_with_a_warning() {
    let out = import(
        r#"{"mcpServers": {"gh": {"command": "x", "env": {
            "GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_abc", "OTHER": "sk-123", "LOG_LEVEL": "debug",
            "API_KEY": "${API_KEY}", "EMPTY_TOKEN": ""}},
          "web": {"url": "https://h/mcp", "headers": {"Authorization": "Bearer xyz"}}}}"#,
    );
    assert_eq!(
        out.servers[0].env["GITHUB_PERSONAL_ACCESS_TOKEN"],
        "ghp_abc"
    );
    assert_eq!(out.warnings.len(), 3, "{:?}", out.warnings);
    assert!(has(
        &out.warnings,
        r#"mcpServers.gh.env.GITHUB_PERSONAL_ACCESS_TOKEN looks like a secret"#
    ));
    assert!(has(&out.warnings, r#"`"${GITHUB_PERSONAL_ACCESS_TOKEN}"`"#));
    assert!(has(&out.warnings, "mcpServers.gh.env.OTHER"));
    assert!(has(&out.warnings, "mcpServers.web.headers.Authorization"));
}

#[test]
fn client_placeholders_are_translated_or_escaped() {
    let out = import(
        r#"{"servers": {"a": {"command": "node", "args": ["${workspaceFolder}/x.js", "$HOME"],
            "env": {"T": "${env:GH_TOKEN}", "U": "${USER:-me}", "I": "${input:key}", "O": "${open",
                    "N": "${a/${env:X}}"}}}}"#,
    );
    let a = &out.servers[0];
    assert_eq!(a.args, ["$${workspaceFolder}/x.js", "$HOME"]);
    assert_eq!(a.env["T"], "${GH_TOKEN}");
    assert_eq!(a.env["U"], "${USER:-me}");
    assert_eq!(a.env["I"], "$${input:key}");
    assert_eq!(a.env["O"], "$${open");
    // A `${` inside an escaped placeholder is escaped too, or expansion would still read it.
    assert_eq!(a.env["N"], "$${a/$${env:X}}");
    assert!(has(
        &out.warnings,
        "servers.a.args[0]: `${workspaceFolder}` is a client placeholder"
    ));
    assert!(has(&out.warnings, "servers.a.env.I: `${input:key}`"));
}

#[test]
fn keys_without_an_equivalent_are_reported_and_client_only_ones_dropped() {
    let out = import(
        r#"{"mcpServers": {"a": {"command": "x", "autoApprove": ["t"], "timeout": 60,
            "url2": 1, "headers": {"H": "v"}}}}"#,
    );
    assert!(has(
        &out.warnings,
        "mcpServers.a: ignored `timeout`, `url2` (no fusion.toml"
    ));
    assert!(has(
        &out.warnings,
        "mcpServers.a: ignored `headers` (not used by this kind"
    ));
    assert!(out.servers[0].headers.is_empty());
}

#[test]
fn rendered_servers_round_trip_through_the_config_and_validate() {
    let json = r#"{"mcpServers": {
        "fs": {"command": "npx", "args": ["-y", "@x/fs", "C:\\dir", "quote\"d", "line\nbreak"],
               "env": {"A B": "1", "T": "${env:T}"}, "cwd": "/tmp"},
        "web": {"url": "https://h.example/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"},
                "disabled": true},
        "ui": {"command": "node", "args": ["${workspaceFolder}/i.js"]}
    }}"#;
    let mut servers = import(json).servers;
    servers[0].tools.deny = vec!["delete_*".into()];
    servers[0].timeout = std::time::Duration::from_secs(30);
    let text = render_mcp_servers(&servers).unwrap();
    assert!(
        text.starts_with("[[mcp.servers]]\nname = \"fs\"\ncommand = \"npx\"\n"),
        "{text}"
    );
    assert!(
        text.contains("enabled = false") && !text.contains("enabled = true"),
        "{text}"
    );
    assert_eq!(text.matches("timeout").count(), 1, "{text}");
    let config: super::super::Config = toml::from_str(&text).unwrap();
    assert_eq!(config.mcp.servers, servers);
    super::super::mcp::validate(&config.mcp).unwrap();
    assert_eq!(render_mcp_servers(&[]).unwrap(), "");

    // Fusion's `${ENV}` expansion accepts every rendered string; escaped placeholders stay literal.
    let mut value: toml::Value = toml::from_str(&text).unwrap();
    let env = |name: &str| Some(format!("<{name}>"));
    super::super::expand::expand_env(&mut value, &env, std::path::Path::new("f")).unwrap();
    let expanded: super::super::Config = value.try_into().unwrap();
    let [fs, web, ui] = &expanded.mcp.servers[..] else {
        panic!("{expanded:?}")
    };
    assert_eq!(fs.env["T"], "<T>");
    assert_eq!(web.headers["Authorization"], "Bearer <TOKEN>");
    assert_eq!(ui.args, ["${workspaceFolder}/i.js"]);
}
