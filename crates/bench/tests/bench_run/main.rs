//! The benchmark runner against mock-provider models, on SQLite and PostgreSQL: a model that
//! answers code tasks right scores above one that answers wrong, every call reaches the usage
//! ledger and the store, a paid model's cost comes from its price, failed and slow calls are
//! recorded as errors (no score), the parallel limit holds, and an interrupted run resumes
//! without redoing what it recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fusion_bench::run::{
    BenchError, BenchSpec, Progress, RunStatus, RunSummary, new_run_id, run_bench, stored_spec,
};
use fusion_bench::suite::TaskKind;
use fusion_core::providers::{ProviderRegistry, as_caller};
use fusion_core::store::{Caller, Store, UsageFilter};
use support::{Backend, TestStore, builtin, world};
use tokio_util::sync::CancellationToken;

fn quality(summary: &RunSummary, model: &str, category: &str) -> f64 {
    summary
        .stats
        .iter()
        .find(|s| s.model == model && s.category == category)
        .unwrap_or_else(|| panic!("no stats for {model}/{category}: {:?}", summary.stats))
        .quality
}

async fn run(
    registry: &ProviderRegistry,
    store: &Store,
    spec: &BenchSpec,
    run_id: &str,
) -> RunSummary {
    let cancel = CancellationToken::new();
    as_caller(
        Caller::Cli,
        run_bench(registry, store, spec, run_id, &cancel, |_| {}),
    )
    .await
    .unwrap()
}

async fn right_code_scores_above_wrong_code_and_every_call_is_recorded(backend: Backend) {
    let t = TestStore::new(backend).await;
    let suites = builtin(TaskKind::Code);
    let (_mock, registry, ledger) = world(&t.store, &suites).await;
    let spec = BenchSpec::new(vec!["good".into(), "bad".into()], suites);
    let run_id = new_run_id();
    let summary = run(&registry, &t.store, &spec, &run_id).await;

    assert_eq!(summary.status, RunStatus::Completed);
    let tasks = spec.task_count();
    assert_eq!(
        (summary.total, summary.ran, summary.failed),
        (2 * tasks, 2 * tasks, 0)
    );
    assert_eq!(quality(&summary, "good", "code"), 1.0);
    assert_eq!(quality(&summary, "bad", "code"), 0.0);

    let rows = t.store.bench_results(Some(&run_id)).await.unwrap();
    assert_eq!(rows.len(), 2 * tasks);
    let row = rows.iter().find(|r| r.model == "good").unwrap();
    assert_eq!(
        (row.suite.as_str(), row.category.as_str()),
        ("builtin:code", "code")
    );
    assert!(row.output_tokens > 0);
    let detail = row.detail.as_ref().unwrap();
    assert_eq!(detail["validator"], "code");
    assert_eq!(detail["passed"], true);
    let stored = t.store.bench_run(&run_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "completed");
    assert!(stored.finished_ms.is_some());
    assert_eq!(stored.suites, "builtin:code");
    assert_eq!(BenchSpec::from_json(&stored.spec).unwrap(), spec);

    ledger.flush().await.unwrap();
    let usage = t
        .store
        .usage_report(&UsageFilter {
            caller: Some(Caller::Cli),
            ..UsageFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        usage.total.calls,
        2 * tasks as u64,
        "every call is in the ledger"
    );
    let measured = t.store.measured_quality().await.unwrap();
    assert!(
        measured
            .iter()
            .any(|m| m.model == "bad" && m.mean_score == 0.0)
    );
}

async fn a_paid_model_costs_its_price_and_failed_or_slow_calls_score_nothing(backend: Backend) {
    let t = TestStore::new(backend).await;
    let suites = builtin(TaskKind::Reasoning);
    let (_mock, registry, _ledger) = world(&t.store, &suites).await;
    let mut spec = BenchSpec::new(vec!["priced".into(), "down".into(), "slow".into()], suites);
    spec.timeout = Duration::from_secs(1);
    spec.parallel = 8;
    let run_id = new_run_id();
    let summary = run(&registry, &t.store, &spec, &run_id).await;
    assert_eq!(summary.status, RunStatus::Completed, "priced answered");
    let rows = t.store.bench_results(Some(&run_id)).await.unwrap();
    for row in rows.iter().filter(|r| r.model == "priced") {
        assert!(row.error.is_none(), "{row:?}");
        assert_eq!(row.score, 1.0, "{row:?}");
        assert!(row.cost_usd > 0.0, "a paid model's call costs: {row:?}");
    }
    let down = rows.iter().find(|r| r.model == "down").unwrap();
    assert!(down.error.as_deref().unwrap().contains("500"), "{down:?}");
    let slow = rows.iter().find(|r| r.model == "slow").unwrap();
    assert_eq!(slow.error.as_deref(), Some("no answer within 1s"));
    let stats = &summary.stats;
    let down_stats = stats.iter().find(|s| s.model == "down").unwrap();
    assert_eq!(
        (down_stats.n, down_stats.errors),
        (0, spec.task_count() as u64),
        "failed calls are no score"
    );
}

async fn a_run_where_every_call_fails_is_failed(backend: Backend) {
    let t = TestStore::new(backend).await;
    let suites = builtin(TaskKind::Extraction);
    let (_mock, registry, _ledger) = world(&t.store, &suites).await;
    let spec = BenchSpec::new(vec!["down".into()], suites);
    let run_id = new_run_id();
    let summary = run(&registry, &t.store, &spec, &run_id).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let stored = t.store.bench_run(&run_id).await.unwrap().unwrap();
    assert_eq!(stored.status, "failed");
}

async fn an_interrupted_run_resumes_without_redoing_what_it_recorded(backend: Backend) {
    let t = TestStore::new(backend).await;
    let suites = builtin(TaskKind::Code);
    let (mock, registry, _ledger) = world(&t.store, &suites).await;
    let mut spec = BenchSpec::new(vec!["good".into(), "bad".into()], suites);
    spec.runs_per_task = 2;
    let run_id = new_run_id();

    // The first session is cancelled once five results are stored.
    let cancel = CancellationToken::new();
    let finished = AtomicUsize::new(0);
    let first = run_bench(&registry, &t.store, &spec, &run_id, &cancel, |p| {
        if let Progress::Finished { .. } = p
            && finished.fetch_add(1, Ordering::SeqCst) + 1 == 5
        {
            cancel.cancel();
        }
    })
    .await
    .unwrap();
    assert_eq!(first.status, RunStatus::Interrupted);
    let recorded = t.store.bench_results(Some(&run_id)).await.unwrap();
    assert!(
        recorded.len() >= 5 && recorded.len() < spec.call_count(),
        "{}",
        recorded.len()
    );
    let stored = t.store.bench_run(&run_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.finished_ms),
        ("interrupted", None)
    );

    // The second session takes the spec from the store and makes only the missing calls.
    mock.clear_requests();
    let resumed_spec = stored_spec(&t.store, &run_id).await.unwrap();
    let started = std::sync::Mutex::new(None);
    let cancel = CancellationToken::new();
    let second = run_bench(&registry, &t.store, &resumed_spec, &run_id, &cancel, |p| {
        if let Progress::Started { recorded, .. } = p {
            *started.lock().unwrap() = Some(recorded);
        }
    })
    .await
    .unwrap();
    assert_eq!(second.status, RunStatus::Completed);
    assert_eq!(*started.lock().unwrap(), Some(recorded.len()));
    assert_eq!(second.recorded_before, recorded.len());
    assert_eq!(second.ran, spec.call_count() - recorded.len());
    assert_eq!(
        mock.requests().len(),
        spec.call_count() - recorded.len(),
        "no recorded call is made again"
    );
    let all = t.store.bench_results(Some(&run_id)).await.unwrap();
    assert_eq!(all.len(), spec.call_count());
    for old in &recorded {
        let now = all
            .iter()
            .find(|r| (&r.task_id, &r.model, r.attempt) == (&old.task_id, &old.model, old.attempt))
            .unwrap();
        assert_eq!(now, old, "a recorded result is kept as it was");
    }
    assert_eq!(quality(&second, "good", "code"), 1.0);
}

