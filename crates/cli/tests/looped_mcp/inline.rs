//! The step's evidence given inline, as local-fusion's clients send it: looped_next with a
//! `report` and the client's own `check` completes without asking any model; a `fusion_review`
//! the client ran is recorded as the review (council `client`) and spares the server's
//! council; looped_fuse_review records an inline report and check before its council reviews;
//! malformed inline evidence is an `invalid_arguments` error naming the field, and records
//! nothing.

use serde_json::{Value, json};

use super::common::Harness;
use super::common::mcp_session::Session;
use super::{call, refused, script, session};

/// Starts a run and returns its id.
async fn start(s: &mut Session) -> String {
    let started = call(
        s,
        "looped_start",
        json!({"objective": "Add a --version flag to the CLI",
               "acceptance_criteria": ["`fusion --version` prints the version"]}),
    )
    .await;
    started["structured"]["run_id"].as_str().unwrap().to_owned()
}

fn report(scenario: &str) -> Value {
    json!({"summary": format!("{scenario}: added the flag"), "changedFiles": ["src/cli.rs"],
           "testsRun": ["cargo test version"], "testOutput": "test version_flag ... ok"})
}

/// A call that must be a tool error classed `invalid_arguments`; returns its text.
async fn invalid(s: &mut Session, tool: &str, args: Value) -> String {
    let answer = s
        .ok(json!({"op": "call", "tool": tool, "args": args}))
        .await;
    assert_eq!(answer["is_error"], true, "{tool} should fail: {answer}");
    assert_eq!(
        answer["structured"]["error"]["class"], "invalid_arguments",
        "{answer}"
    );
    answer["text"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn looped_next_with_an_inline_report_and_a_done_check_completes_without_asking_a_model() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start(&mut s).await;
    let next = call(
        &mut s,
        "looped_next",
        json!({"runId": run_id, "report": report("INLINE"),
               "check": {"status": "done", "confidence": 0.95,
                         "evidenceUsed": ["test version_flag ... ok"]}}),
    )
    .await;
    let decision = &next["structured"];
    assert_eq!(decision["status"], "complete", "{next}");
    assert_eq!(decision["route"], "stop");
    assert_eq!(decision["source"], "gate");
    let steps = decision["steps_taken"].to_string();
    assert!(
        steps.contains("report given with the call") && steps.contains("check given"),
        "{steps}"
    );
    assert!(
        h.mock.requests().is_empty(),
        "no model is asked: {:?}",
        h.mock.requests().len()
    );

    let status = call(&mut s, "looped_status", json!({"run_id": run_id})).await;
    let view = &status["structured"];
    assert_eq!(view["status"], "complete", "{status}");
    assert_eq!(
        (view["reports"].clone(), view["checks"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(view["latest_check"]["model"], "client");
    assert_eq!(view["latest_check"]["report_seq"], 1);
    assert_eq!(
        view["latest_report"]["tests"],
        json!(["cargo test version"])
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn looped_next_records_an_inline_fusion_review_as_the_clients_and_holds_no_council_of_its_own()
 {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start(&mut s).await;
    // The client ran its own council: fusion_ask's whole result is the review.
    let asked = call(
        &mut s,
        "fusion_ask",
        json!({"prompt": "Is the --version flag done?"}),
    )
    .await;
    let council_result = asked["structured"].clone();
    assert_eq!(council_result["final_answer"], "FINAL: add a Windows test.");
    h.mock.clear_requests();

    let next = call(
        &mut s,
        "looped_next",
        json!({"run_id": run_id, "report": report("INLINE"),
               "check": {"status": "uncertain", "confidence": 0.4,
                         "verificationGaps": ["no test output for the Windows path"]},
               "fusionReview": council_result}),
    )
    .await;
    let decision = &next["structured"];
    assert_eq!(decision["status"], "continue", "{next}");
    assert_eq!(decision["source"], "conductor");
    assert_eq!(decision["review_seq"], 1);
    let steps = decision["steps_taken"].to_string();
    assert!(steps.contains("council client"), "{steps}");
    assert!(!steps.contains("looped_fuse_review"), "{steps}");
    for model in ["checker", "m-a", "m-b", "judge", "synth"] {
        assert!(
            h.mock.requests_for(model).is_empty(),
            "{model} was asked; only the conductor should be"
        );
    }

    let status = call(&mut s, "looped_status", json!({"run_id": run_id})).await;
    let view = &status["structured"];
    assert_eq!(view["reviews"], 1, "{status}");
    assert_eq!(view["latest_review"]["council"], "client");
    assert_eq!(
        view["latest_review"]["final_answer"],
        "FINAL: add a Windows test."
    );

    // A partial review (just the answer) is completed and noted as the client's.
    let next = call(
        &mut s,
        "looped_next",
        json!({"run_id": run_id, "report": report("INLINE-2"),
               "check": {"status": "uncertain"},
               "fusion_review": {"finalAnswer": "Windows still needs a test."}}),
    )
    .await;
    assert_eq!(next["structured"]["review_seq"], 2, "{next}");
    let status = call(&mut s, "looped_status", json!({"run_id": run_id})).await;
    assert_eq!(
        status["structured"]["latest_review"]["final_answer"],
        "Windows still needs a test."
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn looped_fuse_review_records_an_inline_report_and_check_before_its_council_reviews() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start(&mut s).await;
    let reviewed = call(
        &mut s,
        "looped_fuse_review",
        json!({"run_id": run_id, "report": report("INLINE"),
               "check": {"status": "incomplete", "confidence": 0.3, "risk": "high",
                         "missingRequirements": ["a Windows test"],
                         "recommendedRoute": "fusion_review"}}),
    )
    .await;
    let review = &reviewed["structured"]["review"];
    assert_eq!(review["council"], "default", "{reviewed}");
    assert_eq!(review["report_seq"], 1);
    assert_eq!(review["check_seq"], 1);
    assert_eq!(review["final_answer"], "FINAL: add a Windows test.");
    assert!(
        h.mock.requests_for("checker").is_empty(),
        "the client's check stands in for the server's checker"
    );

    let status = call(&mut s, "looped_status", json!({"run_id": run_id})).await;
    let check = &status["structured"]["latest_check"];
    assert_eq!(check["model"], "client", "{status}");
    assert_eq!(check["status"], "incomplete");
    assert_eq!(check["recommended_route"], "fusion_review");
    assert_eq!(check["missing_requirements"], json!(["a Windows test"]));
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_inline_evidence_is_an_invalid_arguments_error_naming_the_field_and_records_nothing()
 {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let run_id = start(&mut s).await;
    let with_check =
        |check: Value| json!({"run_id": run_id, "report": report("BAD"), "check": check});
    for (tool, args, names) in [
        (
            "looped_next",
            with_check(json!({"status": "done", "confidence": 2})),
            "`check.confidence` is 2",
        ),
        (
            "looped_fuse_review",
            with_check(json!({"status": "maybe"})),
            "`check.status` is `maybe`",
        ),
        (
            "looped_next",
            with_check(json!({"status": "done", "confidance": 0.9})),
            "unknown field `confidance`",
        ),
        (
            "looped_next",
            json!({"run_id": run_id, "fusion_review": {"final_answer": "ok", "verdict": "ship"}}),
            "unknown field `verdict`",
        ),
        (
            "looped_next",
            json!({"run_id": run_id, "report": {"run_id": "another-run", "summary": "s"}}),
            "report.run_id `another-run` is not run_id",
        ),
    ] {
        let error = invalid(&mut s, tool, args).await;
        assert!(error.contains(names), "{tool}: {error}");
    }
    let status = call(&mut s, "looped_status", json!({"run_id": run_id})).await;
    assert_eq!(
        status["structured"]["reports"], 0,
        "nothing was recorded: {status}"
    );

    let error = refused(
        &mut s,
        "looped_next",
        json!({"run_id": run_id, "check": {"status": "done", "confidence": 0.95}}),
    )
    .await;
    assert!(
        error.contains("no report"),
        "a check needs a report: {error}"
    );
    assert!(h.mock.requests().is_empty());
    s.quit().await;
}
