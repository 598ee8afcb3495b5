use std::path::Path;

use super::*;

const FILE: &str = r#"# Fusion, written by hand
[server]
listen = "127.0.0.1:8787"   # loopback only

# The children
[[mcp.servers]]
name = "fs"                  # files
command = "npx"
args = ['-y', "@modelcontextprotocol/server-filesystem", "/tmp"]   # keep me

[mcp.servers.env]
# the npm cache
NPM_CONFIG_CACHE = "/tmp/npm"

# Issues over HTTP
[[mcp.servers]]
name = "issues"
url = "https://mcp.example.com/mcp"
headers = { Authorization = "Bearer ${EDIT_TEST_TOKEN}" }
tools.deny = ["delete_*"]

# Where the store lives
[storage]
url = "sqlite://fusion.db"   # next to the config
"#;

fn env(name: &str) -> Option<String> {
    (name == "EDIT_TEST_TOKEN").then(|| "tok-secret".to_owned())
}

fn run(text: &str, edit: &ServerEdit) -> Result<Edited, EditError> {
    apply(text, Path::new("fusion.toml"), edit, &env)
}

fn servers(text: &str) -> Vec<McpServerConfig> {
    load::parse_text(text, Path::new("fusion.toml"), &env)
        .unwrap()
        .0
        .mcp
        .servers
}

fn names(text: &str) -> Vec<String> {
    servers(text).into_iter().map(|s| s.name).collect()
}

/// Every comment line of `FILE` is still in `text`, and so is `[storage]`.
fn assert_kept(text: &str, except: &[&str]) {
    for line in FILE.lines().filter(|l| l.contains('#')) {
        if except.iter().any(|e| line.contains(e)) {
            continue;
        }
        assert!(text.contains(line), "lost `{line}` in:\n{text}");
    }
    assert!(
        text.contains("[storage]\nurl = \"sqlite://fusion.db\""),
        "{text}"
    );
}

fn entry(name: &str, command: &str) -> ServerEntry {
    ServerEntry {
        name: Some(name.into()),
        command: Some(command.into()),
        ..ServerEntry::default()
    }
}

fn add(name: &str, command: &str) -> ServerEdit {
    ServerEdit::Add(entry(name, command))
}

#[test]
fn adding_a_server_appends_it_after_the_last_one_and_keeps_everything_else() {
    let mut new = entry("time", "uvx");
    new.args = vec!["mcp-server-time".into()];
    new.env.insert("TZ".into(), Some("UTC".into()));
    new.timeout = Some("30s".into());
    let edited = run(FILE, &ServerEdit::Add(new)).unwrap();
    assert!(edited.changed);
    assert_eq!(edited.servers, ["time"]);
    assert_kept(&edited.text, &[]);
    assert_eq!(names(&edited.text), ["fs", "issues", "time"]);
    let time = &servers(&edited.text)[2];
    assert_eq!(time.env["TZ"], "UTC");
    assert_eq!(time.timeout, std::time::Duration::from_secs(30));
    // Right after the last server, before [storage].
    let at = |needle: &str| edited.text.find(needle).unwrap();
    assert!(at("name = \"time\"") > at("tools.deny") && at("name = \"time\"") < at("[storage]"));
    assert!(
        edited
            .text
            .contains("\n\n[[mcp.servers]]\nname = \"time\"\n"),
        "{}",
        edited.text
    );
}

