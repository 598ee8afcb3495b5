//! The async task tools, named as in the routing server Fusion replaces: `route_task` (queue a
//! routed completion, answer at once with the task id, its queue position and the routing
//! decision), `get_task_status` (state, progress, position, jobs, the result inline once done),
//! `cancel_task` and `cancel_job`; and the resources `fusion://jobs/active` (the queue and every
//! task not yet ended) and the template `fusion://tasks/{id}`. Every call goes to the process's
//! one `TaskEngine`; tasks live in the store, so any process sharing it sees them.

use fusion_core::tasks::{
    CancelOutcome, RouteHints, TaskEngine, TaskKind, TaskSpec, TaskState, TaskView,
};
use fusion_types::{ChatMessage, Role};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::route::{CategoryArg, PriorityArg};
use crate::{FusionMcp, failure};

mod resources;

pub use resources::{ACTIVE, TASK_TEMPLATE, is_own, read, resources, templates};

pub const ROUTE_TASK: &str = "route_task";
/// The class of a call that needs the task engine this Fusion runs without.
const NO_ENGINE: &str = "no_task_engine";

/// Largest task text accepted, in bytes.
const MAX_TASK_BYTES: usize = 4 * 1024 * 1024;

/// A completion to run in the background.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteTaskInput {
    /// The task, as the model should receive it (the user message).
    pub task: String,
    /// A system prompt to go with it.
    #[serde(default)]
    pub system: Option<String>,
    /// A model id to send it to instead of routing (see `/v1/models`).
    #[serde(default)]
    pub model: Option<String>,
    /// What the router optimises for (default: the configured router priority).
    #[serde(default)]
    pub priority: Option<PriorityArg>,
    /// The kind of task (default: estimated from the text).
    #[serde(default)]
    pub category: Option<CategoryArg>,
    /// How hard the task is, 0 to 1 (default: estimated from the text).
    #[serde(default)]
    pub complexity: Option<f64>,
    /// Tokens the answer is expected to need (default: estimated).
    #[serde(default, alias = "expectedOutputLength")]
    pub expected_output_length: Option<u64>,
    /// Tokens of context the task carries (default: counted from the text).
    #[serde(default, alias = "contextLength")]
    pub context_length: Option<u64>,
    /// `true`: answer the routing decision only and queue nothing (as
    /// `preemptive_route_task` does).
    #[serde(default)]
    pub preemptive: bool,
    /// The task's place in the queue: higher runs first, -100 to 100 (default 0).
    #[serde(default, alias = "queuePriority")]
    pub queue_priority: Option<i64>,
    /// Largest answer, in tokens.
    #[serde(default, alias = "maxTokens")]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
}

/// Which task.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIdInput {
    /// The id `route_task` (or `fusion_ask` with `async`) returned.
    #[serde(alias = "taskId", alias = "id")]
    pub task_id: String,
}

/// Which task, and how much of it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// The id `route_task` (or `fusion_ask` with `async`) returned.
    #[serde(alias = "taskId", alias = "id")]
    pub task_id: String,
    /// `true`: the whole task — request, routing decision, every job, the full result (also
    /// the resource `fusion://tasks/{id}`). Default: the compact status a poll needs.
    #[serde(default)]
    pub verbose: bool,
}

/// Which job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIdInput {
    /// A job id, as listed in the `jobs` of `get_task_status`.
    #[serde(alias = "jobId", alias = "id")]
    pub job_id: String,
}

