//! A task's life in the store: inserted queued, claimed by one process with a lease, its lease
//! renewed (answering whether cancellation was asked for), its progress and outcome written by
//! its owner only, requeued on a graceful stop (cancelled instead when that was asked for),
//! cancelled, recovered from an owner whose lease expired, or — finished long ago — deleted
//! with its jobs by the store's retention.

use serde_json::Value;
use sqlx::Row;

use super::super::usage::to_i64;
use super::super::{Store, StoreKind};
use super::{
    CancelOutcome, LeaseState, NewTask, Recovered, TaskOutcome, TaskState, TaskView,
    read::read_view, task_columns,
};
use crate::error::ErrorKind;

/// The message and error of a running task stopped because its cancellation was asked for (as
/// `tasks::run` writes them when the owner notices it).
const CANCELLED_BY_REQUEST: &str = "cancelled by cancel_task";

impl Store {
    /// Inserts a queued task.
    pub async fn insert_task(&self, task: &NewTask) -> crate::Result<()> {
        let sql = "INSERT INTO tasks (id, kind, state, priority, created_ms, seq, slot_group, \
             progress, request, decision, model, provider, cost_usd, tokens, attempts, \
             cancel_requested, caller) VALUES ($1, $2, 'queued', $3, $4, $5, $6, 0.0, $7, $8, $9, \
             $10, 0.0, 0, 0, 0, $11)";
        sqlx::query(sql)
            .bind(task.id.as_str())
            .bind(task.kind.as_str())
            .bind(task.priority)
            .bind(task.created_ms)
            .bind(task.seq)
            .bind(task.slot_group.as_str())
            .bind(task.request.to_string())
            .bind(task.decision.as_ref().map(Value::to_string))
            .bind(task.model.clone())
            .bind(task.provider.clone())
            .bind(task.caller.as_str())
            .execute(self.pool())
            .await
            .map_err(self.task_error("inserting a task"))?;
        Ok(())
    }

    /// Claims the next queued task (priority first, then age) of one of `groups` for `owner`,
    /// with its lease until `lease_until_ms`: running, `attempts` + 1. `None` when there is none.
    pub async fn claim_task(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        groups: &[String],
    ) -> crate::Result<Option<TaskView>> {
        if groups.is_empty() {
            return Ok(None);
        }
        let list: Vec<String> = (0..groups.len()).map(|i| format!("${}", i + 4)).collect();
        let lock = match self.kind() {
            StoreKind::Postgres => " FOR UPDATE SKIP LOCKED",
            StoreKind::Sqlite => "",
        };
        let sql = format!(
            "UPDATE tasks SET state = 'running', owner = $1, lease_until_ms = $2, started_ms = $3, \
             attempts = attempts + 1, progress = 0.0, progress_message = NULL \
             WHERE state = 'queued' AND id = (SELECT id FROM tasks WHERE state = 'queued' AND \
             slot_group IN ({}) ORDER BY priority DESC, created_ms, seq LIMIT 1{lock}) \
             RETURNING {}",
            list.join(", "),
            task_columns("", true)
        );
        let mut query = sqlx::query(&sql)
            .persistent(false)
            .bind(owner)
            .bind(lease_until_ms)
            .bind(now_ms);
        for group in groups {
            query = query.bind(group.as_str());
        }
        let doing = "claiming a task";
        let row = query
            .fetch_optional(self.pool())
            .await
            .map_err(self.task_error(doing))?;
        row.map(|row| read_view(&row, false))
            .transpose()
            .map_err(self.task_error(doing))
    }