#[test]
fn replacing_a_server_keeps_unchanged_lines_and_secret_values_sent_as_null() {
    let mut new = entry("fs", "npx");
    new.args = vec![
        "-y".into(),
        "@modelcontextprotocol/server-filesystem".into(),
        "/tmp".into(),
    ];
    new.env.insert("NPM_CONFIG_CACHE".into(), None);
    new.env.insert("DEBUG".into(), Some("1".into()));
    let edited = run(
        FILE,
        &ServerEdit::Replace {
            name: "fs".into(),
            entry: new,
        },
    )
    .unwrap();
    assert_kept(&edited.text, &[]);
    let fs = &servers(&edited.text)[0];
    assert_eq!(fs.env["NPM_CONFIG_CACHE"], "/tmp/npm");
    assert_eq!(fs.env["DEBUG"], "1");

    // The HTTP child: header value kept through null, url changed, the deny list kept.
    let mut issues = ServerEntry {
        url: Some("https://mcp.example.com/v2/mcp".into()),
        ..ServerEntry::default()
    };
    issues.headers.insert("Authorization".into(), None);
    let edited = run(
        FILE,
        &ServerEdit::Replace {
            name: "issues".into(),
            entry: issues,
        },
    )
    .unwrap();
    assert!(
        edited.text.contains("Bearer ${EDIT_TEST_TOKEN}"),
        "{}",
        edited.text
    );
    let issues = &servers(&edited.text)[1];
    assert_eq!(
        issues.url.as_deref(),
        Some("https://mcp.example.com/v2/mcp")
    );
    assert_eq!(issues.tools.deny, ["delete_*"]);
    assert_kept(&edited.text, &[]);
}

#[test]
fn replacing_with_null_for_a_variable_that_does_not_exist_is_refused_naming_it() {
    let mut new = entry("fs", "npx");
    new.env.insert("NOPE".into(), None);
    let err = run(
        FILE,
        &ServerEdit::Replace {
            name: "fs".into(),
            entry: new,
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, EditError::Request { field, .. } if field == "env.NOPE"),
        "{err}"
    );
}

#[test]
fn removing_a_server_keeps_the_others_and_their_comments() {
    let edited = run(FILE, &ServerEdit::Remove { name: "fs".into() }).unwrap();
    assert_eq!(names(&edited.text), ["issues"]);
    assert_kept(
        &edited.text,
        &["files", "keep me", "npm cache", "# The children"],
    );
    let edited = run(
        &edited.text,
        &ServerEdit::Remove {
            name: "issues".into(),
        },
    )
    .unwrap();
    assert!(names(&edited.text).is_empty());
    assert!(edited.text.contains("# Fusion, written by hand"));
}

#[test]
fn disabling_and_enabling_sets_the_flag_in_place() {
    let off = |name: &str, enabled| ServerEdit::SetEnabled {
        name: name.into(),
        enabled,
    };
    let edited = run(FILE, &off("fs", false)).unwrap();
    assert!(!servers(&edited.text)[0].enabled);
    assert!(servers(&edited.text)[1].enabled);
    assert_kept(&edited.text, &[]);
    let again = run(&edited.text, &off("fs", true)).unwrap();
    assert!(servers(&again.text)[0].enabled);
    // Enabling an enabled server changes nothing.
    let same = run(FILE, &off("issues", true)).unwrap();
    assert!(!same.changed);
    assert_eq!(same.text, FILE);
}

#[test]
fn reordering_moves_whole_entries_with_their_sub_tables_and_comments() {
    let edited = run(
        FILE,
        &ServerEdit::Reorder {
            names: vec!["issues".into(), "fs".into()],
        },
    )
    .unwrap();
    let before = servers(FILE);
    assert_eq!(
        servers(&edited.text),
        [before[1].clone(), before[0].clone()]
    );
    assert_kept(&edited.text, &[]);
    let at = |needle: &str| edited.text.find(needle).unwrap();
    assert!(
        at("# Issues over HTTP") < at("name = \"fs\""),
        "{}",
        edited.text
    );
    assert!(at("name = \"fs\"") < at("NPM_CONFIG_CACHE"));
    assert!(at("NPM_CONFIG_CACHE") < at("[storage]"));
    // And back: the original text.
    let back = run(
        &edited.text,
        &ServerEdit::Reorder {
            names: vec!["fs".into(), "issues".into()],
        },
    )
    .unwrap();
    assert_eq!(back.text, FILE);
}

