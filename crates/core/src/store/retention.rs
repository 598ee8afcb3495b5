//! The store's bounded life: what each table keeps (`[storage]` retentions), one maintenance
//! pass that applies them — usage rows summed by hour (`rollup`) and deleted past the ledger
//! retention, finished tasks, idle loop runs, the dashboard's history and stored responses
//! deleted by age, each in bounded batches of one transaction — then, on SQLite, the freed pages given back to the file system
//! (incremental vacuum) and the WAL checkpointed; and the loop a long-lived process runs it in
//! (`Maintenance`), off the request path, shortly after start and then hourly, jittered.
//! PostgreSQL reclaims deleted rows' space with its own autovacuum.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::{AnyConnection, Executor, Row};
use tokio::sync::oneshot;

use super::rollup::ROLLUP_LAG_MS;
use super::{Store, StoreKind, now_ms};
use crate::config::StorageConfig;
use crate::runtime::Runtime;

/// Rows one delete transaction removes at most.
pub const DELETE_BATCH_ROWS: u32 = 1_000;
/// Delete transactions one table gets per pass at most; the rest waits for the next pass.
pub const MAX_DELETE_BATCHES: u32 = 1_000;
/// Pages one incremental-vacuum step frees at most (16 MiB of 4 KiB pages).
pub const VACUUM_STEP_PAGES: i64 = 4_096;
/// Incremental-vacuum steps per pass at most (64 GiB of 4 KiB pages).
pub const MAX_VACUUM_STEPS: u32 = 4_096;
/// Largest SQLite file converted to incremental auto-vacuum by a one-time `VACUUM` (it copies
/// the whole file and holds the write lock meanwhile); a larger one gets a hint in the log.
pub const ONE_TIME_VACUUM_MAX_BYTES: i64 = 256 * 1024 * 1024;
/// The first pass runs this long after start, plus up to [`FIRST_PASS_JITTER`].
pub const FIRST_PASS_DELAY: Duration = Duration::from_secs(30);
pub const FIRST_PASS_JITTER: Duration = Duration::from_secs(60);
/// Passes run this often, give or take [`PASS_JITTER`] (replicas spread out).
pub const PASS_EVERY: Duration = Duration::from_secs(60 * 60);
pub const PASS_JITTER: Duration = Duration::from_secs(5 * 60);

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Raw usage rows; older ones are rolled up into hourly totals.
    pub ledger: Duration,
    /// Finished tasks (and their jobs), council runs, routing decisions, stored responses.
    pub tasks: Duration,
    /// Loop runs (and their trails) since their last update.
    pub loops: Duration,
}

