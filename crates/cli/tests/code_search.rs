//! Code search end to end through the real binary: `fusion index` then `fusion search --json`
//! (and their errors), and `fusion mcp` driven by the official MCP Python SDK
//! (`clients/code_search_client.py`): `code_index` with progress, `code_search`, the
//! `retriv_init`/`retriv_search` aliases with the replaced server's argument names, filters and
//! errors. The index lives in a temp dir through FUSION_DATA_DIR. The Python client comes from
//! `scripts/install-peers.sh`; a missing one fails the test, it is never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{FUSION, Harness, healthy_script, peer_command, run_fusion};
use serde_json::Value;

/// A small repository: several languages and naming styles, and an ignored directory.
fn fixture(dir: &Path) {
    let files = [
        (".gitignore", "build/\n"),
        (
            "src/config.rs",
            "pub fn parse_config(path: &str) -> Config {\n    todo()\n}\n",
        ),
        (
            "web/client.ts",
            "export function parseConfig(text: string) {}\n",
        ),
        (
            "app/loader.py",
            "class ConfigLoader:\n    def load(self):\n        pass\n",
        ),
        ("docs/guide.md", "Run `parse-config` first.\n"),
        ("build/out.rs", "fn parse_config_generated() {}\n"),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn hit_paths(results: &Value) -> Vec<String> {
    let mut paths: Vec<String> = results["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap().to_owned())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_index_then_search_json_finds_code_across_naming_styles() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    fixture(&repo);
    let data = work.path().join("data");
    let env = [("FUSION_DATA_DIR", data.to_str().unwrap())];
    let repo_arg = repo.to_str().unwrap();

    let indexed = run_fusion(work.path(), &["index", repo_arg, "--json"], None, &env).await;
    assert_eq!(indexed.code, 0, "{}", indexed.stderr);
    let report = indexed.json();
    assert_eq!(report["files_indexed"], 4, "{report}");
    assert!(
        report["index_dir"]
            .as_str()
            .unwrap()
            .starts_with(data.join("fusion/code-index").to_str().unwrap()),
        "{report}"
    );

    // From inside the repository, no --root needed.
    let found = run_fusion(
        &repo.join("src"),
        &["search", "parseConfig", "--json"],
        None,
        &env,
    )
    .await;
    assert_eq!(found.code, 0, "{}", found.stderr);
    let results = found.json();
    assert_eq!(
        hit_paths(&results),
        ["src/config.rs"],
        "a subdirectory searches only itself"
    );

    let found = run_fusion(
        work.path(),
        &["search", "parseConfig", "--json", "--root", repo_arg],
        None,
        &env,
    )
    .await;
    assert_eq!(found.code, 0, "{}", found.stderr);
    let results = found.json();
    assert_eq!(
        hit_paths(&results),
        [
            "app/loader.py",
            "docs/guide.md",
            "src/config.rs",
            "web/client.ts"
        ]
    );
    let hit = &results["hits"][0];
    for key in [
        "path",
        "language",
        "start_line",
        "end_line",
        "score",
        "snippet",
    ] {
        assert!(hit.get(key).is_some(), "{key} missing: {hit}");
    }
    let line = &hit["snippet"][0];
    let text = line["text"].as_str().unwrap();
    assert!(!text.contains("\x1b["), "no ANSI codes in JSON: {text:?}");
    let first = &line["matches"][0];
    assert!(first["end"].as_u64() > first["start"].as_u64(), "{line}");

    let python = run_fusion(
        work.path(),
        &[
            "search", "config", "--root", repo_arg, "--lang", "py", "--json",
        ],
        None,
        &env,
    )
    .await;
    assert_eq!(hit_paths(&python.json()), ["app/loader.py"]);

    // Human output, not a terminal: plain lines, no ANSI codes.
    let plain = run_fusion(
        work.path(),
        &["search", "parse_config", "--root", repo_arg],
        None,
        &env,
    )
    .await;
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(
        plain.stdout.contains("src/config.rs:1-3"),
        "{}",
        plain.stdout
    );
    assert!(!plain.stdout.contains('\x1b'));

    let none = run_fusion(
        work.path(),
        &["search", "zzqqxxyy", "--root", repo_arg],
        None,
        &env,
    )
    .await;
    assert_eq!(none.code, 1, "no match exits 1: {}", none.stderr);

    let again = run_fusion(work.path(), &["index", repo_arg], None, &env).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("0 indexed, 4 unchanged"),
        "{}",
        again.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_index_and_search_answer_bad_input_with_clear_errors() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let env = [("FUSION_DATA_DIR", data.to_str().unwrap())];
    let missing = run_fusion(work.path(), &["index", "no/such/dir"], None, &env).await;
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no/such/dir: no such directory"),
        "{}",
        missing.stderr
    );

    let unindexed = run_fusion(work.path(), &["search", "anything"], None, &env).await;
    assert_eq!(unindexed.code, 2);
    assert!(
        unindexed.stderr.contains("fusion index"),
        "{}",
        unindexed.stderr
    );

    let repo = work.path().join("repo");
    fixture(&repo);
    let repo_arg = repo.to_str().unwrap();
    let bad = run_fusion(
        work.path(),
        &["index", repo_arg, "--chunk-lines", "5", "--overlap", "5"],
        None,
        &env,
    )
    .await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("overlap"), "{}", bad.stderr);
    assert_eq!(
        run_fusion(work.path(), &["index", repo_arg], None, &env)
            .await
            .code,
        0
    );
    let empty = run_fusion(
        work.path(),
        &["search", " -- ", "--root", repo_arg],
        None,
        &env,
    )
    .await;
    assert_eq!(empty.code, 2);
    assert!(
        empty.stderr.contains("no searchable words"),
        "{}",
        empty.stderr
    );
}

/// Runs the Python client against `fusion mcp --config <standard config> MCP_ARGS` on a fresh
/// fixture repository; its stdout is one JSON object.
async fn python_client(scenario: &str, mcp_args: &[&str]) -> Value {
    let h = Harness::start(healthy_script()).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let repo = h.dir.path().join("repo");
    fixture(&repo);
    let data = h.dir.path().join("data");
    let mut cmd = peer_command("FUSION_PEERS_PYTHON", h.dir.path());
    cmd.arg(common::test_client("code_search_client.py"))
        .args(["--command", FUSION])
        .args([
            "--arg",
            "mcp",
            "--arg",
            "--config",
            "--arg",
            config.to_str().unwrap(),
        ])
        .args(mcp_args.iter().flat_map(|a| ["--arg", *a]))
        .args(["--root", repo.to_str().unwrap(), "--scenario", scenario])
        .current_dir(h.dir.path())
        .env("FUSION_DATA_DIR", &data);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the Python client finishes within 120 s")
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the client failed ({}):\n{stderr}",
        out.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{stdout}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_mcp_client_indexes_and_searches_through_fusion_mcp() {
    let seen = python_client("tools", &[]).await;

    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"code_index") && tools.contains(&"code_search"),
        "{tools:?}"
    );
    assert!(
        !tools.contains(&"retriv_init"),
        "aliases are accepted, not listed: {tools:?}"
    );

    let index = &seen["index"];
    assert_eq!(index["is_error"], false, "{index}");
    assert_eq!(
        index["structured"]["reports"][0]["files_indexed"], 4,
        "{index}"
    );
    assert!(
        index["text"].as_str().unwrap().contains("4 indexed"),
        "{index}"
    );
    let progress = index["progress"].as_array().unwrap();
    assert!(
        !progress.is_empty(),
        "progress notifications arrive: {index}"
    );
    let last = progress.last().unwrap();
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("writing the index"),
        "{last}"
    );
    let steps: Vec<f64> = progress
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(
        steps.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {steps:?}"
    );

    let search = &seen["search"];
    assert_eq!(search["is_error"], false, "{search}");
    assert_eq!(
        hit_paths(&search["structured"]),
        [
            "app/loader.py",
            "docs/guide.md",
            "src/config.rs",
            "web/client.ts"
        ],
        "the indexed root is the default: {search}"
    );
    assert!(
        search["text"]
            .as_str()
            .unwrap()
            .contains("web/client.ts:1-1"),
        "{search}"
    );

    let alias = &seen["alias_index"];
    assert_eq!(alias["is_error"], false, "{alias}");
    let report = &alias["structured"]["reports"][0];
    assert_eq!(report["rebuilt"], "forced", "{alias}");
    assert_eq!(report["settings"]["chunk_lines"], 30);
    assert_eq!(report["files_indexed"], 3, "*.md excluded: {alias}");
    let alias_search = &seen["alias_search"];
    assert_eq!(alias_search["is_error"], false, "{alias_search}");
    let hits = alias_search["structured"]["hits"].as_array().unwrap();
    assert!(hits.len() <= 3 && !hits.is_empty(), "{alias_search}");
    assert_eq!(hits[0]["path"], "src/config.rs", "{alias_search}");
    assert!(hits[0]["root"].is_string());

    assert_eq!(
        hit_paths(&seen["filtered"]["structured"]),
        ["app/loader.py"]
    );

    let errors = &seen["errors"];
    for (case, needle) in [
        ("empty_query", "no searchable words"),
        ("missing_dir", "no such directory"),
        ("unindexed", "call `code_index`"),
        ("bad_argument", "top_k"),
    ] {
        let answer = &errors[case];
        assert_eq!(answer["is_error"], true, "{case}: {answer}");
        assert!(
            answer["text"].as_str().unwrap().contains(needle),
            "{case}: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reindex_every_picks_up_a_new_file_without_another_code_index_call() {
    let seen = python_client("reindex", &["--reindex-every", "1s"]).await;
    assert_eq!(seen["index"]["is_error"], false, "{seen}");
    assert_eq!(
        seen["found"], true,
        "the background run indexed src/fresh.rs: {seen}"
    );
    assert_eq!(seen["hits"][0]["path"], "src/fresh.rs");
}
