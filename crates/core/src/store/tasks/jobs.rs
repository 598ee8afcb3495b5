//! Job rows: inserted queued or running, started, ended (only while open), closed with their
//! task, flagged for cancellation by any process, and read one at a time.

use super::super::Store;
use super::super::usage::to_i64;
use super::{JOB_COLUMNS, JobView, NewJob, TaskState, read::read_job};

impl Store {
    /// Inserts a job.
    pub async fn insert_job(&self, job: &NewJob) -> crate::Result<()> {
        let sql = format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, \
             NULL, 0.0, 0, 0)"
        );
        sqlx::query(&sql)
            .bind(job.id.as_str())
            .bind(job.task_id.as_str())
            .bind(i64::from(job.attempt))
            .bind(i64::from(job.seq))
            .bind(job.label.as_str())
            .bind(job.model.as_str())
            .bind(job.provider.as_str())
            .bind(job.state.as_str())
            .bind(job.started_ms)
            .execute(self.pool())
            .await
            .map_err(self.task_error("inserting a job"))?;
        Ok(())
    }

    /// A queued job starts its model call.
    pub async fn start_job(&self, id: &str, now_ms: i64) -> crate::Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'running', started_ms = $1 WHERE id = $2 AND state = 'queued'",
        )
        .bind(now_ms)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(self.task_error("starting a job"))?;
        Ok(())
    }

    /// Ends an open job; an ended one is left as it is.
    pub async fn finish_job(
        &self,
        id: &str,
        state: TaskState,
        error: Option<&str>,
        cost_usd: f64,
        tokens: u64,
        now_ms: i64,
    ) -> crate::Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = $1, error = $2, cost_usd = $3, tokens = $4, \
             finished_ms = $5 WHERE id = $6 AND state IN ('queued', 'running')",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(cost_usd)
        .bind(to_i64(tokens))
        .bind(now_ms)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(self.task_error("finishing a job"))?;
        Ok(())
    }

    /// Ends every open job of a task with `state` and `error`.
    pub async fn finish_open_jobs(
        &self,
        task_id: &str,
        state: TaskState,
        error: &str,
        now_ms: i64,
    ) -> crate::Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = $1, error = $2, finished_ms = $3 \
             WHERE task_id = $4 AND state IN ('queued', 'running')",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(now_ms)
        .bind(task_id)
        .execute(self.pool())
        .await
        .map_err(self.task_error("ending a task's jobs"))?;
        Ok(())
    }

    /// One job, or `None` for an unknown id.
    pub async fn get_job(&self, id: &str) -> crate::Result<Option<JobView>> {
        let doing = "reading a job";
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(self.task_error(doing))?;
        row.map(|row| read_job(&row))
            .transpose()
            .map_err(self.task_error(doing))
    }

    /// Flags an open job for cancellation (its task's owner acts on it); false when the job
    /// is not open.
    pub async fn request_job_cancel(&self, id: &str) -> crate::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(self.task_error("cancelling a job"))?;
        Ok(done.rows_affected() == 1)
    }
}