impl From<&StorageConfig> for RetentionPolicy {
    fn from(storage: &StorageConfig) -> Self {
        Self {
            ledger: storage.ledger_retention,
            tasks: storage.task_retention,
            loops: storage.loop_retention,
        }
    }
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self::from(&StorageConfig::default())
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MaintenanceReport {
    /// Raw usage rows summed into hourly totals.
    pub usage_rows_rolled_up: u64,
    /// Every whole hour old enough is summed (false: the pass's bound was reached first).
    pub rollup_done: bool,
    /// Summed hours summed again because the ledger wrote rows of them late.
    pub late_hours_resummed: u64,
    /// Raw usage rows past the ledger retention deleted (all summed before).
    pub usage_rows_deleted: u64,
    pub tasks_deleted: u64,
    pub loop_runs_deleted: u64,
    pub council_runs_deleted: u64,
    pub routing_decisions_deleted: u64,
    pub stored_responses_deleted: u64,
    /// SQLite pages given back to the file system.
    pub pages_freed: u64,
    /// Each step that failed, in words (the others still ran).
    pub errors: Vec<String>,
}

/// `now - retention` in Unix milliseconds.
fn cutoff(now_ms: i64, retention: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// One maintenance pass at `now_ms`: every step runs even when an earlier one failed; the
    /// failures are in the report.
    pub async fn run_maintenance(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
    ) -> MaintenanceReport {
        let mut report = MaintenanceReport::default();
        let mut errors = Vec::new();
        let failed = |step: &str, e: crate::Error| format!("{step}: {e}");
        match self.roll_up_usage(now_ms - ROLLUP_LAG_MS, 0, 0).await {
            Ok(done) => {
                report.usage_rows_rolled_up = done.rows;
                report.rollup_done = done.done;
            }
            Err(e) => errors.push(failed("rolling up usage", e)),
        }
        let ledger_cutoff = cutoff(now_ms, policy.ledger);
        match self.resum_late_hours(ledger_cutoff).await {
            Ok(n) => report.late_hours_resummed = n,
            Err(e) => errors.push(failed("re-summing late usage rows", e)),
        }
        match self.delete_rolled_usage(ledger_cutoff).await {
            Ok(n) => report.usage_rows_deleted = n,
            Err(e) => errors.push(failed("deleting old usage rows", e)),
        }
        let task_cutoff = cutoff(now_ms, policy.tasks);
        match self.delete_finished_tasks(task_cutoff).await {
            Ok(n) => report.tasks_deleted = n,
            Err(e) => errors.push(failed("deleting finished tasks", e)),
        }
        match self
            .delete_idle_loop_runs(cutoff(now_ms, policy.loops))
            .await
        {
            Ok(n) => report.loop_runs_deleted = n,
            Err(e) => errors.push(failed("deleting idle loop runs", e)),
        }
        for (table, slot) in [
            ("council_runs", &mut report.council_runs_deleted),
            ("routing_decisions", &mut report.routing_decisions_deleted),
            ("stored_responses", &mut report.stored_responses_deleted),
        ] {
            match delete_in_batches(self, table, "id", "at_ms < $1", &[], task_cutoff).await {
                Ok(n) => *slot = n,
                Err(e) => errors.push(failed(table, e)),
            }
        }
        match self.reclaim_space().await {
            Ok(pages) => report.pages_freed = pages,
            Err(e) => errors.push(failed("reclaiming space", e)),
        }
        report.errors = errors;
        report
    }

    /// SQLite: gives the pages deletes freed back to the file system (incremental vacuum, in
    /// bounded steps) and checkpoints the WAL, truncating it; a store made before incremental
    /// auto-vacuum is converted once by `VACUUM` when it is small, else a hint is logged.
    /// Returns the pages freed. PostgreSQL: nothing to do — its autovacuum reclaims the space
    /// of deleted rows for reuse.
    pub async fn reclaim_space(&self) -> crate::Result<u64> {
        if self.kind() != StoreKind::Sqlite {
            return Ok(0);
        }
        let doing = "reclaiming free space";
        let err = |e: sqlx::Error| self.query_error(doing, e);
        // One connection throughout: `PRAGMA auto_vacuum` answers from what the connection
        // last read of the file, so `freelist_count` (which reads it) goes first.
        let mut conn = self.pool().acquire().await.map_err(err)?;
        let freed_before = pragma_int(&mut conn, "PRAGMA freelist_count")
            .await
            .map_err(err)?;
        match pragma_int(&mut conn, "PRAGMA auto_vacuum")
            .await
            .map_err(err)?
        {
            // 2 = incremental: free the pages in steps, each its own short write.
            2 => {
                let step = format!("PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})");
                for _ in 0..MAX_VACUUM_STEPS {
                    if pragma_int(&mut conn, "PRAGMA freelist_count")
                        .await
                        .map_err(err)?
                        == 0
                    {
                        break;
                    }
                    conn.execute(step.as_str()).await.map_err(err)?;
                    tokio::task::yield_now().await;
                }
            }
            // 0 = none: the file was made before Fusion asked for incremental auto-vacuum.
            0 => {
                let bytes = pragma_int(&mut conn, "PRAGMA page_count")
                    .await
                    .map_err(err)?
                    .saturating_mul(
                        pragma_int(&mut conn, "PRAGMA page_size")
                            .await
                            .map_err(err)?,
                    );
                if bytes <= ONE_TIME_VACUUM_MAX_BYTES {
                    conn.execute("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")
                        .await
                        .map_err(err)?;
                } else if !VACUUM_HINT_GIVEN.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "store {}: the SQLite file ({} MiB) keeps the pages freed by retention \
                         for reuse but never shrinks; to let Fusion shrink it, stop Fusion and \
                         run `sqlite3 FILE 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM'` once",
                        self.display_url(),
                        bytes / (1024 * 1024)
                    );
                }
            }
            // 1 = full: SQLite frees pages at every commit.
            _ => {}
        }
        let freed_after = pragma_int(&mut conn, "PRAGMA freelist_count")
            .await
            .map_err(err)?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_all(&mut *conn)
            .await
            .map_err(err)?;
        Ok(u64::try_from(freed_before - freed_after).unwrap_or(0))
    }
}

/// The one integer a pragma answers.
async fn pragma_int(conn: &mut AnyConnection, sql: &'static str) -> Result<i64, sqlx::Error> {
    sqlx::query(sql).fetch_one(conn).await?.try_get::<i64, _>(0)
}

/// The hint about a store without auto-vacuum is logged once per process.
static VACUUM_HINT_GIVEN: AtomicBool = AtomicBool::new(false);

