//! The task resources: `fusion://jobs/active` (the queue per slot group and every task not
//! yet ended) and the template `fusion://tasks/{id}` (one task with its jobs, decision and
//! result), read from the process's task engine.

use fusion_core::tasks::{TaskEngine, TaskFilter, TaskState};
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

pub const ACTIVE: &str = "fusion://jobs/active";
pub const TASK_TEMPLATE: &str = "fusion://tasks/{id}";
const TASK_PREFIX: &str = "fusion://tasks/";
const JSON: &str = "application/json";
/// Active tasks listed by `fusion://jobs/active`, at most.
const ACTIVE_LIMIT: u32 = 200;

pub fn resources() -> Vec<Resource> {
    vec![
        Resource::new(ACTIVE, "active-jobs")
            .with_title("Fusion's active tasks")
            .with_description(
                "The task queue (per slot group: limit, in use, queued, running) and every \
                 task queued or running, with its position and progress",
            )
            .with_mime_type(JSON),
    ]
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TASK_TEMPLATE, "task")
            .with_title("A Fusion task")
            .with_description("One task: state, progress, jobs, decision and result")
            .with_mime_type(JSON),
    ]
}

/// Whether `uri` is one of this module's resources.
pub fn is_own(uri: &str) -> bool {
    uri == ACTIVE
        || uri
            .strip_prefix(TASK_PREFIX)
            .is_some_and(|id| !id.is_empty())
}

pub async fn read(engine: Option<&TaskEngine>, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let Some(engine) = engine else {
        return Err(ErrorData::internal_error(
            "this Fusion runs without a task engine: no tasks",
            None,
        ));
    };
    // A store failure's detail stays in the log: the client gets a request id.
    let internal = |e: fusion_core::Error| ErrorData::internal_error(e.for_client().message, None);
    let body = if uri == ACTIVE {
        let queue = engine.queue().await.map_err(internal)?;
        let mut active = Vec::new();
        for state in [TaskState::Running, TaskState::Queued] {
            let filter = TaskFilter {
                state: Some(state),
                page_size: Some(ACTIVE_LIMIT),
                ..TaskFilter::default()
            };
            active.extend(engine.list(filter).await.map_err(internal)?.tasks);
        }
        json!({ "queue": queue, "tasks": active })
    } else {
        let id = uri.strip_prefix(TASK_PREFIX).unwrap_or_default();
        match engine.get(id).await {
            Ok(view) => serde_json::to_value(view).map_err(|e| {
                ErrorData::internal_error(format!("cannot encode {uri}: {e}"), None)
            })?,
            Err(err) if matches!(err.kind(), fusion_core::ErrorKind::TaskNotFound { .. }) => {
                return Err(ErrorData::resource_not_found(
                    format!("no task `{id}`"),
                    Some(json!({ "uri": uri })),
                ));
            }
            Err(err) => return Err(internal(err)),
        }
    };
    let text = serde_json::to_string_pretty(&body)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode {uri}: {e}"), None))?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type(JSON),
    ]))
}
