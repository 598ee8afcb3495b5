//! The store, the usage ledger and benchmark results' complexity, with the same test bodies on
//! SQLite (a file in a tempdir) and on PostgreSQL (a fresh database per test on the server in
//! `FUSION_TEST_POSTGRES_URL`, which scripts/test.sh starts through scripts/postgres.sh). Without that variable the PostgreSQL
//! variants fail: they never pass silently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, PgDatabase, TestStore};

use fusion_core::ErrorKind;
use fusion_core::config::Category;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{
    BenchResultRow, Caller, Ledger, LedgerLimits, Store, SyncedModel, UsageFilter, UsageRecord,
    UsageReport, UsageTotals,
};
use sqlx::Row;

/// 2025-03-01T00:00:00Z.
const DAY1: i64 = 1_740_787_200_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// A usage row: `route` is (provider, model), `tokens` (in, out, estimated), `spend` (cost,
/// latency).
fn row(
    at_ms: i64,
    caller: Caller,
    route: (&str, &str),
    tokens: (u64, u64, bool),
    spend: (f64, u64),
    outcome: &str,
) -> UsageRecord {
    UsageRecord {
        at_ms,
        caller,
        provider: route.0.into(),
        model: route.1.into(),
        tokens_in: tokens.0,
        tokens_out: tokens.1,
        estimated: tokens.2,
        cost_usd: spend.0,
        latency_ms: spend.1,
        outcome: outcome.into(),
    }
}

/// Five calls over three UTC days, three models and providers, every caller.
#[rustfmt::skip]
fn sample_rows() -> Vec<UsageRecord> {
    let (openrouter, local) = (("openrouter", "llama"), ("local", "qwen"));
    vec![
        row(DAY1 + HOUR, Caller::Http, openrouter, (100, 50, false), (0.5, 100), "ok"),
        row(DAY1 + 2 * HOUR, Caller::Cli, openrouter, (200, 100, true), (0.25, 300), "timeout"),
        row(DAY1 + DAY + 300_000, Caller::Mcp, local, (1000, 10, false), (0.0, 50), "ok"),
        row(DAY1 + DAY + HOUR, Caller::Task, ("anthropic", "claude"), (10, 20, false), (2.0, 1000), "status"),
        row(DAY1 - 1, Caller::Http, local, (1, 2, true), (0.0, 10), "ok"),
    ]
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-9 * expected.abs().max(1.0),
        "{what}: {actual} != {expected}"
    );
}

fn keys(groups: &[fusion_core::store::UsageGroup]) -> Vec<&str> {
    groups.iter().map(|g| g.key.as_str()).collect()
}

async fn report(store: &Store, filter: UsageFilter) -> UsageReport {
    store.usage_report(&filter).await.unwrap()
}

// ---- the test bodies, each run on both backends ----

