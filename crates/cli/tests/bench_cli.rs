//! `fusion bench` through the real binary against mock-provider models: a model that answers
//! the built-in code tasks right outscores one that answers wrong (`--json`), the table names
//! the run, models and categories, the default models are the healthy local and free ones, a
//! malformed suite or an unknown model exits 2 naming what is wrong, and a bench interrupted
//! with Ctrl-C exits 130 and resumes with `--resume` without asking again what it recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Harness, fusion_command};
use fusion_bench::suite::{self, TaskKind};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const WRONG_CODE: &str = "```python\ndef nothing():\n    return None\n```";

/// Every built-in task answered with its reference answer.
fn right() -> ModelScript {
    let suites = suite::builtin(None).unwrap();
    ModelScript::by_prompt_contains(
        suites
            .iter()
            .flat_map(|s| &s.tasks)
            .map(|t| (t.prompt.clone(), t.reference.clone().unwrap())),
    )
}

fn script() -> Script {
    Script::new()
        .with_model("good", right())
        .with_model("bad", ModelScript::fixed(WRONG_CODE))
        .with_model("priced", right())
        .with_model("slowish", right().with_latency_ms(300))
}

/// A local provider with good, bad and slowish; a paid one with priced.
async fn harness() -> (Harness, String) {
    let h = Harness::start(script()).await;
    let url = h.mock.base_url();
    let config = format!(
        r#"[router]
discover = false

[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "20s"

[[providers]]
name = "hosted"
kind = "openai"
base_url = "{url}"
tier = "paid"
retries = 0
timeout = "20s"

[[models]]
id = "good"
provider = "mock"

[[models]]
id = "bad"
provider = "mock"

[[models]]
id = "slowish"
provider = "mock"

[[models]]
id = "priced"
provider = "hosted"
price = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}
"#
    );
    let path = h.write_config("fusion.toml", &config);
    let path = path.to_str().unwrap().to_owned();
    (h, path)
}

fn stat<'a>(summary: &'a Value, model: &str, category: &str) -> &'a Value {
    summary["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["model"] == model && s["category"] == category)
        .unwrap_or_else(|| panic!("no {model}/{category} in {summary:#}"))
}

#[tokio::test]
async fn a_model_that_writes_right_code_outscores_one_that_writes_wrong_code() {
    let (h, config) = harness().await;
    let run = h
        .fusion(&[
            "--config",
            &config,
            "bench",
            "--models",
            "good,bad",
            "--suite",
            "builtin:code",
            "--runs-per-task",
            "1",
            "--json",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["status"], "completed");
    assert!(summary["run_id"].as_str().unwrap().starts_with("bench_"));
    let good = stat(&summary, "good", "code");
    let bad = stat(&summary, "bad", "code");
    assert!(
        good["quality"].as_f64().unwrap() > bad["quality"].as_f64().unwrap(),
        "{summary:#}"
    );
    assert_eq!(good["quality"], 1.0);
    let tasks = suite::builtin(Some(TaskKind::Code)).unwrap()[0].tasks.len();
    assert_eq!(good["n"], tasks);
    // stderr is not a terminal: one line per finished call.
    let lines = run.stderr.lines().filter(|l| l.contains(" score ")).count();
    assert_eq!(lines, 2 * tasks, "{}", run.stderr);
}

#[tokio::test]
async fn the_table_names_the_run_and_the_default_models_are_the_healthy_unpaid_ones() {
    let (h, config) = harness().await;
    let run = h
        .fusion(&[
            "--config",
            &config,
            "bench",
            "run",
            "--suite",
            "builtin:reasoning",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(out.starts_with("run bench_"), "{out}");
    assert!(out.contains("completed"), "{out}");
    let header = out.lines().nth(1).unwrap();
    for column in [
        "model", "category", "n", "quality", "95% CI", "p50", "tok/s", "cost",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let models: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(models, ["bad", "good", "slowish"], "{out}");
    assert!(
        h.mock.requests_for("priced").is_empty(),
        "a paid model runs only when named"
    );
}

#[tokio::test]
async fn a_malformed_user_suite_exits_2_naming_the_file_and_the_field() {
    let (h, config) = harness().await;
    std::fs::write(
        h.dir.path().join("mine.toml"),
        "[[tasks]]\nid = \"add\"\ncategory = \"code\"\nprompt = \"Write add.\"\n\
         [tasks.validator]\nkind = \"code\"\ntests = []\n",
    )
    .unwrap();
    let run = h
        .fusion(&[
            "--config",
            &config,
            "bench",
            "--models",
            "good",
            "--suite",
            "mine.toml",
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("mine.toml"), "{}", run.stderr);
    assert!(run.stderr.contains("`validator.tests`"), "{}", run.stderr);
    assert!(run.stderr.contains("`add`"), "{}", run.stderr);
    assert!(h.mock.requests().is_empty(), "no call was made");

    std::fs::write(h.dir.path().join("lines.jsonl"), "{\"id\": \"x\"}\n").unwrap();
    let run = h
        .fusion(&[
            "--config",
            &config,
            "bench",
            "--models",
            "good",
            "--suite",
            "lines.jsonl",
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("lines.jsonl: line 1"), "{}", run.stderr);
}

#[tokio::test]
async fn an_unknown_model_exits_2_listing_the_known_ones() {
    let (h, config) = harness().await;
    let run = h
        .fusion(&[
            "--config",
            &config,
            "bench",
            "--models",
            "good,gpt-9",
            "--suite",
            "builtin:code",
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`gpt-9`"), "{}", run.stderr);
    assert!(
        run.stderr.contains("bad, good, priced, slowish"),
        "{}",
        run.stderr
    );
    let missing = h
        .fusion(&["--config", &config, "bench", "--resume", "bench_nope"])
        .await;
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no benchmark run `bench_nope`"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn a_bench_interrupted_with_ctrl_c_exits_130_and_resumes_without_redoing_work() {
    let (h, config) = harness().await;
    let mut child = fusion_command(h.dir.path())
        .args([
            "--config",
            &config,
            "bench",
            "--models",
            "slowish",
            "--suite",
            "builtin:reasoning",
            "--parallel",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Two results recorded, then Ctrl-C.
    while seen
        .iter()
        .filter(|l: &&String| l.contains(" score "))
        .count()
        < 2
    {
        let line = tokio::time::timeout(Duration::from_secs(60), stderr.next_line())
            .await
            .expect("progress lines")
            .unwrap()
            .unwrap_or_else(|| panic!("fusion ended early: {seen:#?}"));
        seen.push(line);
    }
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    while let Some(line) = stderr.next_line().await.unwrap() {
        seen.push(line);
    }
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(130), "{seen:#?}");
    let hint = seen
        .iter()
        .find(|l| l.contains("--resume"))
        .unwrap_or_else(|| panic!("no resume hint: {seen:#?}"));
    let run_id = hint.rsplit(' ').next().unwrap().to_owned();

    let asked_before = h.mock.requests().len();
    let resumed = h
        .fusion(&["--config", &config, "bench", "--resume", &run_id, "--json"])
        .await;
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let summary = resumed.json();
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["run_id"], run_id.as_str());
    let total = summary["total"].as_u64().unwrap();
    let recorded = summary["recorded_before"].as_u64().unwrap();
    assert!(recorded >= 2 && recorded < total, "{summary:#}");
    let asked_now = (h.mock.requests().len() - asked_before) as u64;
    assert_eq!(
        asked_now,
        total - recorded,
        "recorded calls are not asked again"
    );
    assert_eq!(stat(&summary, "slowish", "reasoning")["n"], total);
}