#[tool_router(router = tasks_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "Queue a routed task",
        description = "Hand off a long task: it is queued durably and run in the background on \
         the cheapest model good enough for it (or on `model`). Answers at once with the task \
         id, its queue position and the routing decision; poll get_task_status for the \
         result, cancel_task to stop it.",
        input_schema = crate::own_tools::input_schema::<RouteTaskInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn route_task(&self, Parameters(input): Parameters<RouteTaskInput>) -> CallToolResult {
        let Some(engine) = self.fusion().tasks() else {
            return no_engine();
        };
        if input.preemptive {
            return decide(&self.fusion().registry(), input).await;
        }
        match spec(input) {
            Ok(spec) => answer(submit(engine, spec).await),
            Err(problem) => failure::invalid_arguments(ROUTE_TASK, problem),
        }
    }

    #[tool(
        title = "Task status",
        description = "A task's status (pending, in_progress, completed, failed, cancelled), \
         progress, queue position while pending, model, cost, error and, once completed, the \
         answer inline — compact, for polling. With `verbose: true` the whole task: request, \
         routing decision, every job (one per model call) and the full result.",
        input_schema = crate::own_tools::input_schema::<StatusInput>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_task_status(&self, Parameters(input): Parameters<StatusInput>) -> CallToolResult {
        let Some(engine) = self.fusion().tasks() else {
            return no_engine();
        };
        answer(status(engine, &input.task_id, input.verbose).await)
    }

    #[tool(
        title = "Cancel a task",
        description = "Cancel a task: a queued one at once, a running one by aborting its \
         model calls.",
        input_schema = crate::own_tools::input_schema::<TaskIdInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn cancel_task(&self, Parameters(input): Parameters<TaskIdInput>) -> CallToolResult {
        let Some(engine) = self.fusion().tasks() else {
            return no_engine();
        };
        let outcome = engine.cancel_task(&input.task_id).await;
        answer(outcome.map(|o| cancelled("task", &input.task_id, &o)))
    }

    #[tool(
        title = "Cancel a job",
        description = "Cancel one job of a task. In a council the council goes on without that \
         member; cancelling the job of a completion cancels the task.",
        input_schema = crate::own_tools::input_schema::<JobIdInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn cancel_job(&self, Parameters(input): Parameters<JobIdInput>) -> CallToolResult {
        let Some(engine) = self.fusion().tasks() else {
            return no_engine();
        };
        let outcome = engine.cancel_job(&input.job_id).await;
        answer(outcome.map(|o| cancelled("job", &input.job_id, &o)))
    }
}

/// The answer of a task call that needs the engine this Fusion runs without.
fn no_engine() -> CallToolResult {
    failure::failed(
        NO_ENGINE,
        false,
        "this Fusion runs without a task engine: start it with a store",
    )
}

/// A task operation's outcome as a tool result; a refusal keeps the engine's class.
fn answer(outcome: fusion_core::Result<(String, Value)>) -> CallToolResult {
    match outcome {
        Ok((text, structured)) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(structured);
            result
        }
        Err(err) => failure::from_core(&err),
    }
}

/// Queues a council run for `fusion_ask` with `async: true`.
pub async fn submit_council(
    engine: Option<&TaskEngine>,
    council: Option<&str>,
    prompt: &str,
) -> CallToolResult {
    let Some(engine) = engine else {
        return failure::failed(
            NO_ENGINE,
            false,
            "this Fusion runs without a task engine: `async` needs a store",
        );
    };
    answer(submit(engine, TaskSpec::council(council, prompt)).await)
}

/// The task to queue, or what is wrong with the input.
fn spec(input: RouteTaskInput) -> Result<TaskSpec, String> {
    if input.task.trim().is_empty() {
        return Err("`task` is empty".to_owned());
    }
    if input.task.len() > MAX_TASK_BYTES {
        return Err(format!(
            "`task` is {} bytes; the limit is {MAX_TASK_BYTES}",
            input.task.len()
        ));
    }
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = input.system.filter(|s| !s.trim().is_empty()) {
        messages.push(ChatMessage::text(Role::System, system));
    }
    messages.push(ChatMessage::text(Role::User, input.task));
    let mut spec = TaskSpec::completion(messages).with_priority(input.queue_priority.unwrap_or(0));
    if let Some(model) = input.model {
        spec = spec.with_model(model);
    }
    if let fusion_core::tasks::TaskWork::Completion(completion) = &mut spec.work {
        completion.route = RouteHints {
            priority: input.priority.map(crate::route::priority),
            category: input.category.map(crate::route::category),
            complexity: input.complexity,
            expected_output_tokens: input.expected_output_length,
            context_tokens: input.context_length,
        };
        completion.max_tokens = input.max_tokens;
        completion.temperature = input.temperature;
    }
    Ok(spec)
}