async fn open_creates_and_migrates_a_fresh_store_and_reopening_is_idempotent(backend: Backend) {
    let t = TestStore::new(backend).await;
    if let Some(path) = &t.sqlite_path {
        assert!(path.is_file(), "the SQLite file and its directories exist");
    }
    let migrations: i64 = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations")
        .fetch_one(t.store.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    // Every file of the migrations directory (usage, synced models, tasks, loop runs, daily
    // usage, prompting strategies, benchmarks, the dashboard's history, ...).
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let files = std::fs::read_dir(std::path::Path::new(&crate_dir).join("migrations"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert!(files >= 8, "{files} migration files");
    assert_eq!(
        migrations,
        i64::try_from(files).unwrap(),
        "every migration applied"
    );
    let empty = report(&t.store, UsageFilter::default()).await;
    assert_eq!(empty.total, UsageTotals::default());
    assert!(empty.by_model.is_empty() && empty.by_day.is_empty());
    t.store.insert_usage(&sample_rows()[..1]).await.unwrap();
    t.store.close().await;

    // Opening again (twice at once, even) migrates nothing and keeps the data.
    let (a, b) = tokio::join!(Store::open(Some(&t.url)), Store::open(Some(&t.url)));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(report(&a, UsageFilter::default()).await.total.calls, 1);
    assert_eq!(report(&b, UsageFilter::default()).await.total.calls, 1);
    a.close().await;
    b.close().await;
}

async fn usage_report_sums_totals_and_groups_by_model_provider_and_day(backend: Backend) {
    let t = TestStore::new(backend).await;
    t.store.insert_usage(&sample_rows()).await.unwrap();
    let r = report(&t.store, UsageFilter::default()).await;

    assert_eq!(r.total.calls, 5);
    assert_eq!(r.total.failed_calls, 2);
    assert_eq!(r.total.tokens_in, 1311);
    assert_eq!(r.total.tokens_out, 182);
    assert_eq!(r.total.estimated_calls, 2);
    assert_close(r.total.cost_usd, 2.75, "total cost");
    assert_close(r.total.avg_latency_ms, 292.0, "average latency");

    // Highest cost first; ties by key.
    assert_eq!(keys(&r.by_model), ["claude", "llama", "qwen"]);
    assert_eq!(keys(&r.by_provider), ["anthropic", "openrouter", "local"]);
    let llama = &r.by_model[1].totals;
    let llama_counts = (llama.calls, llama.failed_calls, llama.estimated_calls);
    assert_eq!(llama_counts, (2, 1, 1));
    assert_eq!((llama.tokens_in, llama.tokens_out), (300, 150));
    assert_close(llama.cost_usd, 0.75, "llama cost");
    assert_close(llama.avg_latency_ms, 200.0, "llama latency");
    let local = &r.by_provider[2].totals;
    assert_eq!(
        (local.calls, local.tokens_in, local.tokens_out),
        (2, 1001, 12)
    );

    // Days are UTC calendar days, oldest first.
    assert_eq!(keys(&r.by_day), ["2025-02-28", "2025-03-01", "2025-03-02"]);
    let calls: Vec<u64> = r.by_day.iter().map(|g| g.totals.calls).collect();
    assert_eq!(calls, [1, 2, 2]);
    assert_close(r.by_day[2].totals.cost_usd, 2.0, "cost of 2025-03-02");

    // Groups serialise flat: {"key": .., "calls": .., ...}.
    let json = serde_json::to_value(&r.by_model[0]).unwrap();
    assert_eq!(json["key"], "claude");
    assert_eq!(json["calls"], 1);
}

/// A filter built by `set`.
fn filter(set: impl FnOnce(&mut UsageFilter)) -> UsageFilter {
    let mut filter = UsageFilter::default();
    set(&mut filter);
    filter
}

async fn usage_report_filters_by_time_caller_provider_and_model(backend: Backend) {
    let t = TestStore::new(backend).await;
    t.store.insert_usage(&sample_rows()).await.unwrap();
    let calls = |filter: UsageFilter| {
        let store = t.store.clone();
        async move { report(&store, filter).await.total.calls }
    };

    let since_day1 = filter(|f| f.since_ms = Some(DAY1));
    assert_eq!(calls(since_day1).await, 4, "since is inclusive");
    assert_eq!(calls(filter(|f| f.until_ms = Some(DAY1 + DAY))).await, 3);
    let one_hour = filter(|f| {
        f.since_ms = Some(DAY1 + HOUR);
        f.until_ms = Some(DAY1 + 2 * HOUR);
    });
    assert_eq!(calls(one_hour).await, 1, "until is exclusive");
    assert_eq!(calls(filter(|f| f.caller = Some(Caller::Http))).await, 2);

    let local = report(&t.store, filter(|f| f.provider = Some("local".into()))).await;
    assert_eq!(local.total.calls, 2);
    assert_eq!(keys(&local.by_model), ["qwen"]);
    assert_eq!(keys(&local.by_provider), ["local"]);
    assert_eq!(keys(&local.by_day), ["2025-02-28", "2025-03-02"]);

    let everything = UsageFilter {
        since_ms: Some(DAY1),
        until_ms: Some(DAY1 + DAY),
        caller: Some(Caller::Cli),
        provider: Some("openrouter".into()),
        model: Some("llama".into()),
    };
    let one = report(&t.store, everything).await.total;
    assert_eq!((one.calls, one.failed_calls, one.tokens_in), (1, 1, 200));

    let none = report(&t.store, filter(|f| f.model = Some("gpt-nothing".into()))).await;
    assert_eq!(none.total, UsageTotals::default());
    assert!(none.by_model.is_empty() && none.by_provider.is_empty() && none.by_day.is_empty());
}

/// Row `k` of the ledger tests, and the sums of rows `0..n`.
fn ledger_row(k: u64) -> UsageRecord {
    let caller = [Caller::Cli, Caller::Http, Caller::Mcp, Caller::Task][(k % 4) as usize];
    let model = format!("model-{}", k % 3);
    let tokens = (k, k % 13, k.is_multiple_of(5));
    let outcome = ["ok", "timeout"][usize::from(k.is_multiple_of(17))];
    let spend = ((k % 10) as f64 * 0.01, k % 100);
    row(
        DAY1 + k as i64,
        caller,
        ("mock", &model),
        tokens,
        spend,
        outcome,
    )
}

fn assert_ledger_rows(totals: &UsageTotals, n: u64) {
    let rows: Vec<UsageRecord> = (0..n).map(ledger_row).collect();
    let count = |keep: fn(&UsageRecord) -> bool| rows.iter().filter(|r| keep(r)).count() as u64;
    let expected = (
        n,
        rows.iter().map(|r| r.tokens_in).sum::<u64>(),
        rows.iter().map(|r| r.tokens_out).sum::<u64>(),
        count(|r| r.estimated),
        count(|r| r.outcome != "ok"),
    );
    let actual = (
        totals.calls,
        totals.tokens_in,
        totals.tokens_out,
        totals.estimated_calls,
        totals.failed_calls,
    );
    assert_eq!(actual, expected, "every recorded row is in the store, once");
    let cost: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let actual = totals.cost_usd;
    assert!((actual - cost).abs() < 1e-6, "cost {actual} != {cost}");
}

/// The store holds exactly ledger rows `0..n`.
async fn assert_store_has_ledger_rows(store: &Store, n: u64) {
    assert_ledger_rows(&report(store, UsageFilter::default()).await.total, n);
}

async fn ledger_loses_no_row_recorded_concurrently_before_shutdown(backend: Backend) {
    let t = TestStore::new(backend).await;
    let ledger = Ledger::start(t.store.clone());
    let tasks: Vec<_> = (0..10u64)
        .map(|task| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for i in 0..500u64 {
                    ledger.record(ledger_row(task * 500 + i));
                    if i.is_multiple_of(25) {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    ledger.shutdown().await.unwrap();
    ledger.shutdown().await.unwrap(); // idempotent
    let r = report(ledger.store(), UsageFilter::default()).await;
    assert_ledger_rows(&r.total, 5000);
    assert_eq!(r.by_model.len(), 3);
}

async fn ledger_loses_nothing_when_a_burst_overflows_the_channel(backend: Backend) {
    let t = TestStore::new(backend).await;
    let ledger = Ledger::start(t.store.clone());
    // Far more than the channel holds, without yielding: the rest waits in the overflow queue.
    for k in 0..20_000 {
        ledger.record(ledger_row(k));
    }
    ledger.flush().await.unwrap();
    assert_store_has_ledger_rows(&t.store, 20_000).await;
    assert_eq!(ledger.dropped(), 0);
    ledger.shutdown().await.unwrap();
}

async fn ledger_drops_and_counts_rows_beyond_its_buffer_while_the_store_is_down(backend: Backend) {
    let t = TestStore::new(backend).await;
    let limits = LedgerLimits {
        channel: 4,
        overflow: 4,
        batch: 2,
    };
    let ledger = Ledger::start_with(t.store.clone(), limits);
    t.store.close().await; // every write fails: the writer keeps its batch and takes no more
    for k in 0..30 {
        ledger.record(ledger_row(k));
    }
    // At most a batch, the channel and the overflow queue (10 rows) wait; the rest is dropped.
    let dropped = ledger.dropped();
    assert!((20..=30).contains(&dropped), "dropped {dropped}");
    let err = ledger.flush().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Store(_)), "{err}");
    let err = ledger.shutdown().await.unwrap_err();
    assert!(err.to_string().contains("could not be written"), "{err}");
}

async fn ledger_flush_makes_earlier_rows_visible(backend: Backend) {
    let t = TestStore::new(backend).await;
    let ledger = Ledger::start(t.store.clone());
    ledger.flush().await.unwrap(); // nothing recorded: resolves at once
    for k in 0..3 {
        ledger.record(ledger_row(k));
    }
    let started = std::time::Instant::now();
    ledger.flush().await.unwrap();
    assert_store_has_ledger_rows(&t.store, 3).await;
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(5),
        "flush took {took:?}"
    );
    ledger.record(ledger_row(3));
    ledger.flush().await.unwrap();
    assert_store_has_ledger_rows(&t.store, 4).await;
    ledger.shutdown().await.unwrap();
}

async fn ledger_writes_rows_recorded_after_shutdown_directly(backend: Backend) {
    let t = TestStore::new(backend).await;
    let ledger = Ledger::start(t.store.clone());
    ledger.record(ledger_row(0));
    ledger.shutdown().await.unwrap();
    ledger.record(ledger_row(1));
    ledger.record(ledger_row(2));
    ledger.flush().await.unwrap();
    assert_store_has_ledger_rows(&t.store, 3).await;
}

async fn ledger_shutdown_reports_rows_it_could_not_write(backend: Backend) {
    let t = TestStore::new(backend).await;
    let ledger = Ledger::start(t.store.clone());
    t.store.close().await; // every write now fails
    for k in 0..7 {
        ledger.record(ledger_row(k));
    }
    let err = ledger.flush().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Store(_)), "{err}");
    let err = ledger.shutdown().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Store(_)), "{err}");
    assert!(err.to_string().contains("7 usage rows"), "{err}");
    assert_eq!(err.status_code(), 500);
    assert_eq!(err.class(), "store");
}

