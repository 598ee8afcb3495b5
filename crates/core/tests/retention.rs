//! The store's bounded life (issue 21): usage rows past `storage.ledger_retention` are rolled
//! up into hourly totals that every report reads with the raw rows (the same figures before and
//! after), finished tasks and idle loop runs go after their own retentions while queued and
//! running tasks stay, and a simulated month of traffic keeps the row counts — and on SQLite
//! the file — bounded. Each body runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Backend, TestStore};

use fusion_core::store::rollup::hour_start;
use fusion_core::store::usage_series::usage_series;
use fusion_core::store::{
    Caller, LoopRecordKind, LoopRunRow, NewTask, RetentionPolicy, Store, StoreKind, TaskKind,
    UsageFilter, UsageRecord,
};
use sqlx::Row;

/// 2025-03-01T00:00:00Z.
const DAY1: i64 = 1_740_787_200_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A call at `at_ms`; `i` picks its model, provider, caller, outcome and figures. Costs are
/// multiples of 1/64 so every sum is exact whatever order the database adds in.
fn call(at_ms: i64, i: u64) -> UsageRecord {
    let callers = [Caller::Http, Caller::Mcp, Caller::Cli, Caller::Task];
    let routes = [
        ("openrouter", "llama"),
        ("local", "qwen"),
        ("anthropic", "claude"),
    ];
    let (provider, model) = routes[(i % 3) as usize];
    UsageRecord {
        at_ms,
        caller: callers[(i % 4) as usize],
        provider: provider.into(),
        model: model.into(),
        tokens_in: 10 + i % 7,
        tokens_out: 3 + i % 5,
        estimated: i.is_multiple_of(5),
        cost_usd: (i % 9) as f64 / 64.0,
        latency_ms: 20 + i % 13,
        outcome: if i.is_multiple_of(6) { "timeout" } else { "ok" }.into(),
    }
}

/// Calls every `step_ms` from `from_ms` (inclusive) to `to_ms` (exclusive).
fn calls(from_ms: i64, to_ms: i64, step_ms: i64) -> Vec<UsageRecord> {
    (0..)
        .map(|i| (from_ms + i * step_ms, i as u64))
        .take_while(|(at, _)| *at < to_ms)
        .map(|(at, i)| call(at, i))
        .collect()
}

fn policy(ledger: Duration) -> RetentionPolicy {
    RetentionPolicy {
        ledger,
        ..RetentionPolicy::default()
    }
}

/// Every report a reader can ask for over the sample: windows in the raw part and aligned to
/// the hour in the rolled-up part, and each filter.
fn filters(now: i64) -> Vec<UsageFilter> {
    let mut filters = vec![
        UsageFilter::default(),
        UsageFilter {
            since_ms: Some(now - 3 * HOUR - 17 * MINUTE),
            ..UsageFilter::default()
        },
        UsageFilter {
            since_ms: Some(DAY1 + 5 * HOUR),
            until_ms: Some(DAY1 + 2 * DAY + 7 * HOUR),
            ..UsageFilter::default()
        },
        UsageFilter {
            since_ms: Some(DAY1 + DAY),
            until_ms: Some(now - 90 * MINUTE),
            ..UsageFilter::default()
        },
    ];
    for base in filters.clone() {
        filters.push(UsageFilter {
            caller: Some(Caller::Mcp),
            ..base.clone()
        });
        filters.push(UsageFilter {
            provider: Some("local".into()),
            ..base.clone()
        });
        filters.push(UsageFilter {
            model: Some("claude".into()),
            caller: Some(Caller::Task),
            ..base
        });
    }
    filters
}

async fn snapshot(store: &Store, now: i64) -> Vec<String> {
    let mut answers = Vec::new();
    for filter in filters(now) {
        let report = store.usage_report(&filter).await.unwrap();
        answers.push(format!("{filter:?} => {report:?}"));
    }
    for since in [DAY1, DAY1 + DAY + 3 * HOUR, now - 2 * HOUR] {
        let days = store.usage_days(since).await.unwrap();
        for by_caller in [false, true] {
            let series = usage_series(
                &days,
                since,
                now,
                |d| match by_caller {
                    true => d.caller.as_str().to_owned(),
                    false => d.model.clone(),
                },
                10,
            );
            answers.push(format!("series since {since} => {series:?}"));
        }
    }
    answers
}

