//! Rolls the usage ledger up: the calls of every whole hour that ended at least
//! [`ROLLUP_LAG_MS`] ago are summed into `usage_hourly` (migration 0011; one row per UTC hour,
//! caller, provider, model and outcome; `usage_daily` re-summed from them for the days
//! touched) and the watermark `usage_rollup.
//! rolled_until_ms` moves past them, one transaction per bounded batch; the usage report and
//! the dashboard's series read the sums before the watermark and raw rows after it (`usage`),
//! so they read hours × keys of rows, not every call, and give the same figures. Raw rows stay
//! until `storage.ledger_retention` (`delete_rolled_usage`, never past the watermark), and a
//! row the ledger wrote after its hour was summed (a long store outage) is caught by
//! re-summing the recent hours whose raw rows outnumber their sums. A batch starts by writing
//! the watermark's row, which makes it the only rollup running (SQLite's one writer; the row
//! lock on PostgreSQL, so replicas never sum the same rows twice). Portable SQL.

use sqlx::AnyConnection;
use sqlx::Row;

use super::Store;

/// One UTC hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One UTC day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// An hour is summed once it ended this long ago: the ledger writes a call's row within
/// seconds, or later while the store is unreachable.
pub const ROLLUP_LAG_MS: i64 = HOUR_MS;
/// Summed hours re-checked for late rows at each pass.
pub const RECHECK_HOURS: i64 = 6;
/// Raw rows one batch (one transaction) sums or deletes at most, by default.
pub const ROLLUP_BATCH_ROWS: u32 = 20_000;
/// Batches one call runs at most, by default; rows past them wait for the next call.
pub const MAX_ROLLUP_BATCHES: u32 = 2_000;

/// The watermark, read inside a statement so each report sees one consistent split.
pub(crate) const ROLLED_UNTIL: &str = "(SELECT rolled_until_ms FROM usage_rollup WHERE id = 1)";

/// Sums the rows selected by `$1 <= at_ms < $2` into `usage_hourly`, adding to what is there.
const SUM_INTO_HOURLY: &str = "INSERT INTO usage_hourly (hour_ms, day, caller, provider, model, \
     outcome, calls, estimated_calls, tokens_in, tokens_out, cost_usd, latency_ms, \
     max_latency_ms) \
     SELECT at_ms - (at_ms % 3600000), day, caller, provider, model, outcome, COUNT(*), \
     CAST(SUM(estimated) AS BIGINT), CAST(SUM(tokens_in) AS BIGINT), \
     CAST(SUM(tokens_out) AS BIGINT), CAST(SUM(cost_usd) AS DOUBLE PRECISION), \
     CAST(SUM(latency_ms) AS BIGINT), MAX(latency_ms) \
     FROM usage_events WHERE at_ms >= $1 AND at_ms < $2 \
     GROUP BY at_ms - (at_ms % 3600000), day, caller, provider, model, outcome \
     ON CONFLICT (hour_ms, caller, provider, model, outcome) DO UPDATE SET \
     calls = usage_hourly.calls + excluded.calls, \
     estimated_calls = usage_hourly.estimated_calls + excluded.estimated_calls, \
     tokens_in = usage_hourly.tokens_in + excluded.tokens_in, \
     tokens_out = usage_hourly.tokens_out + excluded.tokens_out, \
     cost_usd = usage_hourly.cost_usd + excluded.cost_usd, \
     latency_ms = usage_hourly.latency_ms + excluded.latency_ms, \
     max_latency_ms = CASE WHEN excluded.max_latency_ms > usage_hourly.max_latency_ms \
     THEN excluded.max_latency_ms ELSE usage_hourly.max_latency_ms END";

/// Sums again, from `usage_hourly`, the days from `$1` to `$2` (midnights) into `usage_daily`
/// (after deleting their rows there).
const DELETE_DAYS: &str = "DELETE FROM usage_daily WHERE day_ms >= $1 AND day_ms < $2";
const SUM_DAYS: &str = "INSERT INTO usage_daily (day_ms, day, caller, provider, model, outcome, \
     calls, estimated_calls, tokens_in, tokens_out, cost_usd, latency_ms, max_latency_ms) \
     SELECT hour_ms - (hour_ms % 86400000), day, caller, provider, model, outcome, \
     CAST(SUM(calls) AS BIGINT), CAST(SUM(estimated_calls) AS BIGINT), \
     CAST(SUM(tokens_in) AS BIGINT), CAST(SUM(tokens_out) AS BIGINT), \
     CAST(SUM(cost_usd) AS DOUBLE PRECISION), CAST(SUM(latency_ms) AS BIGINT), \
     MAX(max_latency_ms) \
     FROM usage_hourly WHERE hour_ms >= $1 AND hour_ms < $2 \
     GROUP BY hour_ms - (hour_ms % 86400000), day, caller, provider, model, outcome";