fn synced(provider: &str, model: &str, free: bool) -> SyncedModel {
    SyncedModel {
        provider: provider.into(),
        model: model.into(),
        context_window: if free { None } else { Some(131_072) },
        input_per_mtok: if free { 0.0 } else { 0.12 },
        output_per_mtok: if free { 0.0 } else { 0.3 },
        free,
        synced_at_ms: DAY1,
    }
}

async fn synced_models_are_replaced_per_provider(backend: Backend) {
    let t = TestStore::new(backend).await;
    let (free, paid) = (
        "meta-llama/llama-3.3-70b-instruct:free",
        "meta-llama/llama-3.3-70b-instruct",
    );
    let openrouter = |model, free| synced("openrouter", model, free);
    let groq = synced("groq", "llama-3.1-8b-instant", false);
    let store = &t.store;
    let two = [openrouter(paid, false), openrouter(free, true)];
    store
        .replace_synced_models("openrouter", &two)
        .await
        .unwrap();
    store
        .replace_synced_models("groq", std::slice::from_ref(&groq))
        .await
        .unwrap();
    // Ordered by provider, then model; every field round-trips.
    let all = store.synced_models().await.unwrap();
    assert_eq!(
        all,
        [
            groq.clone(),
            openrouter(paid, false),
            openrouter(free, true)
        ]
    );

    // A new sync of one provider replaces only that provider's rows; a duplicate keeps the last.
    let mut newer = openrouter(free, true);
    newer.synced_at_ms = DAY1 + DAY;
    let again = [openrouter(free, true), newer.clone()];
    store
        .replace_synced_models("openrouter", &again)
        .await
        .unwrap();
    assert_eq!(store.synced_models().await.unwrap(), [groq, newer]);

    store.replace_synced_models("groq", &[]).await.unwrap();
    assert_eq!(store.synced_models().await.unwrap().len(), 1);

    let wrong = store
        .replace_synced_models("groq", &[openrouter(free, true)])
        .await;
    let err = wrong.unwrap_err();
    assert!(err.to_string().contains("belongs to provider"), "{err}");
}

