//! A submitted task as the routing server Fusion replaces answered `route_task` (and its
//! `POST /api/tasks`): Fusion's fields with `task_id`, `status` (`pending`, `in_progress`) and
//! `queue_position` beside them, and `contention` when the slots the task waits for are all
//! taken (and `benchmark_contention` when benchmark runs hold them) — one shape for the MCP
//! tool and the HTTP API.

use serde_json::{Value, json};

use super::{Submitted, TaskEngine, TaskState};

impl TaskEngine {
    /// `submitted` in both vocabularies, with the contention of its slot group when busy. The
    /// queue is read once; a store error there only leaves the contention out.
    pub async fn router_answer(&self, submitted: &Submitted) -> Value {
        let mut value = serde_json::to_value(submitted).unwrap_or_else(|_| json!({}));
        // The queue is read before the task: a task the dispatcher started in between is
        // then seen running, and its own slot is not counted as contention.
        let contention = match self.queue().await {
            // The task is read only when the slots look taken (it may hold one of them).
            Ok(queue) => match queue.contention(&submitted.slot_group, false) {
                None => None,
                Some(_) => {
                    let runs = match self.get(&submitted.id).await {
                        Ok(view) => view.task.state != TaskState::Queued,
                        Err(_) => false,
                    };
                    queue.contention(&submitted.slot_group, runs)
                }
            },
            Err(err) => {
                tracing::debug!("task queue unreadable for the contention report: {err}");
                None
            }
        };
        if let Some(object) = value.as_object_mut() {
            object.insert("task_id".into(), json!(submitted.id));
            object.insert("status".into(), json!(submitted.state.router_word()));
            object.insert("queue_position".into(), json!(submitted.position));
            if let Some(contention) = contention {
                if let Some(benchmark) = &contention.benchmark {
                    object.insert("benchmark_contention".into(), json!(benchmark));
                }
                object.insert("contention".into(), json!(contention));
            }
        }
        value
    }
}