async fn submit(engine: &TaskEngine, spec: TaskSpec) -> fusion_core::Result<(String, Value)> {
    let submitted = engine.submit(spec).await?;
    let mut text = format!("queued task {}", submitted.id);
    if let Some(position) = submitted.position {
        text.push_str(&format!(" at position {position}"));
    }
    if let Some(model) = &submitted.model {
        text.push_str(&format!(" for {model}"));
    }
    text.push_str("; poll get_task_status with this task_id for the result");
    // The routing server's names (and contention) beside Fusion's.
    let structured = engine.router_answer(&submitted).await;
    if let Some(contention) = structured.get("contention") {
        text.push_str(&format!(
            "\n{}",
            contention["message"].as_str().unwrap_or_default()
        ));
    }
    Ok((text, structured))
}

/// `route_task` with `preemptive: true`: the decision for the task, nothing queued.
async fn decide(
    registry: &std::sync::Arc<fusion_core::providers::ProviderRegistry>,
    input: RouteTaskInput,
) -> CallToolResult {
    if input.task.trim().is_empty() {
        return failure::invalid_arguments(ROUTE_TASK, "`task` is empty");
    }
    if let Some(c) = input.complexity
        && !(c.is_finite() && (0.0..=1.0).contains(&c))
    {
        return failure::invalid_arguments(
            ROUTE_TASK,
            format!("`complexity` must be between 0 and 1; got {c}"),
        );
    }
    let registry = std::sync::Arc::clone(registry);
    let bytes = input.task.len();
    let decision = fusion_core::cpu::sized(bytes, move || {
        let mut route = fusion_core::router::RouteInput::from_messages(&[ChatMessage::text(
            Role::User,
            input.task,
        )]);
        if input.context_length.is_some() {
            route.context_tokens = input.context_length;
        }
        route.expected_output_tokens = input.expected_output_length;
        route.complexity = input.complexity;
        route.priority = input.priority.map(crate::route::priority);
        route.category = input.category.map(crate::route::category);
        registry.route(&route)
    })
    .await;
    let text = decision.summary.clone();
    match serde_json::to_value(&decision) {
        Ok(structured) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(json!({ "preemptive": true, "decision": structured }));
            result
        }
        Err(e) => failure::failed(
            "internal",
            false,
            format!("cannot encode the decision: {e}"),
        ),
    }
}

async fn status(
    engine: &TaskEngine,
    id: &str,
    verbose: bool,
) -> fusion_core::Result<(String, Value)> {
    let view = engine.get(id).await?;
    let structured = if verbose {
        let mut full = serde_json::to_value(&view)
            .map_err(|e| fusion_core::ErrorKind::Invalid(format!("cannot encode the task: {e}")))?;
        if let Some(object) = full.as_object_mut() {
            object.insert("task_id".into(), json!(view.task.id));
        }
        full
    } else {
        compact(&view)
    };
    Ok((describe(&view), structured))
}

/// What a poll needs: status, progress, model, cost, error and the answer once there is one.
fn compact(view: &TaskView) -> Value {
    let task = &view.task;
    let mut out = json!({
        "task_id": task.id,
        "status": task.state.router_word(),
        "state": task.state,
        "kind": task.kind,
        "progress": task.progress,
        "cost_usd": task.cost_usd,
    });
    let optional = [
        (
            "progress_message",
            task.progress_message.as_ref().map(|m| json!(m)),
        ),
        ("queue_position", task.position.map(|p| json!(p))),
        ("model", task.model.as_ref().map(|m| json!(m))),
        ("error", task.error.as_ref().map(|e| json!(e))),
        (
            "result",
            view.result.as_ref().and_then(answer_text).map(|a| json!(a)),
        ),
    ];
    if let Some(object) = out.as_object_mut() {
        for (key, value) in optional {
            if let Some(value) = value {
                object.insert(key.into(), value);
            }
        }
        // A benchmark's measurements, beside its text.
        if task.kind == TaskKind::Bench
            && let Some(result) = &view.result
        {
            let mut run = result.clone();
            if let Some(run) = run.as_object_mut() {
                run.remove("text");
            }
            object.insert("benchmark".into(), run);
        }
    }
    out
}

