//! End-to-end, against the real `fusion` binary: the safe defaults. Secrets never shown in
//! clear by `fusion config check`; the store private to the user; `fusion serve` refusing to
//! start open by mistake (an unset key variable, a guessable key beyond loopback); numeric
//! knobs bounded; the OpenAI error for broken JSON naming no made-up field.
//! (The MCP wire checks — JSON-RPC error codes and ids — live in `mcp_wire.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{FusionServer, Harness, Run, healthy_script};

/// A secret that must never be printed, in any of the places a config can hold one.
const SECRET: &str = "tok-e2e-never-shown-5c1f";

/// `fusion ARGS` in the harness dir with `env`, given at most 60 s (a server that starts
/// when it should have refused would otherwise run for ever).
async fn fusion_exits(h: &Harness, args: &[&str], env: &[(&str, &str)]) -> Run {
    tokio::time::timeout(Duration::from_secs(60), h.fusion_with(args, None, env))
        .await
        .unwrap_or_else(|_| panic!("`fusion {}` did not exit within 60 s", args.join(" ")))
}

#[tokio::test(flavor = "multi_thread")]
async fn config_check_shows_env_references_and_masks_every_header_env_and_arg_secret() {
    let h = Harness::start(healthy_script()).await;
    let text = format!(
        r#"{}
[[mcp.servers]]
name = "fs"
command = "mcp-fs"
args = ["--root", "/src", "--token=${{ISSUES_TOKEN}}"]
env = {{ FS_TOKEN = "${{ISSUES_TOKEN}}", FS_LITERAL = "literal-secret-value" }}

[[mcp.servers]]
name = "issues"
url = "https://mcp.example.com/mcp"
headers = {{ Authorization = "Bearer ${{ISSUES_TOKEN}}" }}
"#,
        h.standard_config(
            "headers = { Authorization = \"Bearer ${ISSUES_TOKEN}\", X-Team = \"core-team\" }",
            ""
        )
    );
    let config = h.write_config("fusion.toml", &text);
    let run = fusion_exits(
        &h,
        &["config", "check", "--config", config.to_str().unwrap()],
        &[("ISSUES_TOKEN", SECRET)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for leaked in [SECRET, "literal-secret-value", "core-team"] {
        assert!(
            !run.stdout.contains(leaked) && !run.stderr.contains(leaked),
            "`{leaked}` is shown in clear:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
    let out = &run.stdout;
    assert_eq!(
        out.matches("Authorization = \"Bearer ${ISSUES_TOKEN}\"")
            .count(),
        2,
        "the provider's and the MCP server's header show the reference:\n{out}"
    );
    assert!(out.contains("\"--token=${ISSUES_TOKEN}\""), "{out}");
    assert!(
        out.contains("\"--root\""),
        "plain args stay visible:\n{out}"
    );
    assert!(out.contains("FS_TOKEN = \"${ISSUES_TOKEN}\""), "{out}");
    assert!(out.contains("FS_LITERAL = \"****"), "{out}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_store_of_prompts_and_answers_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::start(healthy_script()).await;
    let data = h.dir.path().join("data");
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let run = fusion_exits(
        &h,
        &["ask", "--config", config.to_str().unwrap(), "Q?"],
        &[("FUSION_DATA_DIR", data.to_str().unwrap())],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = data.join("fusion");
    assert_eq!(mode(&dir), 0o700, "the data dir Fusion creates");
    let db = dir.join("fusion.db");
    assert_eq!(mode(&db), 0o600, "the store file");
    for companion in ["fusion.db-wal", "fusion.db-shm"] {
        let path = dir.join(companion);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{companion}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_to_start_when_an_api_keys_env_variable_is_unset() {
    let h = Harness::start(healthy_script()).await;
    let text = format!(
        "[server]\napi_keys_env = [\"FUSION_E2E_UNSET_KEY\"]\n\n{}",
        h.standard_config("", "")
    );
    let config = h.write_config("fusion.toml", &text);
    let run = fusion_exits(
        &h,
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("FUSION_E2E_UNSET_KEY"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "it must not have started listening");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_a_guessable_key_beyond_loopback_before_binding() {
    let h = Harness::start(healthy_script()).await;
    let text = format!(
        "[server]\napi_keys_env = [\"FUSION_E2E_KEY\"]\n\n{}",
        h.standard_config("", "")
    );
    let config = h.write_config("fusion.toml", &text);
    // 192.0.2.1 (TEST-NET-1) is not loopback and is on no interface here: even a binary that
    // wrongly went on to bind could not listen on it.
    let run = fusion_exits(
        &h,
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "192.0.2.1:0",
        ],
        &[("FUSION_E2E_KEY", "k")],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("FUSION_E2E_KEY") && run.stderr.contains("at least 16 characters"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("cannot listen"),
        "refused before binding: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_range_retries_and_body_limit_are_rejected_naming_the_key() {
    let h = Harness::start(healthy_script()).await;
    let cases = [
        (
            h.standard_config("", "")
                .replace("retries = 0", "retries = 4000000000"),
            "providers[0].retries",
        ),
        (
            format!(
                "[server]\nmax_body_bytes = 0\n\n{}",
                h.standard_config("", "")
            ),
            "server.max_body_bytes",
        ),
    ];
    for (text, key) in cases {
        let config = h.write_config("fusion.toml", &text);
        let run = fusion_exits(
            &h,
            &["config", "check", "--config", config.to_str().unwrap()],
            &[],
        )
        .await;
        assert_eq!(run.code, 2, "{key}: {}", run.stderr);
        assert!(
            run.stderr.contains("fusion.toml")
                && run.stderr.contains(key)
                && run.stderr.contains("out of range"),
            "{key}: {}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_error_for_broken_json_has_a_null_param() {
    let h = Harness::start(healthy_script()).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let server = FusionServer::with_config(h.dir.path(), &config).await;
    let client = reqwest::Client::new();
    for body in ["{oops}", "{\"model\": \"m-a\", \"messages\": [", "not json"] {
        let response = client
            .post(format!("{}/v1/chat/completions", server.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            error["error"]["param"],
            serde_json::Value::Null,
            "{body}: {error}"
        );
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not valid JSON"),
            "{error}"
        );
    }
    server.stop().await;
}

/// No test may touch the user's own config or store: every `fusion` a test starts goes through
/// `common::fusion_command` or, when a peer starts it, `common::peer_command` (both root it at
/// the test's temp dir). This reads the test sources and names any file that starts `fusion`
/// some other way.
#[test]
fn every_fusion_a_test_starts_is_rooted_in_a_temp_dir_never_the_users_own() {
    let tests = common::crate_dir().join("tests");
    let mut files = Vec::new();
    let mut dirs = vec![tests.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let harness = tests.join("common/mod.rs");
    // Spelled in pieces so that this file does not match itself.
    let binary = concat!("CARGO_BIN_EXE_", "fusion");
    let bare_command = concat!("Command::new(", "peer(");
    let mut offenders = Vec::new();
    for path in &files {
        if *path == harness {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let names = |what: &str| text.contains(what);
        let starts_fusion_bare = [
            concat!("Command::new(", "FUSION"),
            concat!("Command::new(", "common::FUSION"),
        ]
        .iter()
        .any(|s| names(s));
        // A file that hands the binary (`common::FUSION`) to a peer it starts with a bare
        // command, and never through `peer_command`, lets that `fusion` use the user's dirs.
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let uses_the_binary = text.match_indices("FUSION").any(|(at, _)| {
            !word(text[..at].chars().next_back()) && !word(text[at + 6..].chars().next())
        });
        let bare_peer = uses_the_binary && names(bare_command) && !names("peer_command(");
        if names(binary) || starts_fusion_bare || bare_peer {
            offenders.push(path.strip_prefix(&tests).unwrap().display().to_string());
        }
    }
    assert!(files.len() > 20, "read the test sources: {files:?}");
    assert!(
        offenders.is_empty(),
        "these tests start `fusion` outside common::fusion_command/peer_command, where it may \
         use the user's own config and store: {offenders:?}"
    );
}