async fn raw_and_rolled(store: &Store) -> (u64, u64) {
    store.usage_row_counts().await.unwrap()
}

// ---- the test bodies, each run on both backends ----

async fn rolling_up_keeps_every_total_breakdown_and_series_equal(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    // Four days of calls every 7 minutes; "now" is the end of the fourth day.
    let now = DAY1 + 4 * DAY;
    let rows = calls(DAY1, now, 7 * MINUTE);
    store.insert_usage(&rows).await.unwrap();
    let before = snapshot(store, now).await;
    assert!(
        before[0].contains(&format!("calls: {}", rows.len())),
        "{}",
        before[0]
    );

    // Sum the hours up to two days ago, in small batches so hours are split across
    // transactions: raw rows stay, and every answer is the same.
    let outcome = store
        .roll_up_usage(now - 2 * DAY - 20 * MINUTE, 50, 0)
        .await
        .unwrap();
    assert!(outcome.done && outcome.batches >= 8, "{outcome:?}");
    let (raw, rolled) = raw_and_rolled(store).await;
    assert_eq!(raw, rows.len() as u64, "summing deletes nothing");
    assert!(rolled > 0, "{rolled} rollup rows");
    assert_eq!(store.rolled_until().await.unwrap(), now - 2 * DAY - HOUR);
    assert_eq!(
        snapshot(store, now).await,
        before,
        "the same answers after a rollup"
    );
    let again = store
        .roll_up_usage(now - 2 * DAY - MINUTE, 0, 0)
        .await
        .unwrap();
    assert_eq!((again.rows, again.done), (0, true), "nothing left to sum");

    // A pass with two days' retention sums up to an hour ago and deletes the raw rows older
    // than two days: every window starts and ends where raw rows are kept, or on the hour.
    let report = store
        .run_maintenance(&policy(Duration::from_secs(2 * 86_400)), now)
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.usage_rows_deleted > 0, "{report:?}");
    assert_eq!(
        snapshot(store, now).await,
        before,
        "the same answers after old rows are deleted"
    );

    // Ten days on, with an hour's retention, every row is summed and deleted. Windows
    // aligned to the hour still match exactly (the whole history, DAY1+5h..DAY1+2d+7h, each
    // with its filters, and the series, which count by day); the two that start or end
    // mid-hour count whole hours only.
    let later = now + 10 * DAY;
    let report = store
        .run_maintenance(&policy(Duration::from_secs(3_600)), later)
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        raw_and_rolled(store).await.0,
        0,
        "every row summed and deleted"
    );
    let after = snapshot(store, now).await;
    let aligned = [0, 2, 4, 5, 6, 10, 11, 12]
        .into_iter()
        .chain(16..after.len());
    for i in aligned {
        assert_eq!(after[i], before[i], "answer {i}");
    }
}

async fn a_row_written_after_its_hour_was_summed_is_counted_after_the_next_pass(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let now = DAY1 + 3 * DAY;
    store
        .insert_usage(&calls(DAY1, now, 13 * MINUTE))
        .await
        .unwrap();
    let retention = policy(Duration::from_secs(30 * 86_400));
    let report = store.run_maintenance(&retention, now).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let before = store.usage_report(&UsageFilter::default()).await.unwrap();
    // The ledger writes a call of three hours ago late (the store was unreachable meanwhile).
    store
        .insert_usage(&[call(now - 3 * HOUR + 5 * MINUTE, 7)])
        .await
        .unwrap();
    let report = store.run_maintenance(&retention, now + 10 * MINUTE).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.late_hours_resummed, 1, "{report:?}");
    let after = store.usage_report(&UsageFilter::default()).await.unwrap();
    assert_eq!(after.total.calls, before.total.calls + 1);
    let again = store.run_maintenance(&retention, now + 20 * MINUTE).await;
    assert_eq!(
        again.late_hours_resummed, 0,
        "the hour's sums match its rows now"
    );
}

