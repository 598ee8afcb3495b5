//! `fusion bench report` through the real binary, over a store seeded with benchmark runs:
//! report.md, report.json and charts/*.svg written (in ./fusion-bench-report by default), the
//! files and the summary table printed; `--run` and `--since` choose the runs; a store with no
//! results is exit 1, a bad `--since` or an unknown run exit 2; and a report after a real
//! `fusion bench` against mock-provider.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{Run, run_fusion};
use fusion_core::store::{BenchResultRow, BenchRunRow, Store, now_ms};

const DAY_MS: i64 = 86_400_000;

/// A config whose store is `dir/bench.db` (the provider is never called).
fn config(dir: &Path) -> String {
    format!(
        r#"[storage]
url = "sqlite://{}/bench.db"

[[providers]]
name = "here"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "m-good"
provider = "here"

[[models]]
id = "m-bad"
provider = "here"
"#,
        dir.display()
    )
}

async fn open(dir: &Path) -> Store {
    Store::open(Some(&format!("sqlite://{}/bench.db", dir.display())))
        .await
        .unwrap()
}

async fn seed_run(store: &Store, id: &str, suites: &str, created_ms: i64) {
    store
        .insert_bench_run(&BenchRunRow {
            id: id.into(),
            suites: suites.into(),
            spec: serde_json::json!({"models": ["m-good", "m-bad"]}),
            status: "completed".into(),
            created_ms,
            finished_ms: Some(created_ms + 60_000),
        })
        .await
        .unwrap();
}

/// `m-good` answers every code and reasoning task right at a price; `m-bad` (free) gets code
/// wrong and reasoning half right.
async fn seed_results(store: &Store, run: &str, suite: &str, created_ms: i64) {
    for i in 0..4 {
        for (category, model, score, cost) in [
            ("code", "m-good", 1.0, 0.002),
            ("code", "m-bad", 0.0, 0.0),
            ("reasoning", "m-good", 1.0, 0.004),
            (
                "reasoning",
                "m-bad",
                if i % 2 == 0 { 1.0 } else { 0.0 },
                0.0,
            ),
        ] {
            let row = BenchResultRow {
                run_id: run.into(),
                task_id: format!("{category}-{i}"),
                model: model.into(),
                attempt: 1,
                suite: suite.into(),
                category: category.into(),
                score,
                latency_ms: 300 + 100 * i,
                output_tokens: 60,
                cost_usd: cost,
                error: None,
                detail: None,
                created_ms,
            };
            assert!(store.put_bench_result(&row).await.unwrap());
        }
    }
}