/// Deletes the rows of `table` that `condition` (binding `$1` to `before_ms`) selects, in
/// transactions of at most [`DELETE_BATCH_ROWS`] rows (at most [`MAX_DELETE_BATCHES`] of
/// them), deleting first the rows of each `(child table, column)` that point at them by `key`.
/// Returns how many rows of `table` went.
pub(super) async fn delete_in_batches(
    store: &Store,
    table: &str,
    key: &str,
    condition: &str,
    children: &[(&str, &str)],
    before_ms: i64,
) -> crate::Result<u64> {
    let doing = format!("deleting old rows of {table}");
    let err = |e: sqlx::Error| store.query_error(&doing, e);
    let batch = format!("SELECT {key} FROM {table} WHERE {condition} LIMIT {DELETE_BATCH_ROWS}");
    let mut deleted = 0;
    for _ in 0..MAX_DELETE_BATCHES {
        let mut tx = store.pool().begin().await.map_err(err)?;
        for (child, column) in children {
            sqlx::query(&format!("DELETE FROM {child} WHERE {column} IN ({batch})"))
                .bind(before_ms)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        let done = sqlx::query(&format!("DELETE FROM {table} WHERE {key} IN ({batch})"))
            .bind(before_ms)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        deleted += done;
        if done < u64::from(DELETE_BATCH_ROWS) {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(deleted)
}

/// The maintenance loop of a long-lived process (`fusion serve`, `fusion mcp`): a pass shortly
/// after start, then about hourly; failures are logged, never fatal. It runs on a thread of its
/// own at background priority (`fusion_sys::thread`), through a connection of its own made from
/// that thread, so a pass that sums a big backlog yields the CPU to requests. Stops when dropped.
pub struct Maintenance {
    /// Dropping it ends the loop.
    _stop: oneshot::Sender<()>,
}

impl Maintenance {
    /// Runs passes over `store` with the policy `policy` gives at each pass (so a reloaded
    /// configuration applies from the next pass).
    pub fn start(
        store: Store,
        policy: impl Fn() -> RetentionPolicy + Send + Sync + 'static,
    ) -> Maintenance {
        let (stop, stopped) = oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("fusion-maintenance".to_owned())
            .spawn(move || {
                if let Err(err) = fusion_sys::thread::lower_priority_of_this_thread() {
                    tracing::debug!("store maintenance keeps the normal priority: {err}");
                }
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        tracing::warn!("store maintenance: no runtime of its own ({err}); off");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let store = store.with_own_pool(1);
                    tokio::select! {
                        _ = stopped => {}
                        () = passes(&store, &policy) => {}
                    }
                    store.close().await;
                });
            });
        if let Err(err) = spawned {
            tracing::warn!("store maintenance: cannot start its thread ({err}); off");
        }
        Maintenance { _stop: stop }
    }

    /// The loop over a runtime's store with the retentions of its live configuration; `None`
    /// when the runtime has no store.
    pub fn for_runtime(runtime: &Runtime) -> Option<Maintenance> {
        let store = runtime.store()?.clone();
        let source = runtime.engine_source();
        Some(Self::start(store, move || {
            RetentionPolicy::from(&source().0.storage)
        }))
    }

    /// Stops the loop (a pass in flight is abandoned; its open transaction rolls back).
    pub fn stop(self) {
        drop(self);
    }
}

/// Pass after pass, forever (the caller stops it).
async fn passes(store: &Store, policy: &(impl Fn() -> RetentionPolicy + Send + Sync)) {
    tokio::time::sleep(FIRST_PASS_DELAY + jitter(FIRST_PASS_JITTER)).await;
    loop {
        let report = store.run_maintenance(&policy(), now_ms()).await;
        for error in &report.errors {
            tracing::warn!("store maintenance: {error}");
        }
        tracing::info!(
            usage_rows_rolled_up = report.usage_rows_rolled_up,
            usage_rows_deleted = report.usage_rows_deleted,
            tasks_deleted = report.tasks_deleted,
            loop_runs_deleted = report.loop_runs_deleted,
            pages_freed = report.pages_freed,
            "store maintenance pass"
        );
        // A backlog bigger than one pass's bound continues soon, not in an hour.
        let wait = if report.rollup_done || !report.errors.is_empty() {
            PASS_EVERY - PASS_JITTER + jitter(PASS_JITTER * 2)
        } else {
            FIRST_PASS_DELAY
        };
        tokio::time::sleep(wait).await;
    }
}

/// A random duration up to `max`.
fn jitter(max: Duration) -> Duration {
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(rand::random_range(0..millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_now_minus_the_retention_and_never_overflows() {
        assert_eq!(cutoff(10_000, Duration::from_secs(4)), 6_000);
        assert_eq!(cutoff(0, Duration::MAX), -i64::MAX);
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(5)) < Duration::from_millis(5));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