async fn two_rollups_at_once_never_sum_a_row_twice(backend: Backend) {
    let t = TestStore::new(backend).await;
    // A second process on the same database (a replica, or `fusion mcp` beside `fusion serve`).
    let other = Store::open(Some(&t.url)).await.unwrap();
    let now = DAY1 + 2 * DAY;
    let rows = calls(DAY1, now, 3 * MINUTE);
    t.store.insert_usage(&rows).await.unwrap();
    let before = t.store.usage_report(&UsageFilter::default()).await.unwrap();
    let (a, b) = tokio::join!(
        t.store.roll_up_usage(now, 40, 0),
        other.roll_up_usage(now, 40, 0)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.rows + b.rows, rows.len() as u64, "{a:?} {b:?}");
    let summed: i64 = sqlx::query("SELECT CAST(SUM(calls) AS BIGINT) FROM usage_hourly")
        .fetch_one(t.store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(summed, rows.len() as i64, "each row summed once");
    let after = other.usage_report(&UsageFilter::default()).await.unwrap();
    assert_eq!(after, before);
    other.close().await;
}

async fn rows_older_than_the_retention_are_gone_and_the_rollups_hold_them(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let now = DAY1 + 40 * DAY + 25 * MINUTE;
    store
        .insert_usage(&calls(DAY1, now, 11 * MINUTE))
        .await
        .unwrap();
    let before = store.usage_report(&UsageFilter::default()).await.unwrap();
    let report = store
        .run_maintenance(&policy(Duration::from_secs(30 * 86_400)), now)
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.rollup_done && report.usage_rows_rolled_up > 0,
        "{report:?}"
    );
    let cutoff = hour_start(now - 30 * DAY);
    let oldest_raw: Option<i64> = sqlx::query("SELECT MIN(at_ms) FROM usage_events")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert!(
        oldest_raw.unwrap() >= cutoff,
        "no raw row before the cutoff"
    );
    let newest_rolled: i64 = sqlx::query("SELECT MAX(hour_ms) FROM usage_hourly")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(
        newest_rolled,
        hour_start(now - HOUR) - HOUR,
        "every whole hour that ended an hour ago is summed"
    );
    // One hour's rollup holds its calls' sums and their largest latency.
    let hour = sqlx::query(
        "SELECT CAST(SUM(calls) AS BIGINT), MAX(max_latency_ms) FROM usage_hourly \
         WHERE hour_ms = $1",
    )
    .bind(DAY1)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let in_hour = calls(DAY1, DAY1 + HOUR, 11 * MINUTE);
    assert_eq!(hour.try_get::<i64, _>(0).unwrap(), in_hour.len() as i64);
    let max = in_hour.iter().map(|c| c.latency_ms).max().unwrap();
    assert_eq!(hour.try_get::<i64, _>(1).unwrap(), max as i64);
    let after = store.usage_report(&UsageFilter::default()).await.unwrap();
    assert_eq!(after, before, "the report over everything is unchanged");
}