#[test]
fn a_reorder_must_name_every_server_exactly_once() {
    for names in [vec!["fs"], vec!["fs", "issues", "fs"], vec!["fs", "nope"]] {
        let names = names.into_iter().map(String::from).collect();
        let err = run(FILE, &ServerEdit::Reorder { names }).unwrap_err();
        assert!(
            matches!(&err, EditError::Request { field, .. } if field == "names"),
            "{err}"
        );
    }
}

#[test]
fn denying_and_allowing_a_tool_edits_the_deny_list() {
    let tool = |name: &str, tool: &str, allowed| ServerEdit::SetTool {
        name: name.into(),
        tool: tool.into(),
        allowed,
    };
    let denied = run(FILE, &tool("fs", "write_file", false)).unwrap();
    assert!(
        denied.text.contains("tools.deny = [\"write_file\"]"),
        "{}",
        denied.text
    );
    assert_eq!(servers(&denied.text)[0].tools.deny, ["write_file"]);
    assert_kept(&denied.text, &[]);
    // Denying it again changes nothing; allowing it removes the list again.
    assert!(
        !run(&denied.text, &tool("fs", "write_file", false))
            .unwrap()
            .changed
    );
    let allowed = run(&denied.text, &tool("fs", "write_file", true)).unwrap();
    assert_eq!(allowed.text, FILE);

    let more = run(FILE, &tool("issues", "close_issue", false)).unwrap();
    assert_eq!(
        servers(&more.text)[1].tools.deny,
        ["delete_*", "close_issue"]
    );
    // A tool a pattern denies cannot be allowed one by one: the pattern is named.
    let err = run(FILE, &tool("issues", "delete_issue", true)).unwrap_err();
    let EditError::Invalid(e) = err else {
        panic!("{err}")
    };
    assert_eq!(e.key, "mcp.servers[1].tools.deny[0]");
    assert!(e.reason.contains("delete_*"), "{e}");
    // Glob characters in a tool name are denied literally.
    let odd = run(FILE, &tool("fs", "get[1]", false)).unwrap();
    let pattern = servers(&odd.text)[0].tools.deny[0].clone();
    assert_eq!(pattern, "get[[]1[]]");
    let glob = globset::Glob::new(&pattern).unwrap().compile_matcher();
    assert!(glob.is_match("get[1]") && !glob.is_match("get1"));
}

#[test]
fn allowing_a_tool_outside_the_allow_list_adds_it_there() {
    let text = "[[mcp.servers]]\nname = \"a\"\ncommand = \"x\"\ntools = { allow = [\"read_*\"] }\n";
    let edited = run(
        text,
        &ServerEdit::SetTool {
            name: "a".into(),
            tool: "list".into(),
            allowed: true,
        },
    )
    .unwrap();
    assert_eq!(servers(&edited.text)[0].tools.allow, ["read_*", "list"]);
}

#[test]
fn an_edit_that_would_not_load_is_refused_with_the_key_and_the_reason() {
    let mut both = entry("both", "npx");
    both.url = Some("http://127.0.0.1:1/mcp".into());
    let EditError::Invalid(e) = run(FILE, &ServerEdit::Add(both)).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.key, "mcp.servers[2].url");
    assert!(e.reason.contains("not both"), "{e}");

    let EditError::Invalid(e) = run(FILE, &add("fs", "other")).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.key, "mcp.servers[2].name");
    assert!(e.reason.contains("duplicate server name `fs`"), "{e}");

    let mut bad = entry("t", "x");
    bad.timeout = Some("soon".into());
    let EditError::Invalid(e) = run(FILE, &ServerEdit::Add(bad)).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.key, "mcp.servers[2].timeout");

    // `${ENV}` is expanded as the loader does: an unset variable is an error.
    let mut unset = entry("u", "x");
    unset
        .env
        .insert("TOKEN".into(), Some("${EDIT_TEST_UNSET}".into()));
    let EditError::Invalid(e) = run(FILE, &ServerEdit::Add(unset)).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.key, "mcp.servers[2].env.TOKEN");
    assert!(e.reason.contains("EDIT_TEST_UNSET"), "{e}");
}