/// A temp dir with the config and a store holding `runs` (id, days ago) of the built-in suite.
async fn seeded(runs: &[(&str, i64)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fusion.toml"), config(dir.path())).unwrap();
    let store = open(dir.path()).await;
    for (id, days_ago) in runs {
        let created = now_ms() - days_ago * DAY_MS;
        seed_run(&store, id, "builtin", created).await;
        seed_results(&store, id, "builtin", created).await;
    }
    store.close().await;
    dir
}

async fn report(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--config", "fusion.toml", "bench", "report"];
    all.extend_from_slice(args);
    run_fusion(dir, &all, None, &[]).await
}

#[tokio::test]
async fn the_report_writes_markdown_json_and_charts_into_the_default_dir_and_prints_the_table() {
    let dir = seeded(&[("run-old", 10), ("run-new", 1)]).await;
    let run = report(dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.path().join("fusion-bench-report");
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    for line in [
        "## code",
        "## reasoning",
        "| m-good | 8 | 1.00 (",
        "| m-bad | 8 | 0.00 (",
        "- Best by quality: **m-good**",
        "(charts/quality-cost-code.svg)",
        "(charts/quality-over-time-code.svg)",
        "| `run-old` |",
        "| `run-new` |",
    ] {
        assert!(markdown.contains(line), "no `{line}` in:\n{markdown}");
    }
    // m-bad is free and right on half the reasoning tasks: the most quality per dollar.
    assert!(markdown.contains("- Best by quality per dollar: **m-bad** — quality 0.50"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    assert_eq!(json["categories"][0]["category"], "code");
    assert_eq!(json["categories"][0]["models"][0]["model"], "m-good");
    assert_eq!(json["categories"][0]["models"][0]["n"], 8);
    for chart in [
        "quality-cost-code.svg",
        "quality-cost-reasoning.svg",
        "quality-over-time-code.svg",
        "quality-over-time-reasoning.svg",
    ] {
        let svg = std::fs::read_to_string(out.join("charts").join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
        assert!(svg.contains("m-good") && svg.contains("m-bad"), "{chart}");
        assert!(svg.trim_end().ends_with("</svg>"), "{chart}");
    }
    assert!(
        run.stdout.contains("wrote fusion-bench-report/report.md"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("fusion-bench-report/charts/quality-cost-code.svg")
    );
    let table: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("code ") || l.starts_with("reasoning "))
        .collect();
    assert_eq!(table.len(), 4, "{}", run.stdout);
    assert!(table[0].contains("m-good") && table[0].contains("1.00 ("));
}

#[tokio::test]
async fn run_and_since_choose_the_runs_and_out_names_the_directory() {
    let dir = seeded(&[("run-old", 10), ("run-new", 1)]).await;
    let run = report(dir.path(), &["--run", "run-old", "--out", "only-old"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("only-old/report.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<&str> = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["run-old"]);
    assert!(
        !dir.path()
            .join("only-old/charts/quality-over-time-code.svg")
            .exists(),
        "one run has no chart over time"
    );

    let run = report(dir.path(), &["--since", "7d", "--out", "week"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let markdown = std::fs::read_to_string(dir.path().join("week/report.md")).unwrap();
    assert!(markdown.contains("`run-new`") && !markdown.contains("`run-old`"));

    let run = report(dir.path(), &["--since", "1h"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("no benchmark results"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn council_eval_runs_are_left_out_unless_named() {
    let dir = seeded(&[("bench-1", 1)]).await;
    let store = open(dir.path()).await;
    let created = now_ms();
    seed_run(&store, "eval-1", "eval:council", created).await;
    seed_results(&store, "eval-1", "eval:council", created).await;
    store.close().await;
    let run = report(dir.path(), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let markdown =
        std::fs::read_to_string(dir.path().join("fusion-bench-report/report.md")).unwrap();
    assert!(markdown.contains("`bench-1`") && !markdown.contains("`eval-1`"));
    let run = report(dir.path(), &["--run", "eval-1"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let markdown =
        std::fs::read_to_string(dir.path().join("fusion-bench-report/report.md")).unwrap();
    assert!(markdown.contains("`eval-1`"), "{markdown}");
}

#[tokio::test]
async fn a_store_without_results_says_so_and_exits_1() {
    let dir = seeded(&[]).await;
    let run = report(dir.path(), &[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "no benchmark results in the store (0 runs looked at); run `fusion bench` first"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert!(!dir.path().join("fusion-bench-report").exists());
}

#[tokio::test]
async fn a_bad_since_or_an_unknown_run_exits_2_naming_it() {
    let dir = seeded(&[("run-1", 1)]).await;
    let run = report(dir.path(), &["--since", "seven days"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("seven days"), "{}", run.stderr);
    assert!(run.stderr.contains("24h or 7d"), "{}", run.stderr);
    let run = report(dir.path(), &["--run", "no-such-run"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no benchmark run `no-such-run`"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_report_after_fusion_bench_has_every_benchmarked_model() {
    use fusion_mock_provider::{ModelScript, Script};
    let script = Script::default()
        .with_model(
            "m-right",
            ModelScript::by_prompt_contains([
                ("Pencils come in packs", "84 - 78 = 6\nAnswer: 6"),
                ("A train leaves at 09:40", "Answer: 215"),
            ]),
        )
        .with_model("m-wrong", ModelScript::fixed("Answer: -1"));
    let harness = common::Harness::start(script).await;
    let config = format!(
        r#"[[providers]]
name = "mock"
kind = "openai"
base_url = "{}"
timeout = "3s"
retries = 0

[[models]]
id = "m-right"
provider = "mock"

[[models]]
id = "m-wrong"
provider = "mock"
"#,
        harness.mock.base_url()
    );
    harness.write_config("fusion.toml", &config);
    let bench = harness
        .fusion(&[
            "--config",
            "fusion.toml",
            "bench",
            "--models",
            "m-right,m-wrong",
            "--suite",
            "builtin:reasoning",
        ])
        .await;
    assert_eq!(bench.code, 0, "{}\n{}", bench.stdout, bench.stderr);
    let run = report(harness.dir.path(), &["--out", "after-bench"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = harness.dir.path().join("after-bench");
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("## reasoning"), "{markdown}");
    let right = markdown
        .lines()
        .find(|l| l.starts_with("| m-right |"))
        .unwrap_or_else(|| panic!("no m-right row:\n{markdown}"));
    assert!(markdown.contains("| m-wrong |"), "{markdown}");
    assert!(
        markdown.contains("- Best by quality: **m-right**"),
        "{markdown}"
    );
    assert!(
        !right.contains("| 0.00 ("),
        "m-right answers two tasks right: {right}"
    );
    let svg = std::fs::read_to_string(out.join("charts/quality-cost-reasoning.svg")).unwrap();
    assert!(svg.contains("m-right") && svg.contains("m-wrong"));
    assert!(run.stdout.contains("reasoning  m-right"), "{}", run.stdout);
}
