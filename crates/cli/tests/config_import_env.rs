//! End-to-end, against the real `fusion` binary: `fusion config import` turns the replaced
//! router's (LocalLama MCP's) `.env` into a fusion.toml that `fusion config check` accepts,
//! lists on stderr what has no equivalent, refuses malformed files with the line, and writes
//! `--output` only over an existing file when told to (`--force`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{Run, run_fusion};

/// The `.env` block of the replaced server's README, verbatim (shared with the unit tests).
const SEED: &str = include_str!("../../core/src/config/env_import/locallama.env");

/// The seed's keys Fusion has no equivalent for.
const UNMAPPED: [&str; 15] = [
    "CODE_SEARCH_ENABLED",
    "CODE_SEARCH_EXCLUDE_PATTERNS",
    "CODE_SEARCH_INDEX_ON_START",
    "CODE_SEARCH_REINDEX_INTERVAL",
    "BENCHMARK_RUNS_PER_TASK",
    "BENCHMARK_PARALLEL",
    "BENCHMARK_MAX_PARALLEL_TASKS",
    "BENCHMARK_TASK_TIMEOUT",
    "BENCHMARK_SAVE_RESULTS",
    "BENCHMARK_RESULTS_PATH",
    "MIN_VALIDATOR_SCORE",
    "VALIDATION_RETRY_BUDGET",
    "LOCK_FILE_CHECK_ACTIVE_PROCESS",
    "REMOVE_STALE_LOCK_FILES",
    "LOG_LEVEL",
];

async fn fusion(dir: &Path, args: &[&str]) -> Run {
    run_fusion(dir, args, None, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_env_becomes_a_config_that_fusion_config_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), SEED).unwrap();
    let run = fusion(dir.path(), &["config", "import", ".env"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let parsed: toml::Table = run
        .stdout
        .parse()
        .unwrap_or_else(|e| panic!("{e}\n{}", run.stdout));
    let providers = parsed["providers"].as_array().unwrap();
    let names: Vec<&str> = providers
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lmstudio", "ollama", "openrouter"]);
    assert_eq!(
        providers[1]["base_url"].as_str(),
        Some("http://localhost:11434/v1")
    );
    assert_eq!(
        providers[2]["api_key_env"].as_str(),
        Some("OPENROUTER_API_KEY")
    );
    assert!(
        !run.stdout.contains("your_openrouter_api_key_here"),
        "{}",
        run.stdout
    );
    assert_eq!(parsed["router"]["token_threshold"].as_integer(), Some(1500));
    assert_eq!(parsed["tasks"]["remote_slots"].as_integer(), Some(5));

    for key in UNMAPPED {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(&format!("{key}: no equivalent in Fusion ("))),
            "{key} is not reported:\n{}",
            run.stderr
        );
    }
    let reported = run.stderr.matches("no equivalent in Fusion").count();
    assert_eq!(reported, UNMAPPED.len(), "{}", run.stderr);
    assert!(run.stderr.contains(".env:38: LOG_LEVEL"), "{}", run.stderr);
    assert!(
        run.stderr.contains("export OPENROUTER_API_KEY="),
        "{}",
        run.stderr
    );

    std::fs::write(dir.path().join("fusion.toml"), &run.stdout).unwrap();
    let check = fusion(dir.path(), &["config", "check", "--config", "fusion.toml"]).await;
    assert_eq!(check.code, 0, "{}\n{}", check.stderr, run.stdout);
    assert!(check.stderr.contains("config OK"), "{}", check.stderr);
    assert!(
        check.stdout.contains("qwen2.5-coder-3b-instruct"),
        "{}",
        check.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_line_exits_2_naming_the_line_and_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# router\nTOKEN_THRESHOLD=1500\nOPENROUTER_API_KEY=\"sk-or-unclosed\n",
    )
    .unwrap();
    let run = fusion(dir.path(), &["config", "import", ".env"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(".env: line 3: OPENROUTER_API_KEY"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("sk-or-unclosed"), "{}", run.stderr);
    assert_eq!(run.stdout, "");

    let missing = fusion(dir.path(), &["config", "import", "no-such.env"]).await;
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("cannot read no-such.env"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_is_written_once_and_overwritten_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), SEED).unwrap();
    let target = dir.path().join("fusion.toml");
    let first = fusion(
        dir.path(),
        &["config", "import", ".env", "--output", "fusion.toml"],
    )
    .await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout, "");
    assert!(
        first.stderr.contains("wrote fusion.toml"),
        "{}",
        first.stderr
    );
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.contains("[[providers]]"), "{written}");

    std::fs::write(&target, "# mine\n").unwrap();
    let refused = fusion(
        dir.path(),
        &["config", "import", ".env", "-o", "fusion.toml"],
    )
    .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "# mine\n");

    let forced = fusion(
        dir.path(),
        &["config", "import", ".env", "-o", "fusion.toml", "--force"],
    )
    .await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), written);
}

#[tokio::test(flavor = "multi_thread")]
async fn help_explains_what_the_import_maps() {
    let dir = tempfile::tempdir().unwrap();
    let run = fusion(dir.path(), &["config", "import", "--help"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for needle in [
        "LocalLama MCP",
        "OLLAMA_ENDPOINT",
        "--output",
        "--force",
        "no equivalent",
    ] {
        assert!(
            run.stdout.contains(needle),
            "`{needle}` missing:\n{}",
            run.stdout
        );
    }
}
