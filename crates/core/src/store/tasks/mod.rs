//! Tasks and their jobs in the store (tables `tasks` and `jobs`, migration 0003): the row
//! types and views here; `lifecycle` writes a task's life (insert, claim — one statement, with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL and SQLite's single writer elsewhere, so each task is
//! claimed by exactly one process — leases, progress, outcome, cancellation, recovery of tasks
//! whose owner stopped), `jobs` the jobs' rows, `read` the reads (one task with its jobs and
//! queue position, filtered pages, queue counts). Every statement is portable: `$N`
//! placeholders, BIGINT 0/1 booleans, JSON as TEXT.

mod jobs;
mod lifecycle;
mod read;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Store;

/// Where a task (or a job) is in its life. `queued` and `running` are open; the others final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Completed,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// The state in the routing server's words (its task API and MCP tools): `pending`,
    /// `in_progress`, `completed`, `failed`, `cancelled`.
    pub fn router_word(self) -> &'static str {
        match self {
            Self::Queued => "pending",
            Self::Running => "in_progress",
            Self::Completed | Self::Failed | Self::Cancelled => self.as_str(),
        }
    }

    /// Fusion's name or the routing server's (`pending`, `in_progress`).
    pub fn parse_either(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Queued),
            "in_progress" => Some(Self::Running),
            other => Self::parse(other),
        }
    }

    /// Completed, failed or cancelled.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// One routed (or named-model) completion.
    Completion,
    /// One council run.
    Council,
    /// One benchmark run (`fusion_bench`, through the runner registered with the engine).
    Bench,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completion => "completion",
            Self::Council => "council",
            Self::Bench => "bench",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Completion, Self::Council, Self::Bench]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// A task without its request, decision and result (list rows).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSummary {
    pub id: String,
    pub kind: TaskKind,
    pub state: TaskState,
    /// `state` in the routing server's words (`pending`, `in_progress`, `completed`, `failed`,
    /// `cancelled`), for its clients; always `state.router_word()`.
    pub status: &'static str,
    /// Higher runs first.
    pub priority: i64,
    pub created_ms: i64,
    /// When its latest attempt started.
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// 1-based place in the queue (priority first, then age) while queued.
    pub position: Option<u64>,
    /// The concurrency group it is dispatched under: "local", "provider:NAME" or "council".
    pub slot_group: String,
    /// 0 to 1.
    pub progress: f64,
    pub progress_message: Option<String>,
    /// The model chosen at submit (completions), then the one that answered.
    pub model: Option<String>,
    pub provider: Option<String>,
    pub error: Option<String>,
    pub cost_usd: f64,
    pub tokens: u64,
    /// How many times it was started.
    pub attempts: u32,
    /// The process that runs (or last ran) it.
    pub owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub cancel_requested: bool,
    /// The front door that submitted it ("cli", "http", "mcp", ...).
    pub caller: String,
}

/// A task with its request, routing decision, result and jobs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: TaskSummary,
    pub request: Value,
    pub decision: Option<Value>,
    /// Inline once the task ended (a completion's response, or the council result).
    pub result: Option<Value>,
    /// In the order they were made.
    pub jobs: Vec<JobView>,
}

/// One model call of a task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    pub id: String,
    pub task_id: String,
    /// The task attempt that made it (1-based).
    pub attempt: u32,
    /// "attempt 1", a member name, "judge", "synthesizer".
    pub label: String,
    pub model: String,
    pub provider: String,
    pub state: TaskState,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub error: Option<String>,
    pub cost_usd: f64,
    pub tokens: u64,
    pub cancel_requested: bool,
}

/// Which tasks a page lists; every field narrows. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskFilter {
    #[serde(alias = "status")]
    pub state: Option<TaskState>,
    pub kind: Option<TaskKind>,
    /// The task's provider, or that of any of its jobs.
    pub provider: Option<String>,
    /// The task's model, or that of any of its jobs.
    pub model: Option<String>,
    /// A substring (case-insensitive) of the id, the request or the result.
    pub q: Option<String>,
    /// Exactly this task.
    pub task_id: Option<String>,
    /// Only queued or running tasks (with `state`, both must hold).
    pub active: bool,
    /// 1-based; default 1.
    pub page: Option<u32>,
    /// Default 50, at most 500.
    pub page_size: Option<u32>,
}