async fn task_retention_deletes_finished_tasks_and_keeps_queued_and_running_ones(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let now = DAY1 + 60 * DAY;
    let old = now - 40 * DAY;
    for (id, state) in [
        ("old-done", "completed"),
        ("old-failed", "failed"),
        ("old-cancelled", "cancelled"),
        ("old-queued", "queued"),
        ("old-running", "running"),
        ("new-done", "completed"),
    ] {
        let created = if id.starts_with("old") {
            old
        } else {
            now - DAY
        };
        store
            .insert_task(&NewTask {
                id: id.into(),
                kind: TaskKind::Completion,
                priority: 0,
                created_ms: created,
                seq: 1,
                slot_group: "local".into(),
                request: serde_json::json!({"prompt": "hi"}),
                decision: None,
                model: Some("m".into()),
                provider: Some("p".into()),
                caller: "cli".into(),
            })
            .await
            .unwrap();
        let finished = (!matches!(state, "queued" | "running")).then_some(created + 1_000);
        sqlx::query("UPDATE tasks SET state = $1, finished_ms = $2 WHERE id = $3")
            .bind(state)
            .bind(finished)
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO jobs (id, task_id, attempt, seq, label, model, provider, state, \
             cost_usd, tokens, cancel_requested) VALUES ($1, $2, 1, 1, 'attempt 1', 'm', 'p', \
             $3, 0, 0, 0)",
        )
        .bind(format!("job-{id}"))
        .bind(id)
        .bind(state)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let report = store
        .run_maintenance(&RetentionPolicy::default(), now)
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.tasks_deleted, 3);
    let ids = |table: &'static str, column: &'static str| async move {
        let rows = sqlx::query(&format!("SELECT {column} FROM {table} ORDER BY {column}"))
            .fetch_all(store.pool())
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids("tasks", "id").await,
        ["new-done", "old-queued", "old-running"]
    );
    assert_eq!(
        ids("jobs", "task_id").await,
        ["new-done", "old-queued", "old-running"],
        "the deleted tasks' jobs went with them"
    );
}

async fn loop_retention_deletes_idle_runs_with_their_trails(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let now = DAY1 + 60 * DAY;
    for (id, updated) in [("idle", now - 31 * DAY), ("recent", now - 2 * DAY)] {
        let run = LoopRunRow {
            id: id.into(),
            objective: "ship it".into(),
            acceptance_criteria: vec!["tests pass".into()],
            status: "running".into(),
            first_prompt: "go".into(),
            created_ms: updated,
            updated_ms: updated,
            caller: "mcp".into(),
        };
        assert!(store.insert_loop_run(&run).await.unwrap());
        store
            .append_loop_record(
                id,
                LoopRecordKind::Report,
                &serde_json::json!({}),
                None,
                updated,
            )
            .await
            .unwrap()
            .unwrap();
    }
    let report = store
        .run_maintenance(&RetentionPolicy::default(), now)
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loop_runs_deleted, 1);
    assert!(store.loop_run("idle").await.unwrap().is_none());
    assert!(store.loop_run("recent").await.unwrap().is_some());
    let trail: i64 = sqlx::query("SELECT COUNT(*) FROM loop_records WHERE run_id = 'idle'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(trail, 0, "the idle run's trail went with it");
}

async fn old_dashboard_history_and_stored_responses_follow_the_task_retention(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let now = DAY1 + 60 * DAY;
    for (id, at) in [("old", now - 31 * DAY), ("new", now - DAY)] {
        sqlx::query(
            "INSERT INTO stored_responses (id, seq, at_ms, model, input, response) \
             VALUES ($1, $2, $2, 'm', '[]', '{}')",
        )
        .bind(id)
        .bind(at)
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO routing_decisions (id, seq, at_ms, caller, summary, decision) \
             VALUES ($1, $2, $2, 'http', 's', '{}')",
        )
        .bind(id)
        .bind(at)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let report = store
        .run_maintenance(&RetentionPolicy::default(), now)
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.stored_responses_deleted, 1);
    assert_eq!(report.routing_decisions_deleted, 1);
    assert!(store.stored_response("old").await.unwrap().is_none());
    assert!(store.stored_response("new").await.unwrap().is_some());
}

