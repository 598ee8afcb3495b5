//! Loop runs in the store and the gate over them, with the same test bodies on SQLite (a file
//! in a tempdir) and on PostgreSQL (a fresh database per test on the server in
//! `FUSION_TEST_POSTGRES_URL`, from scripts/postgres.sh; without it the PostgreSQL variants
//! fail, never pass silently). Model calls go to the mock provider; checks and reviews the
//! client supplies are recorded without one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::{Backend, TestStore};
use fusion_core::ErrorKind;
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{LoopRecordKind, LoopRunRow, Store};
use fusion_looped::{
    CheckStatus, ClientCheck, DecisionSource, DecisionStatus, LoopRuns, NewRun, Report, Route,
    RunStatus, Supplied, client_council,
};
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use serde_json::json;

fn run_row(id: &str) -> LoopRunRow {
    LoopRunRow {
        id: id.into(),
        objective: "add --version".into(),
        acceptance_criteria: vec!["prints the version".into(), "has a test".into()],
        status: "started".into(),
        first_prompt: "do it".into(),
        created_ms: 1_000,
        updated_ms: 1_000,
        caller: "cli".into(),
    }
}

async fn runs_and_records_round_trip_and_number_each_kind_from_one(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    assert!(store.insert_loop_run(&run_row("r1")).await.unwrap());
    assert!(
        !store.insert_loop_run(&run_row("r1")).await.unwrap(),
        "a second run with the same id is refused"
    );
    assert_eq!(store.loop_run("r1").await.unwrap().unwrap(), run_row("r1"));
    assert!(store.loop_run("nope").await.unwrap().is_none());

    let report = json!({"summary": "first"});
    for (kind, status, expect) in [
        (LoopRecordKind::Report, Some("reported"), 1),
        (LoopRecordKind::Report, Some("reported"), 2),
        (LoopRecordKind::Check, Some("checked"), 1),
        (LoopRecordKind::Decision, None, 1),
    ] {
        let seq = store
            .append_loop_record("r1", kind, &report, status, 2_000 + i64::from(expect))
            .await
            .unwrap();
        assert_eq!(seq, Some(expect), "{kind:?}");
    }
    let run = store.loop_run("r1").await.unwrap().unwrap();
    assert_eq!(
        run.status, "checked",
        "a record without a status keeps the run's"
    );
    assert_eq!(run.updated_ms, 2_001);
    let all = store.loop_records("r1", None).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].body, report);
    let reports = store
        .loop_records("r1", Some(LoopRecordKind::Report))
        .await
        .unwrap();
    assert_eq!(
        reports.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let latest = store
        .latest_loop_record("r1", LoopRecordKind::Report)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.seq, 2);

    assert_eq!(
        store
            .append_loop_record("ghost", LoopRecordKind::Report, &report, None, 3_000)
            .await
            .unwrap(),
        None,
        "nothing is appended to an unknown run"
    );
    assert!(store.loop_records("ghost", None).await.unwrap().is_empty());
    assert!(
        store
            .set_loop_status("r1", "complete", 4_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_loop_status("ghost", "complete", 4_000)
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_loop_runs(10).await.unwrap()[0].status,
        "complete"
    );
}

async fn concurrent_appends_each_get_their_own_seq(backend: Backend) {
    let t = TestStore::new(backend).await;
    t.store.insert_loop_run(&run_row("r")).await.unwrap();
    let appends = (0..8).map(|i| {
        let store = t.store.clone();
        tokio::spawn(async move {
            store
                .append_loop_record("r", LoopRecordKind::Report, &json!({"i": i}), None, 5)
                .await
                .unwrap()
                .unwrap()
        })
    });
    let mut seqs: Vec<u32> = join_seqs(appends).await;
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
}

async fn join_seqs(handles: impl Iterator<Item = tokio::task::JoinHandle<u32>>) -> Vec<u32> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

const DONE: &str = r#"{"status": "done", "confidence": 0.93, "risk": "low",
  "missing_requirements": [], "likely_bugs": [], "verification_gaps": [],
  "exact_next_actions": [], "evidence_used": ["cargo test version"],
  "recommended_route": "stop", "handoff_reason": "the version test passes"}"#;