#[test]
fn an_unknown_server_is_named() {
    let err = run(
        FILE,
        &ServerEdit::Remove {
            name: "nope".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err, EditError::UnknownServer("nope".into()));
    let err = run(
        "",
        &ServerEdit::Remove {
            name: "nope".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err, EditError::UnknownServer("nope".into()));
}

#[test]
fn servers_written_as_an_inline_array_are_edited_inline() {
    let text = "[mcp]\nseparator = \"__\"\nservers = [\n  { name = \"a\", command = \"x\" },  # first\n  { name = \"b\", command = \"y\" },\n]\n";
    let added = run(text, &add("c", "z")).unwrap();
    assert_eq!(names(&added.text), ["a", "b", "c"]);
    assert_eq!(added.text.matches("# first").count(), 1, "{}", added.text);
    assert!(
        added.text.contains("\n  { name = \"c\", command = \"z\" }"),
        "{}",
        added.text
    );
    let order = ServerEdit::Reorder {
        names: vec!["c".into(), "a".into(), "b".into()],
    };
    let moved = run(&added.text, &order).unwrap();
    assert_eq!(names(&moved.text), ["c", "a", "b"]);
    let denied = run(
        &moved.text,
        &ServerEdit::SetTool {
            name: "a".into(),
            tool: "t".into(),
            allowed: false,
        },
    )
    .unwrap();
    assert_eq!(servers(&denied.text)[1].tools.deny, ["t"]);
    let off = ServerEdit::SetEnabled {
        name: "b".into(),
        enabled: false,
    };
    let off = run(&denied.text, &off).unwrap();
    assert!(!servers(&off.text)[2].enabled);
    let removed = run(&off.text, &ServerEdit::Remove { name: "c".into() }).unwrap();
    assert_eq!(names(&removed.text), ["a", "b"]);
    // `mcp = { servers = [...] }` at the top level works the same way.
    let top = "mcp = { servers = [{ name = \"a\", command = \"x\" }] }\n";
    assert_eq!(names(&run(top, &add("b", "y")).unwrap().text), ["a", "b"]);
}

#[test]
fn a_file_without_mcp_servers_gets_its_first_one_at_the_end() {
    let text = "# only a comment\n[server]\nlisten = \"127.0.0.1:1\"\n";
    let edited = run(text, &add("a", "x")).unwrap();
    assert_eq!(names(&edited.text), ["a"]);
    assert!(edited.text.starts_with(text), "{}", edited.text);
    assert!(
        edited
            .text
            .ends_with("[[mcp.servers]]\nname = \"a\"\ncommand = \"x\"\n"),
        "{}",
        edited.text
    );
    // An [mcp] table without servers: they go right after it.
    let text = "[mcp]\nmode = \"lazy\"\n\n[storage]\nurl = \"sqlite://x.db\"\n";
    let edited = run(text, &add("a", "x")).unwrap();
    let at = |needle: &str| edited.text.find(needle).unwrap();
    assert!(at("name = \"a\"") < at("[storage]"), "{}", edited.text);
    assert_eq!(names(&edited.text), ["a"]);
    assert_eq!(names(&run("", &add("a", "x")).unwrap().text), ["a"]);
}

#[test]
fn a_pasted_desktop_json_adds_its_servers_with_unique_names() {
    let json = r#"{"mcpServers": {
        "fs": {"command": "npx", "args": ["-y", "server-filesystem"]},
        "remote": {"type": "http", "url": "https://mcp.example.com/mcp", "disabled": true}
    }}"#;
    let edited = run(FILE, &ServerEdit::Import { json: json.into() }).unwrap();
    assert_eq!(names(&edited.text), ["fs", "issues", "fs-2", "remote"]);
    assert_eq!(edited.servers, ["fs-2", "remote"]);
    assert!(!servers(&edited.text)[3].enabled);
    assert_kept(&edited.text, &[]);
    let err = run(
        FILE,
        &ServerEdit::Import {
            json: "{nope".into(),
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, EditError::Request { field, .. } if field == "json"),
        "{err}"
    );
}

