//! Council runs (table `council_runs`, migration 0009): one row per council run, whatever front
//! door ran it, with its whole trace (the `CouncilResult` as JSON) — listed newest first for the
//! dashboard, read back by id, and pruned to the newest rows. The question and every long text
//! of the trace are cut to a bound before they are stored.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::history::next_seq;
use super::usage::to_i64;
use super::{Caller, Store};

/// Characters of the question kept in the store.
pub const MAX_QUESTION_CHARS: usize = 16 * 1024;
/// Characters of the question a listing shows.
pub const LISTED_QUESTION_CHARS: usize = 300;

/// One council run as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CouncilRunRow {
    /// `council_` and 16 hex digits.
    pub id: String,
    /// When it ended (Unix ms).
    pub at_ms: i64,
    /// The council's name.
    pub council: String,
    /// The front door that ran it.
    pub caller: Caller,
    /// At most [`MAX_QUESTION_CHARS`] characters.
    pub question: String,
    /// `ok` or `error` (the `CouncilStatus`).
    pub status: String,
    /// Anything degraded the run (`degradation_reasons` is not empty).
    pub degraded: bool,
    pub total_ms: u64,
    /// What its model calls cost (0 for local and free models).
    pub cost_usd: f64,
    /// The `CouncilResult`, as JSON.
    pub result: serde_json::Value,
}

/// A council run in a listing: the row without its trace, the question cut to
/// [`LISTED_QUESTION_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CouncilRunSummary {
    pub id: String,
    pub at_ms: i64,
    pub council: String,
    pub caller: Caller,
    pub question: String,
    pub status: String,
    pub degraded: bool,
    pub total_ms: u64,
    pub cost_usd: f64,
}

const COLUMNS: &str =
    "id, seq, at_ms, council, caller, question, status, degraded, total_ms, cost_usd, result";

impl Store {
    /// Records council runs in one transaction, in order (an id taken already is an error).
    pub async fn insert_council_runs(&self, rows: &[CouncilRunRow]) -> crate::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let doing = "recording council runs";
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(|e| self.query_error(doing, e))?;
        for row in rows {
            sqlx::query(&format!(
                "INSERT INTO council_runs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11)"
            ))
            .bind(row.id.as_str())
            .bind(next_seq(row.at_ms))
            .bind(row.at_ms)
            .bind(row.council.as_str())
            .bind(row.caller.as_str())
            .bind(cut(&row.question, MAX_QUESTION_CHARS))
            .bind(row.status.as_str())
            .bind(i64::from(row.degraded))
            .bind(to_i64(row.total_ms))
            .bind(finite(row.cost_usd))
            .bind(row.result.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.query_error(doing, e))?;
        }
        tx.commit().await.map_err(|e| self.query_error(doing, e))
    }

    /// The newest `limit` runs that ended before `before_ms` (all when `None`), newest first.
    pub async fn council_runs(
        &self,
        limit: u32,
        before_ms: Option<i64>,
    ) -> crate::Result<Vec<CouncilRunSummary>> {
        let doing = "listing council runs";
        let sql = format!(
            "SELECT id, at_ms, council, caller, SUBSTR(question, 1, {LISTED_QUESTION_CHARS}) AS \
             question, status, degraded, total_ms, cost_usd FROM council_runs WHERE at_ms < $1 \
             ORDER BY seq DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(before_ms.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(|row| {
                Ok(CouncilRunSummary {
                    id: row.try_get("id")?,
                    at_ms: row.try_get("at_ms")?,
                    council: row.try_get("council")?,
                    caller: caller(row)?,
                    question: row.try_get("question")?,
                    status: row.try_get("status")?,
                    degraded: row.try_get::<i64, _>("degraded")? != 0,
                    total_ms: count(row, "total_ms")?,
                    cost_usd: row.try_get("cost_usd")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.query_error(doing, e))
    }

    /// One run with its trace, if there is one with this id.
    pub async fn council_run(&self, id: &str) -> crate::Result<Option<CouncilRunRow>> {
        let doing = "reading a council run";
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM council_runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?;
        row.as_ref()
            .map(read_row)
            .transpose()
            .map_err(|e| self.query_error(doing, e))
    }

    /// Deletes every run but the newest `keep`; how many went.
    pub async fn prune_council_runs(&self, keep: u32) -> crate::Result<u64> {
        prune(self, "council_runs", keep).await
    }
}

/// Deletes every row of `table` but the newest `keep` (by `seq`); how many went.
pub(super) async fn prune(store: &Store, table: &str, keep: u32) -> crate::Result<u64> {
    let doing = format!("pruning {table}");
    let done = if keep == 0 {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(store.pool())
            .await
    } else {
        // No row at that offset (fewer rows than `keep`): NULL, and nothing matches.
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE seq < (SELECT seq FROM {table} ORDER BY seq DESC LIMIT 1 \
             OFFSET $1)"
        ))
        .bind(i64::from(keep) - 1)
        .execute(store.pool())
        .await
    }
    .map_err(|e| store.query_error(&doing, e))?;
    Ok(done.rows_affected())
}

fn read_row(row: &AnyRow) -> Result<CouncilRunRow, sqlx::Error> {
    let result: String = row.try_get("result")?;
    Ok(CouncilRunRow {
        id: row.try_get("id")?,
        at_ms: row.try_get("at_ms")?,
        council: row.try_get("council")?,
        caller: caller(row)?,
        question: row.try_get("question")?,
        status: row.try_get("status")?,
        degraded: row.try_get::<i64, _>("degraded")? != 0,
        total_ms: count(row, "total_ms")?,
        cost_usd: row.try_get("cost_usd")?,
        result: serde_json::from_str(&result).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

/// The `caller` column; a name this version does not know reads as `cli`.
pub(super) fn caller(row: &AnyRow) -> Result<Caller, sqlx::Error> {
    let text: String = row.try_get("caller")?;
    Ok(Caller::parse(&text).unwrap_or(Caller::Cli))
}

fn count(row: &AnyRow, name: &str) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
}

/// The first `max` characters of `text` (with `…` when cut).
pub(crate) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// A cost that can be stored (NaN and infinities read as 0).
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_short_texts_and_marks_cut_ones_at_a_char_boundary() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo", 2), "hé…");
        assert_eq!(cut("", 0), "");
        assert_eq!(cut("ab", 0), "…");
    }
}