/// Sixty days of traffic (a call every two minutes over four keys), a maintenance pass at the
/// end of each day with 30 days' retention: raw rows stay within the window, rollups within
/// hours × keys, and on SQLite a third month leaves the file about the size the second left.
async fn a_simulated_month_keeps_the_store_bounded(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let retention = policy(Duration::from_secs(30 * 86_400));
    let keys = 4;
    let per_day = 24 * 30;
    let days = if store.kind() == StoreKind::Sqlite {
        90
    } else {
        60
    };
    let day_of_calls = |day: i64| -> Vec<UsageRecord> {
        (0..per_day)
            .map(|m| {
                let mut c = call(DAY1 + day * DAY + m * 2 * MINUTE, m as u64);
                c.caller = [Caller::Http, Caller::Mcp][(m % 2) as usize];
                (c.provider, c.model) = ("p".into(), ["a", "b"][((m / 2) % 2) as usize].into());
                c.outcome = "ok".into();
                c.estimated = false;
                c
            })
            .collect()
    };
    let mut pages_after = Vec::new();
    for day in 0..days {
        store.insert_usage(&day_of_calls(day)).await.unwrap();
        let now = DAY1 + (day + 1) * DAY;
        let report = store.run_maintenance(&retention, now).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let (raw, rolled) = raw_and_rolled(store).await;
        assert!(
            raw <= 30 * per_day as u64,
            "day {day}: {raw} raw rows past the window"
        );
        let rolled_hours = u64::try_from((hour_start(now - HOUR) - DAY1) / HOUR).unwrap();
        assert_eq!(
            rolled,
            rolled_hours * keys,
            "day {day}: hours × keys of sums"
        );
        if day >= 30 {
            assert_eq!(
                raw,
                30 * per_day as u64,
                "day {day}: exactly the window's rows are raw"
            );
        }
        if store.kind() == StoreKind::Sqlite && (day == 29 || day == 59 || day == 89) {
            let pages: i64 = sqlx::query("PRAGMA page_count")
                .fetch_one(store.pool())
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
            let free: i64 = sqlx::query("PRAGMA freelist_count")
                .fetch_one(store.pool())
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
            assert_eq!(free, 0, "freed pages went back to the file system");
            pages_after.push(pages);
        }
    }
    let total = store.usage_report(&UsageFilter::default()).await.unwrap();
    assert_eq!(
        total.total.calls,
        (days * per_day) as u64,
        "no call lost to the rollups"
    );
    eprintln!("SQLite pages after the first three months: {pages_after:?}");
    if let [first, second, third] = pages_after[..] {
        // The first month is all raw rows. From then on a month turns a month of raw rows
        // into 720 hours × 4 keys of rollups, which is all the file may grow by: far less
        // than the month of raw rows it would grow by without retention.
        assert!(
            (third - second) * 4 <= first,
            "the file grew from {second} to {third} pages over a third month (a month of raw \
             rows takes {first})"
        );
        let wal = t.sqlite_path.as_ref().unwrap().with_extension("db-wal");
        let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(
            wal_bytes < 4 * 1024 * 1024,
            "the WAL is checkpointed: {wal_bytes} bytes"
        );
    }
}

fusion_test_support::on_both_backends!(
    rolling_up_keeps_every_total_breakdown_and_series_equal,
    a_row_written_after_its_hour_was_summed_is_counted_after_the_next_pass,
    two_rollups_at_once_never_sum_a_row_twice,
    rows_older_than_the_retention_are_gone_and_the_rollups_hold_them,
    task_retention_deletes_finished_tasks_and_keeps_queued_and_running_ones,
    loop_retention_deletes_idle_runs_with_their_trails,
    old_dashboard_history_and_stored_responses_follow_the_task_retention,
    a_simulated_month_keeps_the_store_bounded,
);

// ---- SQLite only ----

#[tokio::test]
async fn a_new_sqlite_store_is_made_with_incremental_auto_vacuum() {
    let t = TestStore::new(Backend::Sqlite).await;
    let mode: i64 = sqlx::query("PRAGMA auto_vacuum")
        .fetch_one(t.store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(mode, 2, "auto_vacuum = INCREMENTAL");
}

#[tokio::test]
async fn an_older_small_sqlite_store_is_converted_to_incremental_auto_vacuum_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // A file made the way Fusion made them before: tables first, auto_vacuum = NONE.
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let store = Store::open(Some(&format!("sqlite://{}", path.display())))
        .await
        .unwrap();
    // On one connection, the file read first: the pragma answers from the last read.
    let mode = || async {
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query("PRAGMA freelist_count")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        sqlx::query("PRAGMA auto_vacuum")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    };
    assert_eq!(
        mode().await,
        0,
        "an existing file keeps its mode until vacuumed"
    );
    store.reclaim_space().await.unwrap();
    assert_eq!(mode().await, 2);
}