fn bench_row(task: &str, category: &str, score: f64, error: Option<&str>) -> BenchResultRow {
    BenchResultRow {
        run_id: "bench-c".into(),
        task_id: task.into(),
        model: "m".into(),
        attempt: 1,
        suite: "builtin".into(),
        category: category.into(),
        score,
        latency_ms: 100,
        output_tokens: 10,
        cost_usd: 0.0,
        error: error.map(str::to_owned),
        detail: None,
        created_ms: 1_000,
    }
}

async fn bench_results_keep_their_complexity_and_the_router_reads_scores_against_it(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let cases = [
        // 0.100 and 0.105 fall in one group of 0.02; 0.9 in another.
        ("easy-1", "code", 1.0, None, Some(0.1)),
        ("easy-2", "code", 1.0, None, Some(0.1)),
        ("easy-3", "code", 1.0, None, Some(0.105)),
        ("hard-1", "code", 0.0, None, Some(0.9)),
        ("hard-2", "code", 0.0, None, Some(0.9)),
        // No complexity (an older row): in the mean, not in the fit.
        ("old", "code", 1.0, None, None),
        // A failed call counts for neither.
        ("failed", "code", 0.0, Some("timeout"), Some(0.5)),
        // Out of range is clamped.
        ("odd", "reasoning", 0.5, None, Some(1.7)),
    ];
    for (task, category, score, error, complexity) in cases {
        let row = bench_row(task, category, score, error);
        assert!(
            store
                .put_bench_result_with_complexity(&row, complexity)
                .await
                .unwrap()
        );
    }
    let not_finite = bench_row("nan", "chat", 1.0, None);
    store
        .put_bench_result_with_complexity(&not_finite, Some(f64::NAN))
        .await
        .unwrap();

    let groups = store.measured_by_complexity().await.unwrap();
    let got: Vec<(&str, u64, f64)> = groups
        .iter()
        .map(|g| (g.category.as_str(), g.n, g.mean_score))
        .collect();
    assert_eq!(
        got,
        [("code", 3, 1.0), ("code", 2, 0.0), ("reasoning", 1, 0.5)]
    );
    assert_close(groups[0].complexity, 0.305 / 3.0, "mean complexity");
    assert_close(groups[1].complexity, 0.9, "hard");
    assert_close(groups[2].complexity, 1.0, "clamped");
    let means = store.measured_quality().await.unwrap();
    let code = means.iter().find(|m| m.category == "code").unwrap();
    assert_eq!(
        code.n, 6,
        "the mean counts every answer, with a complexity or not"
    );

    // The registry fits them: the model's chance on easy code is high, on hard code low.
    let registry = ProviderRegistry::from_config(&fusion_core::config::Config::default()).unwrap();
    registry.reload_measured(store).await.unwrap();
    let fit = registry.measured("m").fit(Category::Code).unwrap();
    assert_eq!(fit.n, 5);
    assert!(fit.chance_at(0.1).0 > 0.8, "{fit:?}");
    assert!(
        fit.chance_at(0.9).0 < 0.3,
        "five answers: sure, not certain: {fit:?}"
    );
    assert!(registry.measured("m").fit(Category::Chat).is_none());
}