/// What one call of [`Store::roll_up_usage`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RollupOutcome {
    /// Raw rows summed into the hourly table.
    pub rows: u64,
    /// Transactions committed.
    pub batches: u64,
    /// The watermark reached the target (false: the batch bound was reached first).
    pub done: bool,
}

/// The start of the UTC hour `at_ms` lies in.
pub fn hour_start(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(HOUR_MS)
}

/// The first hour start at or after `at_ms`.
pub fn hour_ceil(at_ms: i64) -> i64 {
    let start = hour_start(at_ms);
    if start == at_ms {
        start
    } else {
        start.saturating_add(HOUR_MS)
    }
}

impl Store {
    /// Every usage row before this is summed in the hourly table.
    pub async fn rolled_until(&self) -> crate::Result<i64> {
        let doing = "reading the usage rollup's watermark";
        sqlx::query(&format!("SELECT {ROLLED_UNTIL}"))
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| self.query_error(doing, e))
    }

    /// Sums the usage rows of every whole hour before `until_ms` (rounded down to the hour)
    /// not summed yet, oldest first: at most `max_batches` transactions of about `batch_rows`
    /// rows each (0 = the defaults).
    pub async fn roll_up_usage(
        &self,
        until_ms: i64,
        batch_rows: u32,
        max_batches: u32,
    ) -> crate::Result<RollupOutcome> {
        let target = hour_start(until_ms);
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
            match self.roll_up_batch(target, batch_rows).await? {
                Some(rows) => {
                    outcome.rows += rows;
                    outcome.batches += 1;
                }
                None => {
                    outcome.done = true;
                    break;
                }
            }
            // Let the ledger's writes in between two batches.
            tokio::task::yield_now().await;
        }
        Ok(outcome)
    }

    /// Sums the oldest rows not summed yet, before `target`: about `batch_rows` of them (every
    /// row of the last millisecond taken, so a batch always moves on). `None` when the
    /// watermark is at `target` already.
    async fn roll_up_batch(&self, target: i64, batch_rows: u32) -> crate::Result<Option<u64>> {
        let doing = "rolling up usage rows";
        let err = |e: sqlx::Error| self.query_error(doing, e);
        let mut tx = self.pool().begin().await.map_err(err)?;
        let from = lock_watermark(&mut tx).await.map_err(err)?;
        if from >= target {
            tx.rollback().await.map_err(err)?;
            return Ok(None);
        }
        let nth = |offset: i64| {
            sqlx::query(
                "SELECT at_ms FROM usage_events WHERE at_ms >= $1 AND at_ms < $2 \
                 ORDER BY at_ms LIMIT 1 OFFSET $3",
            )
            .bind(from)
            .bind(target)
            .bind(offset)
        };
        let first = nth(0).fetch_optional(&mut *tx).await.map_err(err)?;
        let last = nth(i64::from(batch_rows))
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        let end = match (first, last) {
            (Some(first), Some(last)) => {
                let (first, last): (i64, i64) = (
                    first.try_get(0).map_err(err)?,
                    last.try_get(0).map_err(err)?,
                );
                if last == first { last + 1 } else { last }
            }
            _ => target,
        };
        let rows: i64 =
            sqlx::query("SELECT COUNT(*) FROM usage_events WHERE at_ms >= $1 AND at_ms < $2")
                .bind(from)
                .bind(end)
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(err)?;
        sqlx::query(SUM_INTO_HOURLY)
            .bind(from)
            .bind(end)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        resum_days(&mut tx, from, end).await.map_err(err)?;
        sqlx::query("UPDATE usage_rollup SET rolled_until_ms = $1 WHERE id = 1")
            .bind(end)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(Some(u64::try_from(rows).unwrap_or(0)))
    }

    /// Re-sums the summed hours from `from_ms` (whose raw rows are all still kept) up to the
    /// watermark, at most [`RECHECK_HOURS`] back, whose raw rows outnumber their sums: rows
    /// the ledger wrote after their hour was summed. Returns how many hours were re-summed.
    pub async fn resum_late_hours(&self, from_ms: i64) -> crate::Result<u64> {
        let doing = "re-summing usage hours with late rows";
        let err = |e: sqlx::Error| self.query_error(doing, e);
        let until = hour_start(self.rolled_until().await?);
        let from = hour_ceil(from_ms).max(until - RECHECK_HOURS * HOUR_MS);
        if from >= until {
            return Ok(0);
        }
        let counts = |sql: &'static str| async move {
            let rows = sqlx::query(sql)
                .bind(from)
                .bind(until)
                .fetch_all(self.pool())
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?)))
                .collect::<Result<std::collections::HashMap<i64, i64>, sqlx::Error>>()
        };
        let raw = counts(
            "SELECT at_ms - (at_ms % 3600000) AS h, COUNT(*) FROM usage_events \
             WHERE at_ms >= $1 AND at_ms < $2 GROUP BY at_ms - (at_ms % 3600000)",
        )
        .await
        .map_err(err)?;
        let summed = counts(
            "SELECT hour_ms, CAST(SUM(calls) AS BIGINT) FROM usage_hourly \
             WHERE hour_ms >= $1 AND hour_ms < $2 GROUP BY hour_ms",
        )
        .await
        .map_err(err)?;
        let mut late: Vec<i64> = raw
            .iter()
            .filter(|(hour, n)| summed.get(hour).copied().unwrap_or(0) != **n)
            .map(|(hour, _)| *hour)
            .collect();
        late.sort_unstable();
        for &hour in &late {
            let mut tx = self.pool().begin().await.map_err(err)?;
            lock_watermark(&mut tx).await.map_err(err)?;
            sqlx::query("DELETE FROM usage_hourly WHERE hour_ms = $1")
                .bind(hour)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            sqlx::query(SUM_INTO_HOURLY)
                .bind(hour)
                .bind(hour + HOUR_MS)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            resum_days(&mut tx, hour, hour + HOUR_MS)
                .await
                .map_err(err)?;
            tx.commit().await.map_err(err)?;
        }
        Ok(late.len() as u64)
    }

    /// Deletes the raw usage rows before `before_ms` (rounded down to the hour, and never past
    /// the watermark: only summed rows go), in transactions of about [`ROLLUP_BATCH_ROWS`]
    /// rows. Returns how many went.
    pub async fn delete_rolled_usage(&self, before_ms: i64) -> crate::Result<u64> {
        let doing = "deleting rolled-up usage rows";
        let err = |e: sqlx::Error| self.query_error(doing, e);
        let bound = hour_start(before_ms).min(self.rolled_until().await?);
        let mut deleted = 0;
        for _ in 0..MAX_ROLLUP_BATCHES {
            let nth = |offset: u32| {
                sqlx::query(
                    "SELECT at_ms FROM usage_events WHERE at_ms < $1 ORDER BY at_ms \
                     LIMIT 1 OFFSET $2",
                )
                .bind(bound)
                .bind(i64::from(offset))
                .fetch_optional(self.pool())
            };
            let Some(first) = nth(0).await.map_err(err)? else {
                break;
            };
            let first: i64 = first.try_get(0).map_err(err)?;
            let end = match nth(ROLLUP_BATCH_ROWS).await.map_err(err)? {
                None => bound,
                Some(row) => {
                    let at: i64 = row.try_get(0).map_err(err)?;
                    if at == first { at + 1 } else { at }
                }
            };
            deleted += sqlx::query("DELETE FROM usage_events WHERE at_ms < $1")
                .bind(end)
                .execute(self.pool())
                .await
                .map_err(err)?
                .rows_affected();
            tokio::task::yield_now().await;
        }
        Ok(deleted)
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

/// Sums again the days holding the rows from `from_ms` up to `to_ms` from their hours.
async fn resum_days(conn: &mut AnyConnection, from_ms: i64, to_ms: i64) -> Result<(), sqlx::Error> {
    let first = from_ms - from_ms.rem_euclid(DAY_MS);
    let last = (to_ms - 1) - (to_ms - 1).rem_euclid(DAY_MS) + DAY_MS;
    for sql in [DELETE_DAYS, SUM_DAYS] {
        sqlx::query(sql)
            .bind(first)
            .bind(last)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The watermark, read after writing its row: the write takes the one writer's lock on SQLite
/// (and starts the transaction's snapshot there, so a batch never meets a busy snapshot) and
/// the row's lock on PostgreSQL, so one rollup runs at a time.
async fn lock_watermark(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query("UPDATE usage_rollup SET rolled_until_ms = rolled_until_ms WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT rolled_until_ms FROM usage_rollup WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)
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
        assert_eq!(hour_ceil(HOUR_MS), HOUR_MS);
        assert_eq!(hour_ceil(HOUR_MS + 1), 2 * HOUR_MS);
    }
}