fn config(base_url: &str, url: &str) -> Config {
    let config: Config = toml::from_str(&format!(
        r#"
        [storage]
        url = "{url}"

        [[providers]]
        name = "mock"
        kind = "openai"
        base_url = "{base_url}"
        retries = 0
        timeout = "10s"

        [[models]]
        id = "checker"
        provider = "mock"

        [loop]
        roles.checker = ["checker"]
        "#
    ))
    .unwrap();
    config.validate(std::path::Path::new("test.toml")).unwrap();
    config
}

fn report() -> Report {
    Report {
        summary: "added --version".into(),
        changed_files: vec!["src/cli.rs".into()],
        tests: vec!["cargo test version".into()],
        test_output: "test version ... ok".into(),
        ..Report::default()
    }
}

async fn a_run_survives_reopening_the_store_and_completes_on_a_done_check(backend: Backend) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(Script::new().with_model("checker", ModelScript::fixed(DONE)))
        .await
        .unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);
    let run = runs
        .start(NewRun {
            objective: "add --version".into(),
            acceptance_criteria: vec!["prints the version".into(), " ".into()],
            run_id: Some("build-1".into()),
        })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Started);
    assert_eq!(
        run.acceptance_criteria,
        vec!["prints the version"],
        "blank criteria dropped"
    );
    assert!(run.first_prompt.contains("prints the version"));
    runs.report("build-1", report()).await.unwrap();
    t.store.close().await;

    // A new process: the same store, opened again.
    let store = Store::open(Some(&t.url)).await.unwrap();
    let runs = LoopRuns::new(&store, &registry, &config);
    let status = runs.status("build-1").await.unwrap();
    assert_eq!(status.run.status, RunStatus::Reported);
    assert_eq!(status.reports, 1);
    assert_eq!(
        status.latest_report.unwrap().record.summary,
        "added --version"
    );

    let next = runs.next("build-1").await.unwrap();
    assert_eq!(next.decision.status, DecisionStatus::Complete);
    assert_eq!(next.decision.route, Some(Route::Stop));
    assert_eq!(next.decision.source, DecisionSource::Gate);
    assert!(
        next.steps_taken
            .iter()
            .any(|s| s.contains("looped_check_work")),
        "the unchecked report was checked on the way: {:?}",
        next.steps_taken
    );
    let status = runs.status("build-1").await.unwrap();
    assert_eq!(status.run.status, RunStatus::Complete);
    assert_eq!(
        status.latest_check.unwrap().record.status,
        CheckStatus::Done
    );
    assert_eq!(status.decisions, 1);

    let refused = runs.report("build-1", report()).await.unwrap_err();
    assert!(
        matches!(refused.kind(), ErrorKind::LoopRunClosed { .. }),
        "{refused}"
    );
    let refused = runs.deliberate("build-1", None).await.unwrap_err();
    assert!(
        matches!(refused.kind(), ErrorKind::LoopRunClosed { .. }),
        "{refused}"
    );
    let again = runs.next("build-1").await.unwrap();
    assert_eq!(
        again.decision_seq, next.decision_seq,
        "a complete run answers the same"
    );
    let unknown = runs.status("nope").await.unwrap_err();
    assert!(matches!(unknown.kind(), ErrorKind::LoopRunNotFound { .. }));
    store.close().await;
}

async fn a_checker_that_answers_json_on_its_retry_is_used_and_the_retry_is_noted(backend: Backend) {
    let t = TestStore::new(backend).await;
    let script = Script::new().with_model(
        "checker",
        ModelScript::sequence(["Looks done to me.", DONE]),
    );
    let mock = MockProvider::start(script).await.unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);
    let run = runs
        .start(NewRun {
            objective: "add --version".into(),
            ..NewRun::default()
        })
        .await
        .unwrap();
    let check = runs
        .check(&run.run_id, Some("CI: green"), Some(report()))
        .await
        .unwrap();
    assert_eq!(
        check.record.report_seq, 1,
        "the inline report was recorded first"
    );
    assert_eq!(check.record.status, CheckStatus::Done);
    assert_eq!(check.record.recommended_route, Route::Stop);
    assert!(
        check.record.degradation_reasons[0].contains("its retry was"),
        "{:?}",
        check.record.degradation_reasons
    );
    assert!(check.record.raw_output.is_none());
}

