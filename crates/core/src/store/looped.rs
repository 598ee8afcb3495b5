//! The loop checker's runs in the store (tables `loop_runs` and `loop_records`, migration
//! 0004): a run's frozen objective and acceptance criteria with its status, and its trail —
//! every report, check, review and decision, numbered from 1 per run and kind, the content a
//! JSON document. Appending a record and moving the run's status is one transaction. Every
//! statement is portable: `$N` placeholders, JSON as TEXT.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreFailure};

/// How many times an append is tried when another process appended the same seq at once.
const APPEND_ATTEMPTS: usize = 4;

/// What a record of a run's trail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopRecordKind {
    /// What the executor reported after a step.
    Report,
    /// The checker's verdict on a report.
    Check,
    /// A council's review of a report and its check.
    Review,
    /// What the gate or the conductor decided next.
    Decision,
}

impl LoopRecordKind {
    pub const ALL: [LoopRecordKind; 4] = [Self::Report, Self::Check, Self::Review, Self::Decision];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Report => "report",
            Self::Check => "check",
            Self::Review => "review",
            Self::Decision => "decision",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A run as stored: `status` is the gate's word for where it is (see `looped::RunStatus`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoopRunRow {
    pub id: String,
    pub objective: String,
    pub acceptance_criteria: Vec<String>,
    pub status: String,
    /// The executor prompt `looped_start` answered with.
    pub first_prompt: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The front door that started it ("mcp", "cli", ...).
    pub caller: String,
}

/// One record of a run's trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoopRecordRow {
    pub run_id: String,
    pub kind: LoopRecordKind,
    /// 1-based, per run and kind.
    pub seq: u32,
    pub created_ms: i64,
    pub body: Value,
}

const RUN_COLUMNS: &str =
    "id, objective, acceptance_criteria, status, first_prompt, created_ms, updated_ms, caller";

