//! The loop checker's build/check gate through the official MCP Python client against the real
//! `fusion mcp`, with scripted mock-provider models for every role (the checker answers by a
//! scenario marker in the report): done with high confidence completes the run; incomplete
//! with a concrete fix gets a direct retry prompt; uncertain goes to a council review, then the
//! conductor; blocked pauses for a human; checker or conductor output that is not JSON pauses
//! for a human with the reason; bad input gets tool errors; runs survive a restart. The step's
//! evidence given inline to looped_next and looped_fuse_review is in `inline`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;
mod inline;

use common::mcp_session::Session;
use common::{Harness, JUDGE_JSON};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::{Value, json};

const DONE: &str = r#"{"status": "done", "confidence": 0.92, "risk": "low",
  "missing_requirements": [], "likely_bugs": [], "verification_gaps": [],
  "exact_next_actions": [], "evidence_used": ["test version_flag ... ok"],
  "recommended_route": "stop", "handoff_reason": "every criterion has passing evidence"}"#;

const RETRY: &str = r#"{"status": "incomplete", "confidence": 0.8, "risk": "low",
  "missing_requirements": [{"finding": "--version prints nothing", "evidence": "test version_flag ... FAILED"}],
  "likely_bugs": [{"finding": "the flag is parsed after the subcommand", "evidence": "src/cli.rs"},
                  "the Windows build may break"],
  "exact_next_actions": ["print CARGO_PKG_VERSION in src/cli.rs and rerun cargo test version"],
  "recommended_route": "direct_retry", "handoff_reason": "one concrete fix"}"#;

const UNCERTAIN: &str = r#"{"status": "uncertain", "confidence": 0.4, "risk": "high",
  "verification_gaps": ["no test output for the Windows path"],
  "recommended_route": "fusion_review", "handoff_reason": "the evidence is thin"}"#;

const BLOCKED: &str = r#"{"status": "blocked", "confidence": 0.9,
  "recommended_route": "human", "handoff_reason": "the executor has no registry credentials"}"#;

const CONDUCTOR: &str = r#"{"status": "continue",
  "next_prompt": "Add a Windows CI job that runs cargo test version, then report its output.",
  "consensus": ["the flag works on Linux"], "risk_flags": ["the Windows path is untested"],
  "reasons": ["the council found the Windows path unverified"],
  "evidence_required": ["the CI job's output"],
  "stop_condition": "cargo test version passes on Linux and Windows"}"#;

fn script() -> Script {
    let checker = ModelScript::by_prompt_contains([
        ("SCENARIO-DONE", DONE),
        ("SCENARIO-RETRY", RETRY),
        ("SCENARIO-UNCERTAIN", UNCERTAIN),
        ("SCENARIO-CONDUCTOR-BAD", UNCERTAIN),
        ("SCENARIO-BLOCKED", BLOCKED),
        ("SCENARIO-BADJSON", "Looks good to me, ship it!"),
    ]);
    let conductor = ModelScript::by_prompt_contains([
        ("SCENARIO-CONDUCTOR-BAD", "I would continue carefully."),
        ("Objective:", CONDUCTOR),
    ]);
    Script::new()
        .with_model("checker", checker)
        .with_model("conductor", conductor)
        .with_model(
            "explorer",
            ModelScript::fixed("Facts: src/cli.rs holds the flag."),
        )
        .with_model(
            "builder",
            ModelScript::fixed("Smallest step: add the test."),
        )
        .with_model("critic", ModelScript::fixed("Risk: nothing tests Windows."))
        .with_model(
            "sentinel",
            ModelScript::fixed("Slow but moving.\nverdict: slow"),
        )
        .with_model("m-a", ModelScript::fixed("The Windows path is unverified."))
        .with_model(
            "m-b",
            ModelScript::fixed("Linux works; Windows is unknown."),
        )
        .with_model("judge", ModelScript::fixed(JUDGE_JSON))
        .with_model("synth", ModelScript::fixed("FINAL: add a Windows test."))
}

