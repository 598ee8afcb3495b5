//! The council project's (local-fusion's) MCP server as its users run it — `fusion mcp
//! --config local-fusion.config.json --rootDir ./runs/mcp`, registered the way its README shows —
//! through the official MCP Python client: its seven tools under their names, `fusion_ask` with
//! `question` and `json`, and the default routing (executor → looped_report → checker gate →
//! looped_next) with the run's artifacts under `--rootDir`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mcp_session::Session;
use common::{Harness, JUDGE_JSON};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::{Value, json};

const DONE: &str = r#"{"status": "done", "confidence": 0.93, "risk": "low",
  "missing_requirements": [], "likely_bugs": [], "verification_gaps": [],
  "exact_next_actions": [], "evidence_used": ["test parse_empty ... ok"],
  "recommended_route": "stop", "handoff_reason": "the criterion has passing evidence"}"#;

fn script() -> Script {
    Script::new()
        .with_model(
            "qwen-a",
            ModelScript::fixed("Ridge shrinks; lasso selects."),
        )
        .with_model("qwen-b", ModelScript::fixed("Elastic-net mixes both."))
        .with_model("judge", ModelScript::fixed(JUDGE_JSON))
        .with_model(
            "synth",
            ModelScript::fixed("FINAL: ridge, lasso, elastic-net."),
        )
        .with_model("checker", ModelScript::fixed(DONE))
}

/// A council project config with the loop's roster, all members on the mock.
fn council_config(h: &Harness) -> String {
    let url = h.mock.base_url();
    let member = |name: &str| {
        format!(r#"{{"name": "{name}", "baseUrl": "{url}", "apiKey": "x", "model": "{name}"}}"#)
    };
    format!(
        r#"{{
  "parallel": true,
  "timeoutMs": 60000,
  "panel": [{a}, {b}],
  "judge": {judge},
  "synthesizer": {synth},
  "model_roster": {{ "checker": {checker} }},
  "role_model_policy": {{ "checker": "checker" }}
}}"#,
        a = member("qwen-a"),
        b = member("qwen-b"),
        judge = member("judge"),
        synth = member("synth"),
        checker = member("checker"),
    )
}

async fn session(h: &Harness) -> Session {
    let path = h.write_config("local-fusion.config.json", &council_config(h));
    let runs = h.dir.path().join("runs/mcp");
    Session::stdio_with(&path, &["--rootDir", runs.to_str().unwrap()], &[]).await
}

async fn call(s: &mut Session, tool: &str, args: Value) -> Value {
    let answer = s
        .ok(json!({"op": "call", "tool": tool, "args": args}))
        .await;
    assert_eq!(answer["is_error"], false, "{tool}: {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seven_documented_tools_are_served_under_their_names() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let names = s.tool_names().await;
    for tool in [
        "fusion_ask",
        "looped_start",
        "looped_report",
        "looped_check_work",
        "looped_fuse_review",
        "looped_next",
        "looped_status",
    ] {
        assert!(names.iter().any(|n| n == tool), "{tool}: {names:?}");
    }
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_ask_takes_question_and_json_as_documented() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let question = "Compare ridge, lasso, and elastic-net regression.";
    // json: true — the whole result as the text.
    let whole = call(
        &mut s,
        "fusion_ask",
        json!({"question": question, "json": true}),
    )
    .await;
    let result: Value = serde_json::from_str(whole["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        result["final_answer"], "FINAL: ridge, lasso, elastic-net.",
        "{result}"
    );
    assert_eq!(
        result["analysis"]["consensus"][0],
        "Paris is the capital of France"
    );
    // json: false — the final answer as plain text; the trace stays in structured content.
    let plain = call(
        &mut s,
        "fusion_ask",
        json!({"question": question, "json": false}),
    )
    .await;
    assert!(
        plain["text"]
            .as_str()
            .unwrap()
            .starts_with("FINAL: ridge, lasso, elastic-net."),
        "{plain}"
    );
    assert_eq!(
        plain["structured"]["final_answer"],
        "FINAL: ridge, lasso, elastic-net."
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_route_completes_a_checked_run_and_writes_its_artifacts_under_root_dir() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let started = call(
        &mut s,
        "looped_start",
        json!({"objective": "Make the parser accept empty input",
               "acceptance_criteria": ["cargo test parse_empty passes"]}),
    )
    .await;
    let run_id = started["structured"]["run_id"].as_str().unwrap().to_owned();
    // Opus executes → looped_report → checker gate → done with high confidence → complete.
    call(
        &mut s,
        "looped_report",
        json!({"run_id": run_id, "summary": "Handled the empty input in parse()",
               "changed_files": ["src/parse.rs"], "tests_run": ["cargo test parse_empty"],
               "test_output": "test parse_empty ... ok"}),
    )
    .await;
    let checked = call(&mut s, "looped_check_work", json!({"run_id": run_id})).await;
    assert_eq!(
        checked["structured"]["check"]["status"], "done",
        "{checked}"
    );
    let next = call(&mut s, "looped_next", json!({"run_id": run_id})).await;
    assert_eq!(next["structured"]["status"], "complete", "{next}");
    let status = call(&mut s, "looped_status", json!({"run_id": run_id})).await;
    assert!(
        status["text"].as_str().unwrap().contains("complete"),
        "{status}"
    );
    s.quit().await;

    // runs/mcp/<run_id>/: state.json, report-N.json, check-N.json, next-N.json.
    let dir = h.dir.path().join("runs/mcp").join(&run_id);
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("{name} in {}: {e}", dir.display()));
        serde_json::from_str(&text).unwrap()
    };
    assert_eq!(read("state.json")["run"]["status"], "complete");
    assert_eq!(
        read("report-1.json")["summary"],
        "Handled the empty input in parse()"
    );
    assert_eq!(read("check-1.json")["status"], "done");
    assert_eq!(read("next-1.json")["status"], "complete");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_dir_that_cannot_be_made_stops_the_server_before_it_starts() {
    let h = Harness::start(script()).await;
    h.write_config("local-fusion.config.json", &council_config(&h));
    std::fs::write(h.dir.path().join("a-file"), "").unwrap();
    let run = h.fusion(&["mcp", "--rootDir", "a-file/runs"]).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("--root-dir: cannot create"),
        "{}",
        run.stderr
    );
}