/// One page of tasks and how many match in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskPage {
    pub tasks: Vec<TaskSummary>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// A task to insert, queued.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: String,
    pub kind: TaskKind,
    pub priority: i64,
    pub created_ms: i64,
    /// Orders tasks created in the same millisecond.
    pub seq: i64,
    pub slot_group: String,
    pub request: Value,
    pub decision: Option<Value>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub caller: String,
}

/// A job to insert: `queued` (waiting for a slot) or `running` (with `started_ms`).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub task_id: String,
    pub attempt: u32,
    pub seq: u32,
    pub label: String,
    pub model: String,
    pub provider: String,
    pub state: TaskState,
    pub started_ms: Option<i64>,
}

/// How a running task ended, written by its owner.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    pub state: TaskState,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub cost_usd: f64,
    pub tokens: u64,
    /// Kept as they were when `None`.
    pub model: Option<String>,
    pub provider: Option<String>,
    pub message: String,
}

/// What an owner learns when it renews a lease.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseState {
    pub cancel_requested: bool,
    /// Open jobs whose cancellation was asked for (maybe by another process).
    pub cancelled_jobs: Vec<String>,
}

/// What `cancel_task` did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// It was queued and is now cancelled.
    Cancelled,
    /// It is running; its owner stops it on noticing the flag.
    Requested { owner: Option<String> },
}

/// Tasks recovered from owners whose lease expired.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovered {
    pub requeued: Vec<String>,
    pub failed: Vec<String>,
    pub cancelled: Vec<String>,
}

/// Open tasks of one slot group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCount {
    pub slot_group: String,
    pub queued: u64,
    pub running: u64,
    /// Of those, benchmark runs (kind `bench`).
    pub bench_queued: u64,
    pub bench_running: u64,
}

const SUMMARY_COLUMNS: [&str; 19] = [
    "id",
    "kind",
    "state",
    "priority",
    "created_ms",
    "started_ms",
    "finished_ms",
    "slot_group",
    "progress",
    "progress_message",
    "model",
    "provider",
    "error",
    "cost_usd",
    "tokens",
    "attempts",
    "owner",
    "lease_until_ms",
    "cancel_requested",
];
const JOB_COLUMNS: &str = "id, task_id, attempt, seq, label, model, provider, state, started_ms, \
                           finished_ms, error, cost_usd, tokens, cancel_requested";

/// 1 + the queued tasks ahead of `t` (higher priority, or equal and older), for queued tasks.
const POSITION: &str = "CASE WHEN t.state = 'queued' THEN (SELECT COUNT(*) FROM tasks q \
     WHERE q.state = 'queued' AND (q.priority > t.priority OR (q.priority = t.priority AND \
     (q.created_ms < t.created_ms OR (q.created_ms = t.created_ms AND q.seq < t.seq))))) + 1 \
     ELSE NULL END AS position";

/// `prefix.a, prefix.b, ..., caller` (+ request, decision, result when `detail`).
fn task_columns(prefix: &str, detail: bool) -> String {
    let mut names: Vec<&str> = SUMMARY_COLUMNS.to_vec();
    names.push("caller");
    if detail {
        names.extend(["request", "decision", "result"]);
    }
    names
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Maps a failed query to a `Store` error naming what was being done.
    fn task_error(&self, doing: &str) -> impl Fn(sqlx::Error) -> crate::Error + '_ {
        let doing = doing.to_owned();
        move |e| self.query_error(&doing, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_only_queued_and_running_are_open() {
        for state in [
            TaskState::Queued,
            TaskState::Running,
            TaskState::Completed,
            TaskState::Failed,
            TaskState::Cancelled,
        ] {
            assert_eq!(TaskState::parse(state.as_str()), Some(state));
        }
        assert!(!TaskState::Running.is_final());
        assert!(TaskState::Cancelled.is_final());
        assert_eq!(TaskKind::parse("council"), Some(TaskKind::Council));
    }
}