fn config(h: &Harness) -> String {
    let ids = [
        "checker",
        "conductor",
        "explorer",
        "builder",
        "critic",
        "sentinel",
        "m-a",
        "m-b",
        "judge",
        "synth",
    ];
    let models: String = ids
        .iter()
        .map(|id| format!("[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n\n"))
        .collect();
    format!(
        r#"[storage]
url = "sqlite://{dir}/fusion.db"

[router]
discover = false

[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
retries = 0
timeout = "30s"

{models}
[councils.default]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}

[loop]
roles.explorer = ["explorer"]
roles.builder = ["builder"]
roles.critic = ["critic"]
roles.sentinel = ["sentinel"]
roles.conductor = ["conductor"]
roles.checker = ["checker"]
review_council = "default"
"#,
        dir = h.dir.path().display(),
        url = h.mock.base_url()
    )
}

async fn session(h: &Harness) -> Session {
    let path = h.write_config("fusion.toml", &config(h));
    Session::stdio(&path, &[]).await
}

/// A tool call that must succeed (not a tool error).
async fn call(s: &mut Session, tool: &str, args: Value) -> Value {
    let answer = s
        .ok(json!({"op": "call", "tool": tool, "args": args}))
        .await;
    assert_eq!(answer["is_error"], false, "{tool} failed: {answer}");
    answer
}

/// A tool call that must be a tool error; returns its text.
async fn refused(s: &mut Session, tool: &str, args: Value) -> String {
    let answer = s
        .ok(json!({"op": "call", "tool": tool, "args": args}))
        .await;
    assert_eq!(answer["is_error"], true, "{tool} should fail: {answer}");
    answer["text"].as_str().unwrap().to_owned()
}