fusion_test_support::on_both_backends!(
    bench_results_keep_their_complexity_and_the_router_reads_scores_against_it,
    open_creates_and_migrates_a_fresh_store_and_reopening_is_idempotent,
    usage_report_sums_totals_and_groups_by_model_provider_and_day,
    usage_report_filters_by_time_caller_provider_and_model,
    ledger_loses_no_row_recorded_concurrently_before_shutdown,
    ledger_loses_nothing_when_a_burst_overflows_the_channel,
    ledger_drops_and_counts_rows_beyond_its_buffer_while_the_store_is_down,
    ledger_flush_makes_earlier_rows_visible,
    ledger_writes_rows_recorded_after_shutdown_directly,
    ledger_shutdown_reports_rows_it_could_not_write,
    synced_models_are_replaced_per_provider,
);

// ---- SQLite only, and URL handling ----

#[tokio::test]
async fn sqlite_store_runs_in_wal_mode_with_normal_sync_busy_timeout_and_foreign_keys() {
    let t = TestStore::new(Backend::Sqlite).await;
    let pool = t.store.pool();
    let text = |sql: &'static str| async move {
        let row = sqlx::query(sql).fetch_one(pool).await.unwrap();
        row.try_get::<String, _>(0).unwrap()
    };
    let int = |sql: &'static str| async move {
        let row = sqlx::query(sql).fetch_one(pool).await.unwrap();
        row.try_get::<i64, _>(0).unwrap()
    };
    assert_eq!(text("PRAGMA journal_mode").await, "wal");
    assert_eq!(int("PRAGMA synchronous").await, 1, "synchronous = NORMAL");
    assert_eq!(int("PRAGMA busy_timeout").await, 5000);
    assert_eq!(int("PRAGMA foreign_keys").await, 1);
    let wal = t.sqlite_path.as_ref().unwrap().with_extension("db-wal");
    t.store.insert_usage(&sample_rows()).await.unwrap();
    assert!(wal.exists(), "{} exists", wal.display());
}

