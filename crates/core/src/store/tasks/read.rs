//! Reading tasks: one with its jobs and queue position, filtered pages with a total, per-group
//! counts of open tasks, and decoding rows into the views.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::super::Store;
use super::{
    GroupCount, JOB_COLUMNS, JobView, POSITION, TaskFilter, TaskKind, TaskPage, TaskState,
    TaskSummary, TaskView, task_columns,
};

impl Store {
    /// The state of a task, or `None` for an unknown id.
    pub async fn task_state(&self, id: &str) -> crate::Result<Option<TaskState>> {
        let doing = "reading a task's state";
        let row = sqlx::query("SELECT state FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(self.task_error(doing))?;
        row.map(|row| row.try_get::<String, _>("state"))
            .transpose()
            .map_err(self.task_error(doing))
            .map(|state| state.and_then(|s| TaskState::parse(&s)))
    }

    /// One task with its jobs and queue position.
    pub async fn get_task(&self, id: &str) -> crate::Result<Option<TaskView>> {
        let doing = "reading a task";
        let sql = format!(
            "SELECT {}, {POSITION} FROM tasks t WHERE t.id = $1",
            task_columns("t.", true)
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(self.task_error(doing))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut view = read_view(&row, true).map_err(self.task_error(doing))?;
        view.jobs = self.task_jobs(id).await?;
        Ok(Some(view))
    }

    /// The jobs of a task, in the order they were made.
    pub async fn task_jobs(&self, task_id: &str) -> crate::Result<Vec<JobView>> {
        let doing = "reading a task's jobs";
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE task_id = $1 ORDER BY attempt, seq");
        sqlx::query(&sql)
            .bind(task_id)
            .fetch_all(self.pool())
            .await
            .map_err(self.task_error(doing))?
            .iter()
            .map(read_job)
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.task_error(doing))
    }

    /// The page of tasks `filter` selects, newest first, with the total count.
    pub async fn list_tasks(&self, filter: &TaskFilter) -> crate::Result<TaskPage> {
        let doing = "listing tasks";
        let page = filter.page.unwrap_or(1).max(1);
        let page_size = filter.page_size.unwrap_or(50).clamp(1, 500);
        let mut conditions = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let mut bind = |value: String| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(state) = filter.state {
            conditions.push(format!("t.state = {}", bind(state.as_str().to_owned())));
        }
        if filter.active {
            conditions.push("t.state IN ('queued', 'running')".to_owned());
        }
        if let Some(id) = &filter.task_id {
            conditions.push(format!("t.id = {}", bind(id.clone())));
        }
        if let Some(kind) = filter.kind {
            conditions.push(format!("t.kind = {}", bind(kind.as_str().to_owned())));
        }
        for (column, value) in [("provider", &filter.provider), ("model", &filter.model)] {
            if let Some(value) = value {
                let p = bind(value.clone());
                conditions.push(format!(
                    "(t.{column} = {p} OR EXISTS (SELECT 1 FROM jobs j WHERE j.task_id = t.id \
                     AND j.{column} = {p}))"
                ));
            }
        }
        if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
            let p = bind(format!("%{}%", escape_like(&q.to_lowercase())));
            conditions.push(format!(
                "(LOWER(t.id) LIKE {p} ESCAPE '\\' OR LOWER(t.request) LIKE {p} ESCAPE '\\' \
                 OR LOWER(t.result) LIKE {p} ESCAPE '\\')"
            ));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) AS n FROM tasks t {where_clause}");
        let mut count = sqlx::query(&count_sql).persistent(false);
        for value in &binds {
            count = count.bind(value.as_str());
        }
        let total: i64 = count
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(self.task_error(doing))?;
        let offset = u64::from(page - 1) * u64::from(page_size);
        let sql = format!(
            "SELECT {}, {POSITION} FROM tasks t {where_clause} \
             ORDER BY t.created_ms DESC, t.seq DESC LIMIT {page_size} OFFSET {offset}",
            task_columns("t.", false)
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        let tasks = query
            .fetch_all(self.pool())
            .await
            .map_err(self.task_error(doing))?
            .iter()
            .map(|row| read_summary(row, true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.task_error(doing))?;
        Ok(TaskPage {
            tasks,
            total: u64::try_from(total).unwrap_or(0),
            page,
            page_size,
        })
    }

    /// Queued and running tasks per slot group (groups with none are left out).
    pub async fn task_group_counts(&self) -> crate::Result<Vec<GroupCount>> {
        let doing = "counting queued tasks";
        let rows = sqlx::query(
            "SELECT slot_group, state, kind, COUNT(*) AS n FROM tasks \
             WHERE state IN ('queued', 'running') GROUP BY slot_group, state, kind",
        )
        .fetch_all(self.pool())
        .await
        .map_err(self.task_error(doing))?;
        let mut groups: Vec<GroupCount> = Vec::new();
        for row in &rows {
            let group: String = row.try_get("slot_group").map_err(self.task_error(doing))?;
            let state: String = row.try_get("state").map_err(self.task_error(doing))?;
            let kind: String = row.try_get("kind").map_err(self.task_error(doing))?;
            let bench = kind == TaskKind::Bench.as_str();
            let n: i64 = row.try_get("n").map_err(self.task_error(doing))?;
            let n = u64::try_from(n).unwrap_or(0);
            let entry = match groups.iter_mut().position(|g| g.slot_group == group) {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(GroupCount {
                        slot_group: group,
                        queued: 0,
                        running: 0,
                        bench_queued: 0,
                        bench_running: 0,
                    });
                    let last = groups.len() - 1;
                    &mut groups[last]
                }
            };
            let (all, benches) = if state == "queued" {
                (&mut entry.queued, &mut entry.bench_queued)
            } else {
                (&mut entry.running, &mut entry.bench_running)
            };
            *all += n;
            if bench {
                *benches += n;
            }
        }
        groups.sort_by(|a, b| a.slot_group.cmp(&b.slot_group));
        Ok(groups)
    }
}

/// `%`, `_` and `\` taken literally in a LIKE pattern with `ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unexpected value `{value}`").into(),
    }
}

