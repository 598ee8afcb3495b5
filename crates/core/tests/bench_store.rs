//! Benchmark runs and results in the store (migration 0007) on SQLite and PostgreSQL: a run's
//! status moves on, a result is written once (a resumed run cannot redo or overwrite it), and
//! measured quality is the mean score per model and category of the answered results only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, TestStore};
use fusion_core::store::{BenchResultRow, BenchRunRow, MeasuredQuality};
use serde_json::json;

fn result(task: &str, model: &str, attempt: u32, category: &str, score: f64) -> BenchResultRow {
    BenchResultRow {
        run_id: "bench-1".into(),
        task_id: task.into(),
        model: model.into(),
        attempt,
        suite: "builtin".into(),
        category: category.into(),
        score,
        latency_ms: 120,
        output_tokens: 40,
        cost_usd: 0.0,
        error: None,
        detail: Some(json!({"passed": score > 0.5})),
        created_ms: 1_000 + i64::from(attempt),
    }
}

async fn results_are_kept_once_and_measured_quality_averages_answered_rows(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let run = BenchRunRow {
        id: "bench-1".into(),
        suites: "builtin".into(),
        spec: json!({"models": ["good", "bad"], "runs_per_task": 2}),
        status: "running".into(),
        created_ms: 1_000,
        finished_ms: None,
    };
    store.insert_bench_run(&run).await.unwrap();
    assert!(
        store.insert_bench_run(&run).await.is_err(),
        "ids are unique"
    );
    for (task, model, attempt, score) in [
        ("fizzbuzz", "good", 1, 1.0),
        ("fizzbuzz", "good", 2, 1.0),
        ("fizzbuzz", "bad", 1, 0.0),
        ("fizzbuzz", "bad", 2, 1.0),
    ] {
        assert!(
            store
                .put_bench_result(&result(task, model, attempt, "code", score))
                .await
                .unwrap()
        );
    }
    // A resumed run offering the same row again changes nothing.
    assert!(
        !store
            .put_bench_result(&result("fizzbuzz", "bad", 1, "code", 1.0))
            .await
            .unwrap()
    );
    let mut failed = result("sum", "bad", 1, "reasoning", 0.0);
    failed.error = Some("upstream 500".into());
    store.put_bench_result(&failed).await.unwrap();
    store
        .set_bench_run_status("bench-1", "completed", Some(2_000))
        .await
        .unwrap();

    let read = store.bench_run("bench-1").await.unwrap().unwrap();
    assert_eq!(
        (read.status.as_str(), read.finished_ms),
        ("completed", Some(2_000))
    );
    assert_eq!(read.spec["runs_per_task"], 2);
    assert!(store.bench_run("nope").await.unwrap().is_none());
    assert_eq!(store.bench_runs(10).await.unwrap().len(), 1);
    let rows = store.bench_results(Some("bench-1")).await.unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[0].detail.as_ref().unwrap()["passed"],
        false,
        "{:?}",
        rows[0]
    );
    assert_eq!(store.bench_results(Some("other")).await.unwrap().len(), 0);
    assert_eq!(store.bench_results(None).await.unwrap().len(), 5);

    // By suite: the newest runs of exactly that suite, in one query.
    assert_eq!(
        store
            .bench_results_of_suite("builtin", 5)
            .await
            .unwrap()
            .len(),
        5
    );
    assert!(
        store
            .bench_results_of_suite("eval:council", 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .bench_results_of_suite("builtin", 0)
            .await
            .unwrap()
            .is_empty()
    );
    let measured = store.measured_quality().await.unwrap();
    assert_eq!(
        measured,
        [
            MeasuredQuality {
                model: "bad".into(),
                category: "code".into(),
                n: 2,
                mean_score: 0.5
            },
            MeasuredQuality {
                model: "good".into(),
                category: "code".into(),
                n: 2,
                mean_score: 1.0
            },
        ],
        "the failed call counts for no quality"
    );
}

fusion_test_support::on_both_backends!(
    results_are_kept_once_and_measured_quality_averages_answered_rows
);