#[tokio::test]
async fn an_in_memory_sqlite_store_works_for_throwaway_use() {
    let store = Store::open(Some("sqlite::memory:")).await.unwrap();
    store.insert_usage(&sample_rows()).await.unwrap();
    assert_eq!(report(&store, UsageFilter::default()).await.total.calls, 5);
}

#[tokio::test]
async fn a_bad_url_scheme_is_a_clear_store_error_naming_the_accepted_forms() {
    let err = Store::open(Some("mysql://root:hunter2@localhost/fusion"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Store(_)), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("store: "), "{text}");
    assert!(text.contains("mysql://root:***@localhost/fusion"), "{text}");
    assert!(!text.contains("hunter2"), "the password is masked: {text}");
    let forms = ["sqlite://", "postgres://", "postgresql://"];
    assert!(forms.iter().all(|f| text.contains(f)), "{text}");
    assert_eq!(err.status_code(), 500);
    assert_eq!(err.class(), "store");
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_store_error_with_the_masked_url() {
    let err = Store::open(Some("postgres://fusion:hunter2@127.0.0.1:1/fusion"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Store(_)), "{err}");
    let text = err.to_string();
    let masked = "cannot open postgres://fusion:***@127.0.0.1:1/fusion";
    assert!(text.contains(masked), "{text}");
    assert!(!text.contains("hunter2"), "the password is masked: {text}");
    assert!(
        text.to_lowercase().contains("refused"),
        "names the cause: {text}"
    );
}

#[tokio::test]
async fn a_postgresql_url_opens_and_its_display_url_masks_the_password() {
    let pg = PgDatabase::create().await;
    // The test server trusts loopback, so any password is accepted — and must not be shown.
    // The `postgresql://` scheme is accepted too.
    let with_password =
        pg.url
            .replacen("postgres://postgres@", "postgresql://postgres:hunter2@", 1);
    assert_ne!(with_password, pg.url, "the test URL names its user");
    let store = Store::open(Some(&with_password)).await.unwrap();
    let shown = store.display_url();
    assert!(
        shown.contains("postgres:***@") && !shown.contains("hunter2"),
        "{shown}"
    );
    store.close().await;
}

#[test]
fn the_default_url_is_a_sqlite_file_in_the_data_dir() {
    let url = Store::default_url().unwrap();
    assert!(url.starts_with("sqlite://"), "{url}");
    assert!(url.ends_with("/fusion/fusion.db"), "{url}");
    if let Ok(dir) = std::env::var("FUSION_DATA_DIR") {
        assert!(url.contains(&dir), "{url} is under FUSION_DATA_DIR={dir}");
    }
}