    /// Extends the lease of a task `owner` runs; `None` when it no longer runs it (the task
    /// ended, or was recovered by another process after the lease expired).
    pub async fn renew_lease(
        &self,
        id: &str,
        owner: &str,
        lease_until_ms: i64,
    ) -> crate::Result<Option<LeaseState>> {
        let doing = "renewing a task lease";
        let row = sqlx::query(
            "UPDATE tasks SET lease_until_ms = $1 WHERE id = $2 AND owner = $3 AND \
             state = 'running' RETURNING cancel_requested",
        )
        .bind(lease_until_ms)
        .bind(id)
        .bind(owner)
        .fetch_optional(self.pool())
        .await
        .map_err(self.task_error(doing))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let cancel_requested = row
            .try_get::<i64, _>("cancel_requested")
            .map_err(self.task_error(doing))?
            != 0;
        let cancelled_jobs = sqlx::query(
            "SELECT id FROM jobs WHERE task_id = $1 AND cancel_requested = 1 AND \
             state IN ('queued', 'running')",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .map_err(self.task_error(doing))?
        .iter()
        .map(|row| row.try_get::<String, _>("id"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(self.task_error(doing))?;
        Ok(Some(LeaseState {
            cancel_requested,
            cancelled_jobs,
        }))
    }

    /// Sets the progress of a task `owner` runs; false when it no longer runs it.
    pub async fn set_task_progress(
        &self,
        id: &str,
        owner: &str,
        progress: f64,
        message: &str,
    ) -> crate::Result<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET progress = $1, progress_message = $2 WHERE id = $3 AND owner = $4 \
             AND state = 'running'",
        )
        .bind(progress)
        .bind(message)
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(self.task_error("setting task progress"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a task `owner` runs; false when it no longer runs it (then nothing is written).
    pub async fn finish_task(
        &self,
        id: &str,
        owner: &str,
        now_ms: i64,
        outcome: &TaskOutcome,
    ) -> crate::Result<bool> {
        let progress = if outcome.state == TaskState::Completed {
            1.0
        } else {
            0.0
        };
        let done = sqlx::query(
            "UPDATE tasks SET state = $1, finished_ms = $2, progress = CASE WHEN $3 > progress \
             THEN $3 ELSE progress END, progress_message = $4, result = $5, error = $6, \
             cost_usd = $7, tokens = $8, model = COALESCE($9, model), \
             provider = COALESCE($10, provider), lease_until_ms = NULL \
             WHERE id = $11 AND owner = $12 AND state = 'running'",
        )
        .bind(outcome.state.as_str())
        .bind(now_ms)
        .bind(progress)
        .bind(outcome.message.as_str())
        .bind(outcome.result.as_ref().map(Value::to_string))
        .bind(outcome.error.clone())
        .bind(outcome.cost_usd)
        .bind(to_i64(outcome.tokens))
        .bind(outcome.model.clone())
        .bind(outcome.provider.clone())
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(self.task_error("finishing a task"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts a task `owner` runs back in the queue (its process is stopping) — unless its
    /// cancellation was asked for meanwhile (from another process, which only flags it): then
    /// it ends cancelled ("cancelled by cancel_task") rather than run again elsewhere. The state
    /// it is left in; `None` when `owner` no longer runs it.
    pub async fn requeue_task(
        &self,
        id: &str,
        owner: &str,
        now_ms: i64,
        message: &str,
    ) -> crate::Result<Option<TaskState>> {
        let doing = "requeueing a task";
        let row = sqlx::query(
            "UPDATE tasks SET \
             state = CASE WHEN cancel_requested = 0 THEN 'queued' ELSE 'cancelled' END, \
             owner = CASE WHEN cancel_requested = 0 THEN NULL ELSE owner END, \
             started_ms = CASE WHEN cancel_requested = 0 THEN NULL ELSE started_ms END, \
             finished_ms = CASE WHEN cancel_requested = 0 THEN NULL ELSE $1 END, \
             progress = CASE WHEN cancel_requested = 0 THEN 0.0 ELSE progress END, \
             progress_message = CASE WHEN cancel_requested = 0 THEN $2 ELSE $3 END, \
             error = CASE WHEN cancel_requested = 0 THEN error ELSE $3 END, \
             lease_until_ms = NULL \
             WHERE id = $4 AND owner = $5 AND state = 'running' RETURNING state",
        )
        .bind(now_ms)
        .bind(message)
        .bind(CANCELLED_BY_REQUEST)
        .bind(id)
        .bind(owner)
        .fetch_optional(self.pool())
        .await
        .map_err(self.task_error(doing))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state: String = row.try_get("state").map_err(self.task_error(doing))?;
        Ok(Some(TaskState::parse(&state).unwrap_or(TaskState::Queued)))
    }

    /// Cancels a queued task at once, or flags a running one for its owner to stop. Unknown
    /// ids and ended tasks are errors (`TaskNotFound`, `TaskFinished`).
    pub async fn cancel_task(&self, id: &str, now_ms: i64) -> crate::Result<CancelOutcome> {
        let doing = "cancelling a task";
        let queued = sqlx::query(
            "UPDATE tasks SET state = 'cancelled', finished_ms = $1, \
             progress_message = 'cancelled while queued' WHERE id = $2 AND state = 'queued'",
        )
        .bind(now_ms)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(self.task_error(doing))?;
        if queued.rows_affected() == 1 {
            return Ok(CancelOutcome::Cancelled);
        }
        let running = sqlx::query(
            "UPDATE tasks SET cancel_requested = 1 WHERE id = $1 AND state = 'running' \
             RETURNING owner",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(self.task_error(doing))?;
        if let Some(row) = running {
            let owner = row.try_get("owner").map_err(self.task_error(doing))?;
            return Ok(CancelOutcome::Requested { owner });
        }
        Err(match self.task_state(id).await? {
            None => ErrorKind::TaskNotFound { id: id.to_owned() },
            Some(state) => ErrorKind::TaskFinished {
                id: id.to_owned(),
                state: state.to_string(),
            },
        }
        .into())
    }

    /// Recovers running tasks whose lease expired before `now_ms` (their process stopped):
    /// one whose cancellation was asked for is cancelled; one that never reached a model in its
    /// latest attempt is queued again; one interrupted mid-call is queued again when
    /// `requeue_interrupted`, else failed with "interrupted: the process running it stopped
    /// (attempt N)". Their open jobs end as failed. Each update re-checks the expired lease, so
    /// two processes recovering at once recover each task once. Tasks in `alive` (still running
    /// in the caller's own process, whose renewal is merely late) are left alone.
    pub async fn recover_expired_tasks(
        &self,
        now_ms: i64,
        requeue_interrupted: bool,
        alive: &[String],
    ) -> crate::Result<Recovered> {
        let doing = "recovering tasks with expired leases";
        let rows = sqlx::query(
            "SELECT id, owner, attempts, cancel_requested FROM tasks \
             WHERE state = 'running' AND lease_until_ms < $1",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await
        .map_err(self.task_error(doing))?;
        let mut recovered = Recovered::default();
        for row in &rows {
            let id: String = row.try_get("id").map_err(self.task_error(doing))?;
            if alive.contains(&id) {
                continue; // still running in the caller's process: its renewal is late
            }
            let owner: Option<String> = row.try_get("owner").map_err(self.task_error(doing))?;
            let attempts: i64 = row.try_get("attempts").map_err(self.task_error(doing))?;
            let cancel: i64 = row
                .try_get("cancel_requested")
                .map_err(self.task_error(doing))?;
            let started: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM jobs WHERE task_id = $1 AND attempt = $2 AND \
                 started_ms IS NOT NULL",
            )
            .bind(id.as_str())
            .bind(attempts)
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(self.task_error(doing))?;
            let interrupted =
                format!("interrupted: the process running it stopped (attempt {attempts})");
            let (state, message, error) = if cancel != 0 {
                let message = "cancelled: the process running it stopped first";
                (TaskState::Cancelled, message.to_owned(), None)
            } else if started == 0 {
                let message = format!(
                    "requeued: the process running it stopped before any model call \
                     (attempt {attempts})"
                );
                (TaskState::Queued, message, None)
            } else if requeue_interrupted {
                (TaskState::Queued, format!("requeued: {interrupted}"), None)
            } else {
                (
                    TaskState::Failed,
                    interrupted.clone(),
                    Some(interrupted.clone()),
                )
            };
            let sql = if state == TaskState::Queued {
                "UPDATE tasks SET state = $1, progress_message = $2, error = $3, owner = NULL, \
                 lease_until_ms = NULL, started_ms = NULL, progress = 0.0 \
                 WHERE id = $4 AND state = 'running' AND lease_until_ms < $5 AND owner = $6"
            } else {
                "UPDATE tasks SET state = $1, progress_message = $2, error = $3, \
                 lease_until_ms = NULL, finished_ms = $5 \
                 WHERE id = $4 AND state = 'running' AND lease_until_ms < $5 AND owner = $6"
            };
            let done = sqlx::query(sql)
                .bind(state.as_str())
                .bind(message.as_str())
                .bind(error)
                .bind(id.as_str())
                .bind(now_ms)
                .bind(owner)
                .execute(self.pool())
                .await
                .map_err(self.task_error(doing))?;
            if done.rows_affected() != 1 {
                continue; // another process recovered it first
            }
            self.finish_open_jobs(&id, TaskState::Failed, &interrupted, now_ms)
                .await?;
            tracing::info!(task = %id, state = %state, "{message}");
            match state {
                TaskState::Queued => recovered.requeued.push(id),
                TaskState::Cancelled => recovered.cancelled.push(id),
                _ => recovered.failed.push(id),
            }
        }
        Ok(recovered)
    }

    /// Deletes the tasks that finished (completed, failed or cancelled) before `before_ms`,
    /// with their jobs, in bounded batches (`storage.task_retention`); queued and running
    /// tasks are never touched. Returns how many tasks went.
    pub async fn delete_finished_tasks(&self, before_ms: i64) -> crate::Result<u64> {
        super::super::retention::delete_in_batches(
            self,
            "tasks",
            "id",
            "state IN ('completed', 'failed', 'cancelled') AND finished_ms < $1",
            &[("jobs", "task_id")],
            before_ms,
        )
        .await
    }
}