async fn a_client_check_done_with_high_confidence_completes_the_run_without_a_model_call(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(Script::new().with_model("checker", ModelScript::fixed(DONE)))
        .await
        .unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);
    let run = runs
        .start(NewRun {
            objective: "add --version".into(),
            ..NewRun::default()
        })
        .await
        .unwrap();
    let refused = runs
        .record_check(
            &run.run_id,
            &ClientCheck::new(CheckStatus::Done, Some(0.95)),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("no report"), "{refused}");

    let supplied = Supplied {
        report: Some(report()),
        check: Some(ClientCheck::new(CheckStatus::Done, Some(0.95))),
        review: None,
    };
    let next = runs.next_with(&run.run_id, supplied).await.unwrap();
    assert_eq!(next.decision.status, DecisionStatus::Complete);
    assert_eq!(next.decision.source, DecisionSource::Gate);
    assert_eq!(next.decision.check_seq, Some(1));
    assert!(mock.requests().is_empty(), "no model was asked");
    let status = runs.status(&run.run_id).await.unwrap();
    assert_eq!((status.reports, status.checks), (1, 1));
    let check = status.latest_check.unwrap().record;
    assert_eq!(check.model.as_deref(), Some("client"));
    assert_eq!(check.report_seq, 1);

    let again = runs
        .next_with(
            &run.run_id,
            Supplied {
                report: Some(report()),
                ..Supplied::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        again.decision_seq, next.decision_seq,
        "a complete run answers the same"
    );
    assert_eq!(runs.status(&run.run_id).await.unwrap().reports, 1);
}

async fn a_client_review_answers_the_latest_check_so_the_gate_holds_no_council_of_its_own(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(Script::new().with_model("checker", ModelScript::fixed(DONE)))
        .await
        .unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);
    let run = runs
        .start(NewRun {
            objective: "add --version".into(),
            ..NewRun::default()
        })
        .await
        .unwrap();
    runs.report(&run.run_id, report()).await.unwrap();
    let check = runs
        .record_check(
            &run.run_id,
            &ClientCheck::new(CheckStatus::Uncertain, Some(0.4)),
        )
        .await
        .unwrap();
    assert_eq!(check.record.recommended_route, Route::FusionReview);
    let review = runs
        .record_review(
            &run.run_id,
            client_council("the Windows path is unverified"),
        )
        .await
        .unwrap();
    assert_eq!(review.record.council, "client");
    assert_eq!(review.record.check_seq, Some(check.seq));
    let next = runs.next(&run.run_id).await.unwrap();
    assert_eq!(next.decision.review_seq, Some(review.seq));
    assert!(
        !next
            .steps_taken
            .iter()
            .any(|s| s.contains("looped_fuse_review")),
        "{:?}",
        next.steps_taken
    );

    // A review given for a report without a check: the server's checker checks it first.
    let supplied = Supplied {
        report: Some(report()),
        review: Some(client_council("looks complete")),
        ..Supplied::default()
    };
    let next = runs.next_with(&run.run_id, supplied).await.unwrap();
    let steps = next.steps_taken.join(" | ");
    assert!(
        steps.contains("looped_check_work") && steps.contains("council client"),
        "{steps}"
    );
    assert_eq!(next.decision.status, DecisionStatus::Complete, "{steps}");
    let status = runs.status(&run.run_id).await.unwrap();
    assert_eq!((status.reports, status.checks, status.reviews), (2, 2, 2));
    assert_eq!(status.latest_review.unwrap().final_answer, "looks complete");
}

fusion_test_support::on_both_backends!(
    runs_and_records_round_trip_and_number_each_kind_from_one,
    concurrent_appends_each_get_their_own_seq,
    a_run_survives_reopening_the_store_and_completes_on_a_done_check,
    a_checker_that_answers_json_on_its_retry_is_used_and_the_retry_is_noted,
    a_client_check_done_with_high_confidence_completes_the_run_without_a_model_call,
    a_client_review_answers_the_latest_check_so_the_gate_holds_no_council_of_its_own,
);