fn count(row: &AnyRow, column: &str) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
}

fn json(row: &AnyRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| decode_error(column, &e.to_string())))
        .transpose()
}

fn read_summary(row: &AnyRow, with_position: bool) -> Result<TaskSummary, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let position = if with_position {
        row.try_get::<Option<i64>, _>("position")?
            .and_then(|p| u64::try_from(p).ok())
    } else {
        None
    };
    let state = TaskState::parse(&state).ok_or_else(|| decode_error("state", &state))?;
    Ok(TaskSummary {
        id: row.try_get("id")?,
        kind: TaskKind::parse(&kind).ok_or_else(|| decode_error("kind", &kind))?,
        state,
        status: state.router_word(),
        priority: row.try_get("priority")?,
        created_ms: row.try_get("created_ms")?,
        started_ms: row.try_get("started_ms")?,
        finished_ms: row.try_get("finished_ms")?,
        position,
        slot_group: row.try_get("slot_group")?,
        progress: row.try_get("progress")?,
        progress_message: row.try_get("progress_message")?,
        model: row.try_get("model")?,
        provider: row.try_get("provider")?,
        error: row.try_get("error")?,
        cost_usd: row.try_get("cost_usd")?,
        tokens: count(row, "tokens")?,
        attempts: u32::try_from(count(row, "attempts")?).unwrap_or(u32::MAX),
        owner: row.try_get("owner")?,
        lease_until_ms: row.try_get("lease_until_ms")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        caller: row.try_get("caller")?,
    })
}

pub(super) fn read_view(row: &AnyRow, with_position: bool) -> Result<TaskView, sqlx::Error> {
    Ok(TaskView {
        task: read_summary(row, with_position)?,
        request: json(row, "request")?.unwrap_or(Value::Null),
        decision: json(row, "decision")?,
        result: json(row, "result")?,
        jobs: Vec::new(),
    })
}

pub(super) fn read_job(row: &AnyRow) -> Result<JobView, sqlx::Error> {
    let state: String = row.try_get("state")?;
    Ok(JobView {
        id: row.try_get("id")?,
        task_id: row.try_get("task_id")?,
        attempt: u32::try_from(count(row, "attempt")?).unwrap_or(u32::MAX),
        label: row.try_get("label")?,
        model: row.try_get("model")?,
        provider: row.try_get("provider")?,
        state: TaskState::parse(&state).ok_or_else(|| decode_error("state", &state))?,
        started_ms: row.try_get("started_ms")?,
        finished_ms: row.try_get("finished_ms")?,
        error: row.try_get("error")?,
        cost_usd: row.try_get("cost_usd")?,
        tokens: count(row, "tokens")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