/// Starts a run and records one report whose summary carries `scenario`.
async fn start_and_report(s: &mut Session, scenario: &str) -> String {
    let started = call(
        s,
        "looped_start",
        json!({"objective": "Add a --version flag to the CLI",
               "acceptance_criteria": ["`fusion --version` prints the version", "a test covers it"]}),
    )
    .await;
    let run_id = started["structured"]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(started["structured"]["status"], "started");
    assert!(
        started["structured"]["next_prompt"]
            .as_str()
            .unwrap()
            .contains("a test covers it"),
        "{started}"
    );
    let reported = call(
        s,
        "looped_report",
        json!({"run_id": run_id, "summary": format!("{scenario}: added the flag"),
               "changed_files": ["src/cli.rs"], "tests_run": ["cargo test version"],
               "test_output": "test version_flag ... FAILED", "blockers": [],
               "assumptions": ["Linux only"], "acceptance_status": "criterion 2 unverified",
               "raw_evidence": "diff --git a/src/cli.rs"}),
    )
    .await;
    assert_eq!(reported["structured"]["report_seq"], 1, "{reported}");
    run_id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_done_check_with_high_confidence_completes_the_run_and_a_complete_run_takes_no_more_reports()
 {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let tools = s.tool_names().await;
    for name in [
        "looped_start",
        "looped_report",
        "looped_check_work",
        "looped_fuse_review",
        "looped_next",
        "looped_status",
    ] {
        assert!(tools.iter().any(|t| t == name), "{name} missing: {tools:?}");
    }
    let run_id = start_and_report(&mut s, "SCENARIO-DONE").await;
    let checked = call(&mut s, "looped_check_work", json!({"run_id": run_id})).await;
    let check = &checked["structured"]["check"];
    assert_eq!(check["status"], "done", "{checked}");
    assert_eq!(check["confidence"], 0.92);
    assert_eq!(check["recommended_route"], "stop");
    assert_eq!(check["model"], "checker");
    assert_eq!(checked["structured"]["next_tool"], "looped_next");

    let next = call(&mut s, "looped_next", json!({"run_id": run_id})).await;
    let decision = &next["structured"];
    assert_eq!(decision["status"], "complete", "{next}");
    assert_eq!(decision["route"], "stop");
    assert_eq!(decision["source"], "gate");
    assert_eq!(decision["next_prompt"], "");
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .contains("passing evidence")
    );

    let status = call(&mut s, "looped_status", json!({"run_id": run_id})).await;
    assert_eq!(status["structured"]["status"], "complete", "{status}");
    assert_eq!(status["structured"]["checks"], 1);
    assert_eq!(status["structured"]["decisions"], 1);

    let error = refused(
        &mut s,
        "looped_report",
        json!({"run_id": run_id, "summary": "one more thing"}),
    )
    .await;
    assert!(error.contains("already complete"), "{error}");
    let error = refused(&mut s, "looped_check_work", json!({"run_id": run_id})).await;
    assert!(error.contains("already complete"), "{error}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incomplete_check_with_a_concrete_fix_gets_a_direct_retry_prompt_and_unevidenced_findings_become_gaps()
 {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start_and_report(&mut s, "SCENARIO-RETRY").await;
    let checked = call(&mut s, "looped_check_work", json!({"run_id": run_id})).await;
    let check = &checked["structured"]["check"];
    assert_eq!(check["status"], "incomplete", "{checked}");
    assert_eq!(check["recommended_route"], "direct_retry");
    assert_eq!(
        check["likely_bugs"],
        json!(["the flag is parsed after the subcommand"])
    );
    assert_eq!(
        check["missing_requirements"],
        json!(["--version prints nothing"])
    );
    let gaps = check["verification_gaps"].to_string();
    assert!(
        gaps.contains("the Windows build may break"),
        "a finding without evidence is a gap: {gaps}"
    );

    let next = call(&mut s, "looped_next", json!({"run_id": run_id})).await;
    let decision = &next["structured"];
    assert_eq!(decision["status"], "continue", "{next}");
    assert_eq!(decision["route"], "direct_retry");
    assert_eq!(decision["source"], "gate");
    let prompt = decision["next_prompt"].as_str().unwrap();
    assert!(
        prompt.contains("print CARGO_PKG_VERSION in src/cli.rs"),
        "{prompt}"
    );
    assert!(prompt.contains("looped_report"), "{prompt}");
    assert!(next["text"].as_str().unwrap().contains("CARGO_PKG_VERSION"));
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uncertain_check_goes_to_a_council_review_then_the_conductor_writes_the_next_prompt() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start_and_report(&mut s, "SCENARIO-UNCERTAIN").await;
    let checked = call(&mut s, "looped_check_work", json!({"run_id": run_id})).await;
    assert_eq!(checked["structured"]["check"]["status"], "uncertain");
    assert_eq!(
        checked["structured"]["check"]["recommended_route"],
        "fusion_review"
    );
    assert_eq!(checked["structured"]["next_tool"], "looped_fuse_review");

    let reviewed = call(&mut s, "looped_fuse_review", json!({"run_id": run_id})).await;
    let review = &reviewed["structured"]["review"];
    assert_eq!(review["council"], "default", "{reviewed}");
    assert_eq!(review["final_answer"], "FINAL: add a Windows test.");
    assert_eq!(review["check_seq"], 1);
    assert_eq!(review["fusion"]["status"], "ok");

    let next = call(&mut s, "looped_next", json!({"run_id": run_id})).await;
    let decision = &next["structured"];
    assert_eq!(decision["status"], "continue", "{next}");
    assert_eq!(decision["source"], "conductor");
    assert_eq!(decision["route"], "fusion_review");
    assert_eq!(decision["model"], "conductor");
    assert_eq!(decision["review_seq"], 1);
    assert!(
        decision["next_prompt"]
            .as_str()
            .unwrap()
            .starts_with("Add a Windows CI job")
    );
    assert_eq!(
        decision["risk_flags"],
        json!(["the Windows path is untested"])
    );
    assert_eq!(decision["consensus"], json!(["the flag works on Linux"]));
    let status = call(&mut s, "looped_status", json!({"run_id": run_id})).await;
    assert_eq!(status["structured"]["status"], "continue");
    assert_eq!(status["structured"]["reviews"], 1);
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_executor_pauses_for_a_human() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start_and_report(&mut s, "SCENARIO-BLOCKED").await;
    // looped_next checks the unchecked report on the way.
    let next = call(&mut s, "looped_next", json!({"run_id": run_id})).await;
    let decision = &next["structured"];
    assert_eq!(decision["status"], "pause_for_human", "{next}");
    assert_eq!(decision["route"], "human");
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .contains("no registry credentials")
    );
    assert!(
        decision["steps_taken"]
            .to_string()
            .contains("looped_check_work"),
        "{decision}"
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn checker_output_that_is_not_json_pauses_for_a_human_with_the_reason() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start_and_report(&mut s, "SCENARIO-BADJSON").await;
    let checked = call(&mut s, "looped_check_work", json!({"run_id": run_id})).await;
    let check = &checked["structured"]["check"];
    assert_eq!(check["status"], "uncertain", "{checked}");
    assert_eq!(check["recommended_route"], "human");
    assert_eq!(check["confidence"], 0.0);
    assert!(
        check["handoff_reason"]
            .as_str()
            .unwrap()
            .contains("not valid JSON, even after one retry"),
        "{check}"
    );
    assert!(
        check["raw_output"].is_string(),
        "the raw output is kept: {check}"
    );

    let next = call(&mut s, "looped_next", json!({"run_id": run_id})).await;
    assert_eq!(next["structured"]["status"], "pause_for_human", "{next}");
    assert!(
        next["structured"]["reason"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conductor_output_that_is_not_json_pauses_for_a_human_with_the_reason() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start_and_report(&mut s, "SCENARIO-CONDUCTOR-BAD").await;
    // Check, council review and conductor all happen inside looped_next.
    let next = call(&mut s, "looped_next", json!({"run_id": run_id})).await;
    let decision = &next["structured"];
    assert_eq!(decision["status"], "pause_for_human", "{next}");
    assert_eq!(decision["source"], "fallback");
    assert_eq!(decision["next_prompt"], "");
    assert!(
        decision["raw_output"]
            .as_str()
            .unwrap()
            .starts_with("echo: ")
    );
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .contains("not a usable decision, even after one retry"),
        "{decision}"
    );
    let steps = decision["steps_taken"].to_string();
    assert!(steps.contains("looped_check_work") && steps.contains("looped_fuse_review"));
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_tool_errors() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let error = refused(
        &mut s,
        "looped_report",
        json!({"run_id": "nope", "summary": "did things"}),
    )
    .await;
    assert!(error.contains("no loop run with id `nope`"), "{error}");
    for tool in [
        "looped_check_work",
        "looped_next",
        "looped_status",
        "looped_fuse_review",
    ] {
        let error = refused(&mut s, tool, json!({"run_id": "nope"})).await;
        assert!(error.contains("no loop run"), "{tool}: {error}");
    }
    let error = refused(&mut s, "looped_start", json!({"objective": "  "})).await;
    assert!(error.contains("`objective` is empty"), "{error}");
    let error = refused(&mut s, "looped_start", json!({})).await;
    assert!(error.contains("objective"), "{error}");

    let started = call(
        &mut s,
        "looped_start",
        json!({"objective": "x", "run_id": "mine-1"}),
    )
    .await;
    assert_eq!(started["structured"]["run_id"], "mine-1");
    let error = refused(
        &mut s,
        "looped_start",
        json!({"objective": "x", "run_id": "mine-1"}),
    )
    .await;
    assert!(error.contains("exists already"), "{error}");
    let error = refused(&mut s, "looped_check_work", json!({"run_id": "mine-1"})).await;
    assert!(
        error.contains("no report yet"),
        "report before check: {error}"
    );
    let error = refused(&mut s, "looped_fuse_review", json!({"run_id": "mine-1"})).await;
    assert!(error.contains("no report"), "{error}");
    let error = refused(&mut s, "looped_report", json!({"run_id": "mine-1"})).await;
    assert!(error.contains("missing field `summary`"), "{error}");
    let error = refused(
        &mut s,
        "looped_report",
        json!({"run_id": "mine-1", "summary": "s", "files": []}),
    )
    .await;
    assert!(error.contains("unknown field `files`"), "{error}");
    let error = refused(&mut s, "looped_next", json!({})).await;
    assert!(error.contains("run_id"), "{error}");
    // The first prompt again while nothing was reported.
    let next = call(&mut s, "looped_next", json!({"run_id": "mine-1"})).await;
    assert_eq!(next["structured"]["status"], "continue");
    assert!(
        next["structured"]["next_prompt"]
            .as_str()
            .unwrap()
            .contains("Build objective: x")
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_survive_a_restart_of_fusion_mcp() {
    let h = Harness::start(script()).await;
    let mut first = session(&h).await;
    let run_id = start_and_report(&mut first, "SCENARIO-RETRY").await;
    first.quit().await;

    let mut second = session(&h).await;
    let status = call(&mut second, "looped_status", json!({"run_id": run_id})).await;
    let view = &status["structured"];
    assert_eq!(view["status"], "reported", "{status}");
    assert_eq!(view["objective"], "Add a --version flag to the CLI");
    assert_eq!(view["reports"], 1);
    assert_eq!(
        view["latest_report"]["summary"],
        "SCENARIO-RETRY: added the flag"
    );
    assert_eq!(
        view["latest_report"]["tests"],
        json!(["cargo test version"])
    );
    // The new process goes on with the run.
    let next = call(&mut second, "looped_next", json!({"run_id": run_id})).await;
    assert_eq!(next["structured"]["route"], "direct_retry", "{next}");
    second.quit().await;
}
