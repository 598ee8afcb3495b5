//! The routing server's spelling of the task API, as its users send it: the `POST /api/tasks`
//! body `{"task": "...", "context_length": 4096, "complexity": 0.6, "priority": "quality"}`
//! (answered by `TaskEngine::router_answer`: its `task_id`, `status`, `queue_position` and
//! contention next to Fusion's fields, or with
//! the decision alone for `"preemptive": true`), and its task states (`pending`, `in_progress`)
//! in the `status` filter.

use fusion_core::config::Priority;
use fusion_core::router::RouteInput;
use fusion_core::tasks::{RouteHints, TaskSpec, TaskState, TaskWork};
use fusion_types::{ChatMessage, Role};
use serde::Deserialize;
use serde_json::Value;

use crate::ApiError;

/// The body the routing server's `POST /api/tasks` took (its `route_task` arguments).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouterTaskBody {
    /// The task, sent as the user message.
    task: String,
    /// Tokens of context the task carries (default: counted from `task`).
    #[serde(default, alias = "contextLength")]
    context_length: Option<u64>,
    /// Tokens the answer is expected to need.
    #[serde(default, alias = "expectedOutputLength")]
    expected_output_length: Option<u64>,
    /// 0 to 1.
    #[serde(default)]
    complexity: Option<f64>,
    /// What the router optimises for: cost, balanced, quality or speed.
    #[serde(default)]
    priority: Option<String>,
    /// true: answer the routing decision only, queue nothing.
    #[serde(default)]
    preemptive: bool,
    /// A model id to send it to instead of routing.
    #[serde(default)]
    model: Option<String>,
    /// A system prompt to go with it.
    #[serde(default)]
    system: Option<String>,
}

/// The routing server's body, when `body` is one (an object with `task` and no `work`).
pub(super) fn router_body(body: &Value) -> Option<Result<RouterTaskBody, ApiError>> {
    let object = body.as_object()?;
    if !object.contains_key("task") || object.contains_key("work") {
        return None;
    }
    Some(RouterTaskBody::deserialize(body).map_err(|e| {
        ApiError::bad_request(
            format!(
                "invalid task: {e}; the routing server's body is {{\"task\": \"...\", \
                 \"context_length\": 4096, \"expected_output_length\": 512, \"complexity\": \
                 0.6, \"priority\": \"quality\", \"preemptive\": false}}"
            ),
            None,
        )
    }))
}

impl RouterTaskBody {
    pub(super) fn preemptive(&self) -> bool {
        self.preemptive
    }

    /// The task spec it asks for: a completion of `task`, routed with the hints given.
    pub(super) fn spec(self) -> Result<TaskSpec, ApiError> {
        if self.task.trim().is_empty() {
            return Err(ApiError::bad_request(
                "`task` is empty",
                Some("task".into()),
            ));
        }
        let priority = self.priority()?;
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = self.system.filter(|s| !s.trim().is_empty()) {
            messages.push(ChatMessage::text(Role::System, system));
        }
        messages.push(ChatMessage::text(Role::User, self.task));
        let mut spec = TaskSpec::completion(messages);
        if let Some(model) = self.model {
            spec = spec.with_model(model);
        }
        if let TaskWork::Completion(completion) = &mut spec.work {
            completion.route = RouteHints {
                priority,
                complexity: self.complexity,
                expected_output_tokens: self.expected_output_length,
                context_tokens: self.context_length,
                ..RouteHints::default()
            };
        }
        Ok(spec)
    }

    fn priority(&self) -> Result<Option<Priority>, ApiError> {
        match &self.priority {
            None => Ok(None),
            Some(text) => Priority::parse(text).map(Some).ok_or_else(|| {
                ApiError::bad_request(
                    format!("`priority`: `{text}` is not one of cost, balanced, quality, speed"),
                    Some("priority".into()),
                )
            }),
        }
    }

    /// The router's input for `"preemptive": true`.
    pub(super) fn route_input(&self) -> Result<RouteInput, ApiError> {
        if let Some(c) = self.complexity
            && !(c.is_finite() && (0.0..=1.0).contains(&c))
        {
            return Err(ApiError::bad_request(
                format!("`complexity` must be between 0 and 1; got {c}"),
                Some("complexity".into()),
            ));
        }
        let mut input =
            RouteInput::from_messages(&[ChatMessage::text(Role::User, self.task.clone())]);
        if self.context_length.is_some() {
            input.context_tokens = self.context_length;
        }
        input.expected_output_tokens = self.expected_output_length;
        input.complexity = self.complexity;
        input.priority = self.priority()?;
        Ok(input)
    }
}

/// A `status` filter: Fusion's state names or the routing server's (`pending` is queued,
/// `in_progress` running).
pub(super) fn task_state(text: &str) -> Result<TaskState, ApiError> {
    TaskState::parse_either(text).ok_or_else(|| {
        ApiError::bad_request(
            format!(
                "`status`: `{text}` is not one of queued (or pending), running (or \
                 in_progress), completed, failed, cancelled"
            ),
            Some("status".into()),
        )
    })
}
