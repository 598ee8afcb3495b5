//! Routing decisions (table `routing_decisions`, migration 0009): the router's recent decisions
//! for its callers, each with the front door that asked, the model chosen, the one-sentence
//! summary and the `Decision` as JSON — written in batches by the history writer, listed newest
//! first, read by id and pruned to the newest rows.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::councils::{caller, cut, prune};
use super::history::next_seq;
use super::usage::{MAX_BIND_PARAMS, insert_sql};
use super::{Caller, Store};

/// Characters of a decision's summary kept in the store.
pub const MAX_SUMMARY_CHARS: usize = 4 * 1024;

const COLUMNS: &str = "id, seq, at_ms, caller, chosen, summary, decision";
const COLUMN_COUNT: usize = 7;

/// One routing decision as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DecisionRow {
    /// `decision_` and 16 hex digits.
    pub id: String,
    /// When the router decided (Unix ms).
    pub at_ms: i64,
    /// The front door the decision was made for.
    pub caller: Caller,
    /// The model chosen; `None` when nothing qualified.
    pub chosen: Option<String>,
    /// The decision's one human sentence (at most [`MAX_SUMMARY_CHARS`] characters).
    pub summary: String,
    /// The `Decision`, as JSON.
    pub decision: serde_json::Value,
}

impl Store {
    /// Records decisions in one transaction, in order (multi-row statements).
    pub async fn insert_decisions(&self, rows: &[DecisionRow]) -> crate::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let doing = "recording routing decisions";
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(|e| self.query_error(doing, e))?;
        for chunk in rows.chunks(MAX_BIND_PARAMS / COLUMN_COUNT) {
            let sql = insert_sql(
                self.kind(),
                "routing_decisions",
                COLUMNS,
                COLUMN_COUNT,
                chunk.len(),
            );
            // Not cached: batch sizes vary, and each size would be its own prepared statement.
            let mut query = sqlx::query(&sql).persistent(false);
            for row in chunk {
                query = query
                    .bind(row.id.as_str())
                    .bind(next_seq(row.at_ms))
                    .bind(row.at_ms)
                    .bind(row.caller.as_str())
                    .bind(row.chosen.clone())
                    .bind(cut(&row.summary, MAX_SUMMARY_CHARS))
                    .bind(row.decision.to_string());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(|e| self.query_error(doing, e))?;
        }
        tx.commit().await.map_err(|e| self.query_error(doing, e))
    }

    /// The newest `limit` decisions made before `before_ms` (all when `None`), newest first.
    pub async fn decisions(
        &self,
        limit: u32,
        before_ms: Option<i64>,
    ) -> crate::Result<Vec<DecisionRow>> {
        let doing = "listing routing decisions";
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routing_decisions WHERE at_ms < $1 ORDER BY seq DESC LIMIT $2"
        ))
        .bind(before_ms.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(read_row)
            .collect::<Result<_, _>>()
            .map_err(|e| self.query_error(doing, e))
    }

    /// One decision, if there is one with this id.
    pub async fn decision(&self, id: &str) -> crate::Result<Option<DecisionRow>> {
        let doing = "reading a routing decision";
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routing_decisions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        row.as_ref()
            .map(read_row)
            .transpose()
            .map_err(|e| self.query_error(doing, e))
    }

    /// Deletes every decision but the newest `keep`; how many went.
    pub async fn prune_decisions(&self, keep: u32) -> crate::Result<u64> {
        prune(self, "routing_decisions", keep).await
    }
}

fn read_row(row: &AnyRow) -> Result<DecisionRow, sqlx::Error> {
    let decision: String = row.try_get("decision")?;
    Ok(DecisionRow {
        id: row.try_get("id")?,
        at_ms: row.try_get("at_ms")?,
        caller: caller(row)?,
        chosen: row.try_get("chosen")?,
        summary: row.try_get("summary")?,
        decision: serde_json::from_str(&decision).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}