async fn a_run_id_cannot_be_resumed_with_other_work(backend: Backend) {
    let t = TestStore::new(backend).await;
    let suites = builtin(TaskKind::Reasoning);
    let (_mock, registry, _ledger) = world(&t.store, &suites).await;
    let spec = BenchSpec::new(vec!["good".into()], suites.clone());
    let run_id = new_run_id();
    run(&registry, &t.store, &spec, &run_id).await;
    let other = BenchSpec::new(vec!["bad".into()], suites);
    let cancel = CancellationToken::new();
    let err = run_bench(&registry, &t.store, &other, &run_id, &cancel, |_| {})
        .await
        .unwrap_err();
    assert!(
        err.is_usage() && err.to_string().contains("other models"),
        "{err}"
    );
    let missing = stored_spec(&t.store, "bench_nope").await.unwrap_err();
    assert!(matches!(missing, BenchError::RunNotFound(_)), "{missing}");
}

fusion_test_support::on_both_backends!(
    right_code_scores_above_wrong_code_and_every_call_is_recorded,
    a_paid_model_costs_its_price_and_failed_or_slow_calls_score_nothing,
    a_run_where_every_call_fails_is_failed,
    an_interrupted_run_resumes_without_redoing_what_it_recorded,
    a_run_id_cannot_be_resumed_with_other_work,
);

#[tokio::test]
async fn unknown_models_are_refused_naming_the_known_ones() {
    let t = TestStore::new(Backend::Sqlite).await;
    let suites = builtin(TaskKind::Code);
    let (mock, registry, _ledger) = world(&t.store, &suites).await;
    let spec = BenchSpec::new(vec!["good".into(), "gpt-9".into()], suites);
    let cancel = CancellationToken::new();
    let err = run_bench(&registry, &t.store, &spec, "bench_x", &cancel, |_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`gpt-9`") && text.contains("good, priced, slow"),
        "{text}"
    );
    assert!(mock.requests().is_empty(), "nothing ran");
    assert!(
        t.store.bench_run("bench_x").await.unwrap().is_none(),
        "no run recorded"
    );
}

#[tokio::test]
async fn no_more_calls_than_the_parallel_limit_are_in_flight() {
    let t = TestStore::new(Backend::Sqlite).await;
    let suites = builtin(TaskKind::Reasoning);
    let (mock, registry, _ledger) = world(&t.store, &suites).await;
    let mut script = mock.script();
    script
        .models
        .insert("good".into(), support::right(&suites).with_latency_ms(100));
    mock.set_script(script);
    let mut spec = BenchSpec::new(vec!["good".into()], suites);
    spec.parallel = 3;
    run(&registry, &t.store, &spec, &new_run_id()).await;
    let most = mock.max_in_flight();
    assert!(
        (1..=3).contains(&most),
        "{most} calls were in flight at once"
    );
}

/// A run can be spawned (an MCP tool runs it on the task queue): its future is `Send` when
/// its progress callback is.
#[allow(dead_code)]
fn a_run_can_be_spawned(
    registry: std::sync::Arc<ProviderRegistry>,
    store: Store,
    spec: BenchSpec,
    cancel: CancellationToken,
) {
    tokio::spawn(
        async move { run_bench(&registry, &store, &spec, "bench_x", &cancel, |_| {}).await },
    );
}
