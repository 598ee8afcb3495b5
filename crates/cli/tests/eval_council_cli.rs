//! `fusion eval council` through the real binary on scripted models (mock-provider): the
//! `--json` report ranks a council whose members find different issues over a single reviewer
//! over a terse checker that says done with confidence 1.0; the clean control's over-flagging
//! is counted; `--out` writes JSON and Markdown; the table reads on stdout; bad options are
//! refused before any model call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness;
use fusion_mock_provider::{ModelScript, Script};
use serde_json::Value;

const DONE: &str = r#"{"status": "done", "confidence": 1.0, "risk": "low",
  "missing_requirements": [], "likely_bugs": [], "verification_gaps": [],
  "exact_next_actions": [], "evidence_used": ["the test output"],
  "recommended_route": "stop", "handoff_reason": "every criterion is shown met"}"#;

const FIND_ORDERS: &str =
    "- src/db/orders.rs: the offset is off by one, page 1 skips the first page";
const FIND_RACE: &str = "- src/metrics.rs: load then store is not atomic; concurrent requests race";
const OVERFLAG: &str = "- src/cli.rs: the README does not mention --version";

/// A model that answers `found` for the fixture whose report names `marker`, and NO ISSUES to
/// every other prompt holding `other`.
fn finds(pairs: &[(&str, &str)], other: &str) -> ModelScript {
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(marker, found)| ((*marker).to_owned(), (*found).to_owned()))
        .collect();
    pairs.push((other.to_owned(), "NO ISSUES".to_owned()));
    ModelScript::by_prompt_contains(pairs)
}

fn script() -> Script {
    Script::new()
        .with_model("terse", ModelScript::fixed(DONE))
        .with_model(
            "reviewer",
            finds(&[("src/db/orders.rs", FIND_ORDERS)], "Objective"),
        )
        .with_model(
            "m-a",
            finds(&[("src/db/orders.rs", FIND_ORDERS)], "Objective"),
        )
        .with_model("m-b", finds(&[("src/metrics.rs", FIND_RACE)], "Objective"))
        .with_model("m-c", finds(&[("tests/version.rs", OVERFLAG)], "Objective"))
        .with_model("judge", ModelScript::fixed("{}"))
        .with_model(
            "synth",
            finds(
                &[
                    ("src/db/orders.rs", FIND_ORDERS),
                    ("src/metrics.rs", FIND_RACE),
                    ("tests/version.rs", OVERFLAG),
                ],
                "Question",
            ),
        )
}

fn config(h: &Harness) -> std::path::PathBuf {
    let models: String = ["terse", "reviewer", "m-a", "m-b", "m-c", "judge", "synth"]
        .iter()
        .map(|id| format!("[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n\n"))
        .collect();
    h.write_config(
        "fusion.toml",
        &format!(
            r#"[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
timeout = "5s"
retries = 0

{models}
[councils.default]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}

[loop]
roles.checker = ["terse"]
"#,
            url = h.mock.base_url()
        ),
    )
}

fn arm<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["arms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["arm"] == name)
        .unwrap_or_else(|| panic!("no arm {name}: {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_council_json_ranks_the_council_over_the_reviewer_over_the_checker() {
    let h = Harness::start(script()).await;
    let config = config(&h);
    let out = h.dir.path().join("eval-out");
    let run = h
        .fusion(&[
            "--config",
            config.to_str().unwrap(),
            "eval",
            "council",
            "--reviewer-model",
            "reviewer",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let report = run.json();
    assert_eq!(report["fixtures"], 9);
    assert_eq!(report["issues"], 12);
    let found = |name: &str| arm(&report, name)["issues_found"].as_u64().unwrap();
    assert_eq!(found("checker"), 0);
    assert_eq!(found("reviewer"), 1);
    assert_eq!(found("council"), 2);
    assert_eq!(found("uniform_council"), 1);
    assert_eq!(arm(&report, "council")["control_findings"], 1);
    assert_eq!(arm(&report, "reviewer")["control_findings"], 0);
    assert_eq!(arm(&report, "checker")["model"], "terse");
    assert_eq!(arm(&report, "council")["model"], "council:default");
    let calibration = &report["calibration"];
    assert_eq!(calibration["model"], "terse");
    assert_eq!(calibration["mean_confidence"], 1.0);
    assert_eq!(calibration["mean_detection"], 0.0);
    assert!(
        report["run_id"]
            .as_str()
            .unwrap()
            .starts_with("eval-council-")
    );
    assert!(
        run.stderr
            .contains("fusion: eval: council on orders-pagination: 1/1 issues found"),
        "progress on stderr:\n{}",
        run.stderr
    );

    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("council-eval.json")).unwrap())
            .unwrap();
    assert_eq!(written["arms"], report["arms"]);
    let markdown = std::fs::read_to_string(out.join("council-eval.md")).unwrap();
    assert!(markdown.starts_with("# Council eval"), "{markdown}");
    assert!(markdown.contains("The checker's confidence against its detection"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_council_prints_its_table_and_refuses_unknown_fixtures_before_any_call() {
    let h = Harness::start(script()).await;
    let config = config(&h);
    let config = config.to_str().unwrap();
    let run = h
        .fusion(&[
            "--config",
            config,
            "eval",
            "council",
            "--reviewer-model",
            "reviewer",
            "--only",
            "orders-pagination,control-version-flag",
            "--no-store",
            "--quiet",
        ])
        .await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stdout
            .contains("1 fixtures with 1 planted issues, 1 clean control(s)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("control-version-flag"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("checker calibration (terse)"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("stored as"),
        "--no-store keeps nothing"
    );
    assert!(run.stderr.is_empty(), "--quiet: {}", run.stderr);

    h.mock.clear_requests();
    for (args, expected) in [
        (vec!["--only", "nope"], "no fixture `nope`"),
        (vec!["--parallel", "0"], "--parallel"),
        (vec!["--reviewer-model", "ghost"], "no model `ghost`"),
        (vec!["--council", "ghost"], "no council named `ghost`"),
    ] {
        let mut all = vec!["--config", config, "eval", "council"];
        all.extend(args);
        let run = h.fusion(&all).await;
        assert_ne!(run.code, 0, "{all:?}");
        assert!(run.stderr.contains(expected), "{all:?}: {}", run.stderr);
    }
    assert!(h.mock.requests().is_empty(), "no model was called");
}
