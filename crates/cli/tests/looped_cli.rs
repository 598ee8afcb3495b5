//! `fusion loop` against the real binary and the mock provider: a deliberation round over a
//! user's run-state file (four role views, a role falling back to its next model, the Sentinel
//! computing its verdict when its model fails, the conductor's decision and next prompt); and
//! a run made through `fusion mcp` read back with `fusion loop --run`, `status`, `list` and
//! `export`, whose files hold the whole trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness;
use common::mcp_session::Session;
use fusion_mock_provider::{Failure, ModelScript, Script};
use serde_json::{Value, json};

const STUCK: &str = r#"{"status": "possibly_stuck",
  "next_prompt": "Run only the failing parser test and report its full output.",
  "consensus": ["the same test keeps failing"], "risk_flags": ["the loop repeats cargo test"],
  "reasons": ["the Sentinel computed possibly_stuck"], "evidence_required": ["the test output"],
  "stop_condition": "the parser tests pass"}"#;

const CONTINUE: &str = r#"{"status": "continue", "next_prompt": "Add the missing test.",
  "consensus": [], "risk_flags": [], "reasons": ["one criterion is unverified"]}"#;

const DONE: &str = r#"{"status": "done", "confidence": 0.95, "recommended_route": "stop",
  "evidence_used": ["cargo test"], "handoff_reason": "all green"}"#;

fn script() -> Script {
    Script::new()
        .with_model(
            "down",
            ModelScript::failing(Failure::status(503, "overloaded")),
        )
        .with_model(
            "explorer",
            ModelScript::fixed("Facts: src/parse.rs fails on empty input."),
        )
        .with_model(
            "builder",
            ModelScript::fixed("Smallest step: guard the empty case."),
        )
        .with_model(
            "critic",
            ModelScript::fixed("Risk: the fix hides a deeper bug."),
        )
        .with_model(
            "conductor",
            ModelScript::by_prompt_contains([
                ("Computed health: possibly_stuck", STUCK),
                ("Objective:", CONTINUE),
            ]),
        )
        .with_model("checker", ModelScript::fixed(DONE))
}