impl Store {
    /// Inserts a new run; false (and nothing written) when a run with this id exists.
    pub async fn insert_loop_run(&self, run: &LoopRunRow) -> crate::Result<bool> {
        let criteria = serde_json::to_string(&run.acceptance_criteria).unwrap_or_default();
        let sql = format!(
            "INSERT INTO loop_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(run.id.as_str())
            .bind(run.objective.as_str())
            .bind(criteria)
            .bind(run.status.as_str())
            .bind(run.first_prompt.as_str())
            .bind(run.created_ms)
            .bind(run.updated_ms)
            .bind(run.caller.as_str())
            .execute(self.pool())
            .await
            .map_err(|e| self.query_error("inserting a loop run", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// One run, or `None` for an unknown id.
    pub async fn loop_run(&self, id: &str) -> crate::Result<Option<LoopRunRow>> {
        let doing = "reading a loop run";
        let sql = format!("SELECT {RUN_COLUMNS} FROM loop_runs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?;
        row.map(|row| read_run(&row))
            .transpose()
            .map_err(|e| self.query_error(doing, e))
    }

    /// The most recently updated runs, newest first.
    pub async fn list_loop_runs(&self, limit: u32) -> crate::Result<Vec<LoopRunRow>> {
        let doing = "listing loop runs";
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM loop_runs ORDER BY updated_ms DESC, id LIMIT {}",
            limit.clamp(1, 1000)
        );
        sqlx::query(&sql)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?
            .iter()
            .map(read_run)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.query_error(doing, e))
    }

    /// Deletes the runs last updated before `before_ms`, whatever their status (a run idle
    /// that long was left), with their trails, in bounded batches (`storage.loop_retention`).
    /// Returns how many runs went.
    pub async fn delete_idle_loop_runs(&self, before_ms: i64) -> crate::Result<u64> {
        super::retention::delete_in_batches(
            self,
            "loop_runs",
            "id",
            "updated_ms < $1",
            &[("loop_records", "run_id")],
            before_ms,
        )
        .await
    }

    /// Sets a run's status (and `updated_ms`); false for an unknown id.
    pub async fn set_loop_status(
        &self,
        id: &str,
        status: &str,
        now_ms: i64,
    ) -> crate::Result<bool> {
        let done = sqlx::query("UPDATE loop_runs SET status = $1, updated_ms = $2 WHERE id = $3")
            .bind(status)
            .bind(now_ms)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(|e| self.query_error("setting a loop run's status", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Appends a record to a run's trail with the next seq of its kind and, in the same
    /// transaction, sets the run's status to `status` (when given). Returns the seq; `None`
    /// for an unknown run.
    pub async fn append_loop_record(
        &self,
        run_id: &str,
        kind: LoopRecordKind,
        body: &Value,
        status: Option<&str>,
        now_ms: i64,
    ) -> crate::Result<Option<u32>> {
        let mut attempt = 1;
        loop {
            match self.try_append(run_id, kind, body, status, now_ms).await {
                Ok(seq) => return Ok(seq),
                // Another process took this seq first (a primary-key conflict) or holds the
                // write lock: take the next seq. Any other failure is final.
                Err(err)
                    if attempt < APPEND_ATTEMPTS
                        && matches!(
                            StoreFailure::of(&err),
                            StoreFailure::UniqueViolation | StoreFailure::Busy
                        ) =>
                {
                    attempt += 1;
                }
                Err(err) => return Err(self.query_error("appending to a loop run", err)),
            }
        }
    }

    async fn try_append(
        &self,
        run_id: &str,
        kind: LoopRecordKind,
        body: &Value,
        status: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<u32>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let touched = match status {
            Some(status) => {
                sqlx::query("UPDATE loop_runs SET status = $1, updated_ms = $2 WHERE id = $3")
                    .bind(status)
                    .bind(now_ms)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?
            }
            None => {
                sqlx::query("UPDATE loop_runs SET updated_ms = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?
            }
        };
        if touched.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let row = sqlx::query(
            "INSERT INTO loop_records (run_id, kind, seq, created_ms, body) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4 FROM loop_records \
             WHERE run_id = $1 AND kind = $2 RETURNING seq",
        )
        .bind(run_id)
        .bind(kind.as_str())
        .bind(now_ms)
        .bind(body.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let seq: i64 = row.try_get("seq")?;
        tx.commit().await?;
        Ok(Some(u32::try_from(seq).unwrap_or(u32::MAX)))
    }

    /// A run's records (of one kind, or all), oldest first.
    pub async fn loop_records(
        &self,
        run_id: &str,
        kind: Option<LoopRecordKind>,
    ) -> crate::Result<Vec<LoopRecordRow>> {
        let doing = "reading a loop run's records";
        let rows = match kind {
            Some(kind) => {
                sqlx::query(
                    "SELECT run_id, kind, seq, created_ms, body FROM loop_records \
                     WHERE run_id = $1 AND kind = $2 ORDER BY seq",
                )
                .bind(run_id)
                .bind(kind.as_str())
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query(
                    "SELECT run_id, kind, seq, created_ms, body FROM loop_records \
                     WHERE run_id = $1 ORDER BY created_ms, kind, seq",
                )
                .bind(run_id)
                .fetch_all(self.pool())
                .await
            }
        }
        .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(read_record)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.query_error(doing, e))
    }

    /// The newest record of one kind, if the run has any.
    pub async fn latest_loop_record(
        &self,
        run_id: &str,
        kind: LoopRecordKind,
    ) -> crate::Result<Option<LoopRecordRow>> {
        let doing = "reading a loop run's latest record";
        let row = sqlx::query(
            "SELECT run_id, kind, seq, created_ms, body FROM loop_records \
             WHERE run_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(run_id)
        .bind(kind.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        row.map(|row| read_record(&row))
            .transpose()
            .map_err(|e| self.query_error(doing, e))
    }
}

fn decode_error(column: &str, message: String) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: message.into(),
    }
}

fn read_run(row: &AnyRow) -> Result<LoopRunRow, sqlx::Error> {
    let criteria: String = row.try_get("acceptance_criteria")?;
    let acceptance_criteria = serde_json::from_str(&criteria)
        .map_err(|e| decode_error("acceptance_criteria", e.to_string()))?;
    Ok(LoopRunRow {
        id: row.try_get("id")?,
        objective: row.try_get("objective")?,
        acceptance_criteria,
        status: row.try_get("status")?,
        first_prompt: row.try_get("first_prompt")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
        caller: row.try_get("caller")?,
    })
}

fn read_record(row: &AnyRow) -> Result<LoopRecordRow, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let kind = LoopRecordKind::parse(&kind)
        .ok_or_else(|| decode_error("kind", format!("unexpected value `{kind}`")))?;
    let body: String = row.try_get("body")?;
    let body = serde_json::from_str(&body).map_err(|e| decode_error("body", e.to_string()))?;
    let seq: i64 = row.try_get("seq")?;
    Ok(LoopRecordRow {
        run_id: row.try_get("run_id")?,
        kind,
        seq: u32::try_from(seq).unwrap_or(u32::MAX),
        created_ms: row.try_get("created_ms")?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_kinds_round_trip() {
        for kind in LoopRecordKind::ALL {
            assert_eq!(LoopRecordKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(LoopRecordKind::parse("nope"), None);
    }
}