/// One line of state, then the answer when there is one.
fn describe(view: &TaskView) -> String {
    let task = &view.task;
    let mut text = format!("task {} is {}", task.id, task.state.router_word());
    match task.state {
        TaskState::Queued => {
            if let Some(position) = task.position {
                text.push_str(&format!(" (position {position} in the queue)"));
            }
        }
        TaskState::Running => {
            text.push_str(&format!(" ({:.0}% done", task.progress * 100.0));
            if let Some(message) = &task.progress_message {
                text.push_str(&format!(": {message}"));
            }
            text.push(')');
        }
        TaskState::Completed => {
            if let Some(model) = &task.model {
                text.push_str(&format!(" by {model}"));
            }
            if let Some(answer) = view.result.as_ref().and_then(answer_text) {
                text.push_str(":\n\n");
                text.push_str(&answer);
            }
        }
        TaskState::Failed | TaskState::Cancelled => {
            if let Some(error) = &task.error {
                text.push_str(&format!(": {error}"));
            }
        }
    }
    text
}

/// The answer in a task result: a completion's first choice or a council's final answer.
fn answer_text(result: &Value) -> Option<String> {
    let pointers = [
        "/text",
        "/final_answer",
        "/response/choices/0/message/content",
        "/choices/0/message/content",
    ];
    pointers
        .iter()
        .find_map(|p| result.pointer(p).and_then(Value::as_str))
        .map(str::to_owned)
}

fn cancelled(what: &str, id: &str, outcome: &CancelOutcome) -> (String, Value) {
    let text = match outcome {
        CancelOutcome::Cancelled => format!("{what} {id} cancelled"),
        CancelOutcome::Requested { owner } => format!(
            "cancellation of {what} {id} requested; the process running it ({}) stops it at \
             its next lease renewal",
            owner.as_deref().unwrap_or("unknown")
        ),
    };
    let state = match outcome {
        CancelOutcome::Cancelled => "cancelled",
        CancelOutcome::Requested { .. } => "cancel_requested",
    };
    // `task_id` / `job_id` and `status` are the routing server's names.
    let mut answer = json!({ "id": id, "state": state, "status": state });
    if let Some(object) = answer.as_object_mut() {
        object.insert(format!("{what}_id"), json!(id));
    }
    (text, answer)
}

#[cfg(test)]
mod tests {
    use rmcp::model::JsonObject;
    use serde::de::DeserializeOwned;

    use super::*;

    /// The SDK's parse of a call's arguments.
    fn parse<T: DeserializeOwned>(_tool: &str, arguments: Option<JsonObject>) -> Result<T, String> {
        serde_json::from_value(Value::Object(arguments.unwrap_or_default()))
            .map_err(|e| e.to_string())
    }

    fn args(value: Value) -> Option<JsonObject> {
        match value {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    #[test]
    fn route_task_input_takes_the_replaced_servers_camel_case_names() {
        let input: RouteTaskInput = parse(
            ROUTE_TASK,
            args(json!({"task": "t", "expectedOutputLength": 5, "queuePriority": 3})),
        )
        .unwrap();
        assert_eq!(input.expected_output_length, Some(5));
        assert_eq!(input.queue_priority, Some(3));
    }

    #[test]
    fn route_task_refuses_an_empty_task_and_unknown_fields_naming_them() {
        let empty: RouteTaskInput = parse(ROUTE_TASK, args(json!({"task": "  "}))).unwrap();
        assert!(spec(empty).unwrap_err().contains("`task` is empty"));
        let err = parse::<RouteTaskInput>(ROUTE_TASK, args(json!({"task": "t", "colour": 1})))
            .unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn task_ids_are_required_and_aliases_accepted() {
        assert!(parse::<TaskIdInput>("get_task_status", args(json!({}))).is_err());
        let input: TaskIdInput =
            parse("get_task_status", args(json!({"taskId": "task_1"}))).unwrap();
        assert_eq!(input.task_id, "task_1");
    }

    #[test]
    fn the_answer_is_found_in_completion_and_council_results() {
        let completion = json!({"response": {"choices": [{"message": {"content": "hi"}}]}});
        assert_eq!(answer_text(&completion).as_deref(), Some("hi"));
        assert_eq!(
            answer_text(&json!({"final_answer": "ok"})).as_deref(),
            Some("ok")
        );
        assert_eq!(answer_text(&json!({})), None);
    }

    #[test]
    fn task_uris_are_recognised_only_with_an_id() {
        assert!(is_own(ACTIVE));
        assert!(is_own("fusion://tasks/task_1"));
        assert!(!is_own("fusion://tasks/"));
        assert!(!is_own("fusion://status"));
    }
}
