//! `fusion mcp status` and `fusion mcp import` against the real binary: the status of real
//! children (one ready, one that cannot start) and the import of a desktop client's
//! `mcpServers` file, printed or merged into `fusion.toml` without losing what was there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Harness, healthy_script, peer};
use serde_json::Value;

#[tokio::test]
async fn status_reports_each_child_and_exits_1_when_one_is_not_ready() {
    let h = Harness::start(healthy_script()).await;
    let config = format!(
        "{}\n[mcp]\nstartup_timeout = \"5s\"\n[[mcp.servers]]\nname = \"time\"\ncommand = \"{}\"\n\
         args = [\"--local-timezone\", \"UTC\"]\n[[mcp.servers]]\nname = \"ghost\"\ncommand = \"{}\"\n",
        h.standard_config("", ""),
        peer("FUSION_MCP_TIME"),
        h.dir.path().join("missing").display()
    );
    let path = h.write_config("fusion.toml", &config);
    let run = h
        .fusion(&[
            "mcp",
            "status",
            "--json",
            "--config",
            path.to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let time = &report["servers"][0];
    assert_eq!(time["name"], "time");
    assert_eq!(time["state"], "ready", "{report}");
    assert_eq!(time["tools"], 2, "{report}");
    assert_eq!(time["transport"], "stdio");
    let ghost = &report["servers"][1];
    assert_ne!(ghost["state"], "ready");
    assert!(
        ghost["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot start"),
        "{report}"
    );

    let table = h
        .fusion(&["mcp", "status", "--config", path.to_str().unwrap()])
        .await;
    assert!(table.stdout.starts_with("name"), "{}", table.stdout);
    assert!(table.stdout.contains("ghost"));
}

const DESKTOP: &str = r#"{
  "mcpServers": {
    "filesystem": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"] },
    "my tools": { "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer ${env:TOOLS_TOKEN}" } },
    "old": { "command": "old-server", "disabled": true }
  }
}"#;

#[tokio::test]
async fn import_prints_mcp_servers_as_toml_with_warnings_on_stderr() {
    let h = Harness::start(healthy_script()).await;
    let file = h.write_config("claude_desktop_config.json", DESKTOP);
    let run = h.fusion(&["mcp", "import", file.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let parsed: toml::Table = run.stdout.parse().unwrap();
    let servers = parsed["mcp"]["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
    assert_eq!(servers[0]["name"].as_str(), Some("filesystem"));
    assert_eq!(servers[1]["name"].as_str(), Some("my-tools"));
    assert_eq!(
        servers[1]["headers"]["Authorization"].as_str(),
        Some("Bearer ${TOOLS_TOKEN}")
    );
    assert_eq!(servers[2]["enabled"].as_bool(), Some(false));
    assert!(
        run.stderr.contains("my tools"),
        "the rename is reported: {}",
        run.stderr
    );
}

#[tokio::test]
async fn import_write_merges_into_the_config_and_keeps_it_valid() {
    let h = Harness::start(healthy_script()).await;
    let before = h.standard_config("", "");
    let config = h.write_config("fusion.toml", &before);
    let file = h.write_config("mcp.json", DESKTOP);
    let run = h
        .fusion(&[
            "mcp",
            "import",
            file.to_str().unwrap(),
            "--write",
            "--config",
            config.to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(
        after.starts_with(&before),
        "the old config is kept as it was"
    );
    let check = h
        .fusion_with(
            &["config", "check", "--config", config.to_str().unwrap()],
            None,
            &[("TOOLS_TOKEN", "t")],
        )
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stdout.contains("filesystem"), "{}", check.stdout);

    // Importing again: names are de-duplicated, never overwritten.
    let again = h
        .fusion(&[
            "mcp",
            "import",
            file.to_str().unwrap(),
            "--write",
            "--config",
            config.to_str().unwrap(),
        ])
        .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    let twice = std::fs::read_to_string(&config).unwrap();
    assert!(twice.contains("filesystem-2"), "{twice}");
}

#[tokio::test]
async fn import_of_a_broken_file_names_the_json_path_and_changes_nothing() {
    let h = Harness::start(healthy_script()).await;
    let before = h.standard_config("", "");
    let config = h.write_config("fusion.toml", &before);
    let file = h.write_config(
        "bad.json",
        r#"{"mcpServers": {"x": {"command": "a", "args": ["ok", 5]}}}"#,
    );
    let run = h
        .fusion(&[
            "mcp",
            "import",
            file.to_str().unwrap(),
            "--write",
            "--config",
            config.to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("mcpServers.x.args[1]"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
}
