//! Task events: one for every state change and progress update of a task or job made by this
//! process, broadcast to subscribers (the dashboard's SSE stream, MCP progress notifications).
//! A subscriber that falls behind misses events (it sees `Lagged`) rather than slowing tasks.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::store::{TaskState, now_ms};

/// Events a slow subscriber may fall behind by before it misses some.
pub(crate) const CAPACITY: usize = 1024;

/// Whether an event is about a task or one of its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskEventKind {
    Task,
    Job,
}

/// One change. Serialized as `{"type": "task" | "job", "id", "task_id", "state", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskEvent {
    #[serde(rename = "type")]
    pub kind: TaskEventKind,
    /// The task's id, or the job's.
    pub id: String,
    pub task_id: String,
    pub state: TaskState,
    /// 0 to 1 (tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The job's label ("attempt 1", a member name, "judge", "synthesizer").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub at_ms: i64,
}

/// The sending side, shared by everything in the engine.
#[derive(Clone)]
pub(crate) struct Events {
    tx: broadcast::Sender<TaskEvent>,
}

impl Events {
    pub(crate) fn new() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.tx.subscribe()
    }

    pub(crate) fn task(
        &self,
        id: &str,
        state: TaskState,
        progress: Option<f64>,
        message: impl Into<String>,
    ) {
        self.send(TaskEvent {
            kind: TaskEventKind::Task,
            id: id.to_owned(),
            task_id: id.to_owned(),
            state,
            progress,
            message: Some(message.into()),
            label: None,
            at_ms: now_ms(),
        });
    }

    pub(crate) fn job(
        &self,
        id: &str,
        task_id: &str,
        label: &str,
        state: TaskState,
        message: Option<String>,
    ) {
        self.send(TaskEvent {
            kind: TaskEventKind::Job,
            id: id.to_owned(),
            task_id: task_id.to_owned(),
            state,
            progress: None,
            message,
            label: Some(label.to_owned()),
            at_ms: now_ms(),
        });
    }

    fn send(&self, event: TaskEvent) {
        // No subscriber is fine: events are for whoever listens.
        let _ = self.tx.send(event);
    }
}