#[test]
fn a_refused_edit_leaves_the_files_bytes_and_a_written_one_keeps_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fusion.toml");
    let text = "[[mcp.servers]]\nname = \"a\"   # mine\ncommand = \"x\"\n";
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut both = entry("b", "x");
    both.url = Some("http://127.0.0.1:1/mcp".into());
    let err = edit_mcp_servers(&path, &ServerEdit::Add(both)).unwrap_err();
    assert!(
        matches!(err, EditError::Invalid(ref e) if e.key == "mcp.servers[1].url"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), text.as_bytes());

    let edited = edit_mcp_servers(&path, &add("b", "y")).unwrap();
    assert_eq!(edited.previous, text.as_bytes());
    let now = std::fs::read_to_string(&path).unwrap();
    assert_eq!(now, edited.text);
    assert!(now.starts_with(text));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // No temp file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    write_atomically(&path, &edited.previous).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), text.as_bytes());
}

#[test]
fn the_council_projects_json_files_are_not_edited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local-fusion.config.json");
    std::fs::write(&path, "{\"panel\": []}").unwrap();
    let err = edit_mcp_servers(&path, &add("a", "x")).unwrap_err();
    assert!(matches!(err, EditError::NotEditable(_)), "{err}");
}

#[test]
fn the_view_shows_references_and_names_never_secret_values() {
    let text = "[[mcp.servers]]\nname = \"a\"\ncommand = \"x\"\nargs = [\"--token=${EDIT_TEST_TOKEN}\"]\n\
                env = { SECRET = \"tok-secret\" }\n[[mcp.servers]]\nname = \"b\"\n\
                url = \"https://user:pw@example.com/mcp\"\nheaders = { Authorization = \"${EDIT_TEST_TOKEN}\" }\n";
    let (config, _) = load::parse_text(text, Path::new("fusion.toml"), &env).unwrap();
    let views = server_views(&config);
    let shown = serde_json::to_string(&views).unwrap();
    assert!(
        !shown.contains("tok-secret") && !shown.contains("pw@"),
        "{shown}"
    );
    assert_eq!(views[0].args, ["--token=${EDIT_TEST_TOKEN}"]);
    assert_eq!(views[0].env_keys, ["SECRET"]);
    assert_eq!(views[1].transport, "http");
    assert_eq!(
        views[1].url.as_deref(),
        Some("https://user:****@example.com/mcp")
    );
    assert_eq!(views[1].header_keys, ["Authorization"]);
    // Sending the masked url back keeps the real one.
    let keep = ServerEdit::Replace {
        name: "b".into(),
        entry: ServerEntry {
            url: views[1].url.clone(),
            headers: [("Authorization".to_owned(), None)].into(),
            ..ServerEntry::default()
        },
    };
    let edited = run(text, &keep).unwrap();
    assert!(!edited.changed, "{}", edited.text);
}

#[test]
fn sending_back_what_the_view_shows_changes_nothing() {
    let (config, _) = load::parse_text(FILE, Path::new("fusion.toml"), &env).unwrap();
    for view in server_views(&config) {
        let keep = |keys: &[String]| keys.iter().map(|k| (k.clone(), None)).collect();
        let entry = ServerEntry {
            name: Some(view.name.clone()),
            command: view.command.clone(),
            args: view.args.clone(),
            env: keep(&view.env_keys),
            cwd: view.cwd.clone(),
            url: view.url.clone(),
            headers: keep(&view.header_keys),
            enabled: Some(view.enabled),
            tools: None,
            timeout: Some(view.timeout.clone()),
        };
        let replace = ServerEdit::Replace {
            name: view.name.clone(),
            entry,
        };
        let edited = run(FILE, &replace).unwrap();
        assert!(!edited.changed, "{}: {}", view.name, edited.text);
    }
}
