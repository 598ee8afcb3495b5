//! Rolls the usage ledger up: `usage_events` rows older than a cutoff are summed into
//! `usage_hourly` (migration 0011; one row per UTC hour, caller, provider, model, outcome and
//! estimated flag) and deleted, one transaction per bounded batch, so the ledger keeps the
//! retention window of raw rows and hours × keys of aggregates. The usage report and the
//! dashboard's series read both tables (`usage`, `usage_series`), so a rollup changes no figure
//! of a window aligned to the hour. Portable SQL; on PostgreSQL a batch takes a transaction
//! advisory lock so two replicas never roll up the same rows twice.

use sqlx::Row;

use super::{Store, StoreKind};

/// One UTC hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// Raw rows one batch (one transaction) rolls up at most, by default.
pub const ROLLUP_BATCH_ROWS: u32 = 20_000;
/// Batches one call runs at most, by default; rows past them wait for the next call.
pub const MAX_ROLLUP_BATCHES: u32 = 2_000;

/// The PostgreSQL advisory lock a rollup batch holds (any fixed number Fusion uses for nothing
/// else): "Fusion" and the migration that made the table.
const ROLLUP_LOCK_KEY: i64 = 0x4675_7369_6f6e_0011;

/// What one call of [`Store::roll_up_usage`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RollupOutcome {
    /// Raw rows summed into the hourly table and deleted.
    pub rows: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Every row older than the cutoff is rolled up (false: the batch bound was reached, or
    /// another process holds the rollup lock).
    pub done: bool,
}

/// How one batch ended.
enum Batch {
    Rolled(u64),
    Nothing,
    /// Another process is rolling up (PostgreSQL): leave it to them.
    Busy,
}

/// The start of the UTC hour `at_ms` lies in.
pub fn hour_start(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(HOUR_MS)
}

impl Store {
    /// Rolls up every usage row older than `before_ms` rounded down to the hour (so only whole
    /// hours leave the raw table): at most `max_batches` transactions of at most `batch_rows`
    /// rows each (0 = the defaults), oldest rows first.
    pub async fn roll_up_usage(
        &self,
        before_ms: i64,
        batch_rows: u32,
        max_batches: u32,
    ) -> crate::Result<RollupOutcome> {
        let cutoff = hour_start(before_ms);
        let batch_rows = if batch_rows == 0 {
            ROLLUP_BATCH_ROWS
        } else {
            batch_rows
        };
        let max_batches = if max_batches == 0 {
            MAX_ROLLUP_BATCHES
        } else {
            max_batches
        };
        let mut outcome = RollupOutcome::default();
        while outcome.batches < u64::from(max_batches) {
            match self.roll_up_batch(cutoff, batch_rows).await? {
                Batch::Rolled(rows) => {
                    outcome.rows += rows;
                    outcome.batches += 1;
                }
                Batch::Nothing => {
                    outcome.done = true;
                    break;
                }
                Batch::Busy => break,
            }
            // Let the ledger's writes in between two batches.
            tokio::task::yield_now().await;
        }
        Ok(outcome)
    }

    /// Rolls up the oldest rows before `cutoff`: about `batch_rows` of them (every row of the
    /// last millisecond taken, so a batch always moves on).
    async fn roll_up_batch(&self, cutoff: i64, batch_rows: u32) -> crate::Result<Batch> {
        let doing = "rolling up usage rows";
        let err = |e| self.query_error(doing, e);
        let oldest = |offset: i64| {
            sqlx::query(
                "SELECT at_ms FROM usage_events WHERE at_ms < $1 ORDER BY at_ms LIMIT 1 OFFSET $2",
            )
            .bind(cutoff)
            .bind(offset)
            .fetch_optional(self.pool())
        };
        let Some(first) = oldest(0).await.map_err(err)? else {
            return Ok(Batch::Nothing);
        };
        let first: i64 = first.try_get(0).map_err(err)?;
        let end = match oldest(i64::from(batch_rows)).await.map_err(err)? {
            None => cutoff,
            Some(row) => {
                let at: i64 = row.try_get(0).map_err(err)?;
                if at == first { at + 1 } else { at }
            }
        };

        let mut tx = self.pool().begin().await.map_err(err)?;
        if self.kind() == StoreKind::Postgres {
            // One snapshot for the sum and the delete (a row the sum did not see is not
            // deleted), and one rollup at a time across replicas.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            let locked: bool = sqlx::query("SELECT pg_try_advisory_xact_lock($1)")
                .bind(ROLLUP_LOCK_KEY)
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(err)?;
            if !locked {
                tx.rollback().await.map_err(err)?;
                return Ok(Batch::Busy);
            }
        }
        // Every row before `end` is in this batch (older ones were deleted by earlier ones).
        // An hour lies in one UTC day, so `day` follows from `hour_ms`.
        sqlx::query(
            "INSERT INTO usage_hourly (hour_ms, day, caller, provider, model, outcome, estimated, \
             calls, tokens_in, tokens_out, cost_usd, latency_ms, max_latency_ms) \
             SELECT at_ms - (at_ms % 3600000), day, caller, provider, model, outcome, estimated, \
             COUNT(*), CAST(SUM(tokens_in) AS BIGINT), CAST(SUM(tokens_out) AS BIGINT), \
             CAST(SUM(cost_usd) AS DOUBLE PRECISION), CAST(SUM(latency_ms) AS BIGINT), \
             MAX(latency_ms) \
             FROM usage_events WHERE at_ms < $1 \
             GROUP BY at_ms - (at_ms % 3600000), day, caller, provider, model, outcome, estimated \
             ON CONFLICT (hour_ms, caller, provider, model, outcome, estimated) DO UPDATE SET \
             calls = usage_hourly.calls + excluded.calls, \
             tokens_in = usage_hourly.tokens_in + excluded.tokens_in, \
             tokens_out = usage_hourly.tokens_out + excluded.tokens_out, \
             cost_usd = usage_hourly.cost_usd + excluded.cost_usd, \
             latency_ms = usage_hourly.latency_ms + excluded.latency_ms, \
             max_latency_ms = CASE WHEN excluded.max_latency_ms > usage_hourly.max_latency_ms \
             THEN excluded.max_latency_ms ELSE usage_hourly.max_latency_ms END",
        )
        .bind(end)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let deleted = sqlx::query("DELETE FROM usage_events WHERE at_ms < $1")
            .bind(end)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(Batch::Rolled(deleted))
    }

    /// Raw usage rows and hourly rollup rows now (for status output, tests and benchmarks).
    pub async fn usage_row_counts(&self) -> crate::Result<(u64, u64)> {
        let doing = "counting usage rows";
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM usage_events) AS raw, \
             (SELECT COUNT(*) FROM usage_hourly) AS rolled",
        )
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        let count = |name: &str| -> Result<u64, sqlx::Error> {
            Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
        };
        let raw = count("raw").map_err(|e| self.query_error(doing, e))?;
        let rolled = count("rolled").map_err(|e| self.query_error(doing, e))?;
        Ok((raw, rolled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_start_rounds_down_to_the_utc_hour() {
        assert_eq!(hour_start(0), 0);
        assert_eq!(hour_start(HOUR_MS - 1), 0);
        assert_eq!(hour_start(HOUR_MS), HOUR_MS);
        assert_eq!(hour_start(1_740_790_800_123), 1_740_790_800_000);
    }
}