fn config(h: &Harness) -> String {
    let models: String = [
        "down",
        "explorer",
        "builder",
        "critic",
        "conductor",
        "checker",
    ]
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
[loop]
roles.explorer = ["down", "explorer"]
roles.builder = ["builder"]
roles.critic = ["critic"]
roles.sentinel = ["down"]
roles.conductor = ["conductor"]
roles.checker = ["checker"]
stale_heartbeat = "10m"
"#,
        dir = h.dir.path().display(),
        url = h.mock.base_url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_loop_runs_four_role_views_then_the_conductor_and_prints_the_next_prompt() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h));
    let config = path.to_str().unwrap();
    std::fs::write(
        h.dir.path().join("state.json"),
        r#"{"loopStep": 2, "heartbeat": "20m ago", "elapsed": "5m",
            "recentCommands": ["cargo test", "cargo test", "cargo test"],
            "recentMessages": ["test parse_empty ... FAILED"], "branch": "fix-parser"}"#,
    )
    .unwrap();

    let run = h
        .fusion(&[
            "loop",
            "--config",
            config,
            "Make the parser tests pass",
            "--state",
            "state.json",
            "--json",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let round = run.json();
    assert_eq!(round["step"], 2);
    assert_eq!(round["state"]["branch"], "fix-parser");
    let decision = &round["decision"];
    assert_eq!(decision["status"], "possibly_stuck", "{decision}");
    assert_eq!(decision["source"], "conductor");
    assert_eq!(
        decision["next_prompt"],
        "Run only the failing parser test and report its full output."
    );
    assert_eq!(decision["health"]["computed"], "possibly_stuck");
    assert_eq!(decision["health"]["repeated_commands"][0]["count"], 3);
    let views = decision["views"].as_array().unwrap();
    let roles: Vec<&str> = views.iter().map(|v| v["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["explorer", "builder", "critic", "sentinel"]);
    assert_eq!(
        views[0]["model"], "explorer",
        "the explorer fell back past `down`"
    );
    assert!(
        views[3]["content"]
            .as_str()
            .unwrap()
            .contains("verdict: possibly_stuck"),
        "the Sentinel's computed view: {}",
        views[3]
    );
    let reasons = decision["degradation_reasons"].to_string();
    assert!(
        reasons.contains("explorer fell back past down"),
        "{reasons}"
    );
    assert!(
        reasons.contains("its verdict is computed from the run state"),
        "{reasons}"
    );
    assert!(run.stderr.contains("fusion: note:"), "{}", run.stderr);

    let text = h
        .fusion(&[
            "loop",
            "--config",
            config,
            "Make the parser tests pass",
            "--state",
            "state.json",
        ])
        .await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.starts_with("status: possibly_stuck\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("next prompt:\nRun only the failing parser test"),
        "{}",
        text.stdout
    );

    std::fs::write(h.dir.path().join("bad.json"), r#"{"elapsed": "soon"}"#).unwrap();
    let bad = h
        .fusion(&["loop", "--config", config, "x", "--state", "bad.json"])
        .await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("invalid run state: elapsed"),
        "{}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_loop_export_writes_a_runs_whole_trail_and_loop_run_adds_its_decision() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h));
    let config = path.to_str().unwrap();
    let mut s = Session::stdio(&path, &[]).await;
    let call = |tool: &str, args: Value| json!({"op": "call", "tool": tool, "args": args});
    let started = s
        .ok(call(
            "looped_start",
            json!({"objective": "Fix the parser", "acceptance_criteria": ["cargo test passes"],
                   "run_id": "export-1"}),
        ))
        .await;
    assert_eq!(started["is_error"], false, "{started}");
    let reported = s
        .ok(call(
            "looped_report",
            json!({"run_id": "export-1", "summary": "guarded the empty input",
                   "changed_files": ["src/parse.rs"], "tests": ["cargo test"],
                   "test_output": "test result: ok"}),
        ))
        .await;
    assert_eq!(reported["is_error"], false, "{reported}");
    s.quit().await;

    // A round for the stored run: its state comes from the trail, the decision joins it.
    let round = h
        .fusion(&["loop", "--config", config, "--run", "export-1", "--json"])
        .await;
    assert_eq!(round.code, 0, "{}", round.stderr);
    let round = round.json();
    assert_eq!(round["run_id"], "export-1");
    assert_eq!(round["step"], 2, "one report so far: step 2");
    assert_eq!(round["decision"]["status"], "continue");
    assert_eq!(round["decision_seq"], 1);
    let other = h
        .fusion(&[
            "loop",
            "--config",
            config,
            "--run",
            "export-1",
            "Another goal",
        ])
        .await;
    assert_eq!(other.code, 2, "the objective is frozen: {}", other.stderr);

    let status = h
        .fusion(&["loop", "--config", config, "status", "export-1", "--json"])
        .await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let view = status.json();
    assert_eq!(view["status"], "continue");
    assert_eq!(view["reports"], 1);
    assert_eq!(view["decisions"], 1);
    let listed = h.fusion(&["loop", "--config", config, "list"]).await;
    assert!(listed.stdout.contains("export-1"), "{}", listed.stdout);
    let missing = h
        .fusion(&["loop", "--config", config, "status", "nope"])
        .await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("no loop run with id `nope`"));

    let out = h.dir.path().join("trail");
    let export = h
        .fusion(&[
            "loop",
            "--config",
            config,
            "export",
            "export-1",
            out.to_str().unwrap(),
        ])
        .await;
    assert_eq!(export.code, 0, "{}", export.stderr);
    for file in [
        "run.json",
        "reports/001.json",
        "decisions/001.json",
        "README.md",
    ] {
        assert!(
            out.join(file).is_file(),
            "{file} missing: {}",
            export.stdout
        );
    }
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        run["run"]["acceptance_criteria"],
        json!(["cargo test passes"])
    );
    assert_eq!(run["records"]["report"], 1);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("reports/001.json")).unwrap())
            .unwrap();
    assert_eq!(report["summary"], "guarded the empty input");
    assert_eq!(report["seq"], 1);
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.contains("# Loop run export-1"), "{readme}");
    assert!(readme.contains("Fix the parser") && readme.contains("- cargo test passes"));
    assert!(readme.contains("[report 1](reports/001.json) | guarded the empty input"));
    assert!(readme.contains("[decision 1](decisions/001.json) | continue"));
}
