//! The loop of `fusion_do`: a tool-calling model is shown the offered tools (OpenAI `tools`),
//! and each turn either answers — the loop ends — or asks for tool calls, which run through a
//! [`Toolbox`] (the hub) when they are offered, well-formed and permitted; every result, error
//! or refusal goes back to the model as a `tool` message. At most `max_steps` turns. Every
//! model call goes through the provider registry (so the usage ledger records it): the first
//! one routed, local first, unless a model was named; the later ones to the model that
//! answered the first.

use std::future::Future;
use std::time::Instant;

use fusion_core::ErrorKind;
use fusion_core::config::Priority;
use fusion_core::providers::{Completion, ProviderRegistry};
use fusion_core::router::RouteInput;
use fusion_types::{ChatMessage, ChatRequest, Role, Usage};
use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::offer;
use super::trace::{Answer, Failure, Outcome, Status, Step, Stop, TRACE_RESULT_BYTES, excerpt};

/// Turns when `max_steps` is not given, and the most it may be.
pub const DEFAULT_MAX_STEPS: u32 = 5;
pub const MAX_STEPS: u32 = 20;
/// Tool calls run per turn; a model asking for more gets the rest refused.
const MAX_CALLS_PER_TURN: usize = 8;
/// Longest tool result handed back to the model, in bytes.
const RESULT_TO_MODEL_BYTES: usize = 16 * 1024;

const SYSTEM: &str = "You complete the user's request by calling the tools you are given. \
     Call a tool when it helps; you see each result in a tool message. When the request is \
     done, answer the user in plain text without calling a tool. Use only the tools listed.";

/// Runs one tool of the hub's catalog by its exposed name.
pub trait Toolbox {
    /// The tool's result, or why it could not be called (its server down, ...).
    fn call(
        &self,
        name: &str,
        arguments: JsonObject,
    ) -> impl Future<Output = Result<CallToolResult, String>> + Send;
}

/// What one run is asked to do.
pub struct Plan<'a> {
    pub request: &'a str,
    pub offered: &'a [Tool],
    /// A configured model id; `None`: routed.
    pub model: Option<&'a str>,
    pub max_steps: u32,
    pub allow_destructive: bool,
}

/// Runs `plan`: model turns and tool calls until the model answers or `max_steps` turns have
/// passed. `progress` gets one line per model turn and per tool call.
pub async fn run<T: Toolbox>(
    registry: &ProviderRegistry,
    plan: Plan<'_>,
    tools: &T,
    progress: Option<&UnboundedSender<String>>,
) -> Answer {
    let say = |line: String| {
        if let Some(tx) = progress {
            let _ = tx.send(line);
        }
    };
    let mut answer = Answer {
        status: Status::Ok,
        stop: Stop::Answered,
        answer: String::new(),
        model: plan.model.map(str::to_owned),
        routing: None,
        offered: plan.offered.iter().map(|t| t.name.to_string()).collect(),
        steps: Vec::new(),
        model_calls: 0,
        max_steps: plan.max_steps,
        usage: Usage::default(),
        degradation_reasons: Vec::new(),
        error: None,
    };
    if plan.offered.is_empty() {
        answer.stop = Stop::NoCandidates;
        answer.status = Status::Degraded;
        answer.degradation_reasons.push(format!(
            "no tool of the MCP servers Fusion aggregates matches the request (searched for \
             `{}`); no model was asked",
            excerpt(plan.request, 200)
        ));
        return answer;
    }
    let mut messages = vec![
        ChatMessage::text(Role::System, SYSTEM),
        ChatMessage::text(Role::User, plan.request),
    ];
    let definitions = offer::definitions(plan.offered);
    let mut answered = false;
    for step in 1..=plan.max_steps {
        let request = ChatRequest {
            messages: messages.clone(),
            tools: Some(definitions.clone()),
            tool_choice: Some(json!("auto")),
            ..ChatRequest::default()
        };
        let completion = match ask(registry, &plan, &mut answer, request).await {
            Ok(completion) => completion,
            Err(err) => {
                answer.stop = Stop::ModelFailed;
                answer.status = Status::Error;
                answer.error = Some(Failure {
                    class: err.class().to_owned(),
                    retryable: err.is_retryable(),
                    message: err.for_client().message,
                });
                return answer;
            }
        };
        let Some(message) = completion
            .response
            .choices
            .into_iter()
            .next()
            .map(|c| c.message)
        else {
            answer.degradation_reasons.push(format!(
                "the model `{}` answered with no choice at step {step}",
                completion.model
            ));
            answered = true;
            break;
        };
        let calls = tool_calls(&message, step);
        if calls.is_empty() {
            say(format!("step {step}: {} answered", completion.model));
            answer.answer = message.text_content();
            answered = true;
            break;
        }
        say(format!(
            "step {step}: {} asked for {}",
            completion.model,
            names(&calls)
        ));
        messages.push(assistant_turn(&message, &calls));
        for (n, call) in calls.iter().enumerate() {
            let (trace, reply) = if n >= MAX_CALLS_PER_TURN {
                refuse(
                    step,
                    call,
                    Outcome::Refused,
                    format!("at most {MAX_CALLS_PER_TURN} tool calls run per turn"),
                )
            } else {
                one_call(step, call, &plan, tools).await
            };
            say(format!(
                "step {step}: {} {}",
                trace.tool,
                progress_outcome(&trace)
            ));
            if let Some(reason) = degradation(&trace) {
                answer.degradation_reasons.push(reason);
            }
            answer.steps.push(trace);
            messages.push(ChatMessage {
                tool_call_id: Some(call.id.clone()),
                ..ChatMessage::text(Role::Tool, reply)
            });
        }
    }
    if !answered {
        answer.stop = Stop::MaxSteps;
        answer.degradation_reasons.push(format!(
            "stopped after max_steps = {} model turns, each of which called tools: no final \
             answer (raise max_steps to let it go on)",
            plan.max_steps
        ));
    } else if answer.steps.is_empty() {
        answer.degradation_reasons.push(format!(
            "the model answered without calling any of the {} offered tools",
            plan.offered.len()
        ));
    }
    if !answer.degradation_reasons.is_empty() {
        answer.status = Status::Degraded;
    }
    answer
}

/// One model call: routed (local first) the first time unless a model was named — the chosen
/// model, then its fallbacks while they fail — then to the model that answered.
async fn ask(
    registry: &ProviderRegistry,
    plan: &Plan<'_>,
    answer: &mut Answer,
    request: ChatRequest,
) -> fusion_core::Result<Completion> {
    answer.model_calls += 1;
    let completion = match answer.model.clone() {
        Some(model) => registry.chat(&model, request).await?,
        None => {
            let input = RouteInput {
                text: plan.request.to_owned(),
                priority: Some(Priority::Cost),
                ..RouteInput::default()
            };
            let decision = registry.route_off_worker(&input).await;
            answer.routing = Some(decision.summary.clone());
            // Only single models call tools (a decision may also name a council).
            let models: Vec<&String> = decision
                .chosen
                .iter()
                .chain(&decision.fallbacks)
                .filter(|id| registry.model(id).is_some())
                .collect();
            let mut last = None;
            for model in models {
                match registry.chat(model, request.clone()).await {
                    Ok(completion) => {
                        last = Some(Ok(completion));
                        break;
                    }
                    Err(err) => last = Some(Err(err)),
                }
            }
            let completion = last.unwrap_or_else(|| {
                Err(ErrorKind::NoRoute {
                    reason: decision.summary.clone(),
                }
                .into())
            })?;
            answer.model = Some(completion.model.clone());
            completion
        }
    };
    answer.usage.add(&completion.usage);
    Ok(completion)
}

/// One tool call the model asked for.
struct Call {
    id: String,
    name: String,
    /// The arguments' text as the model sent it.
    arguments: String,
}

/// The tool calls of an assistant message (ids made up when the model gave none).
fn tool_calls(message: &ChatMessage, step: u32) -> Vec<Call> {
    let Some(Value::Array(calls)) = &message.tool_calls else {
        return Vec::new();
    };
    calls
        .iter()
        .enumerate()
        .map(|(n, call)| {
            let function = &call["function"];
            let arguments = match &function["arguments"] {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            Call {
                id: call["id"]
                    .as_str()
                    .filter(|id| !id.is_empty())
                    .map_or_else(|| format!("call_{step}_{n}"), str::to_owned),
                name: function["name"].as_str().unwrap_or_default().to_owned(),
                arguments,
            }
        })
        .collect()
}

/// The assistant turn as it goes back to the model: its text and its calls (with the ids the
/// tool messages answer).
fn assistant_turn(message: &ChatMessage, calls: &[Call]) -> ChatMessage {
    let calls: Vec<Value> = calls
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            })
        })
        .collect();
    ChatMessage {
        role: Role::Assistant,
        content: message.content.clone(),
        name: None,
        tool_calls: Some(Value::Array(calls)),
        tool_call_id: None,
        extra: Map::new(),
    }
}

fn names(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The arguments as JSON for the trace: parsed when they parse, else the text.
fn arguments_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A call that is not run: its trace and the message the model gets.
fn refuse(step: u32, call: &Call, outcome: Outcome, why: String) -> (Step, String) {
    let trace = Step {
        step,
        tool: call.name.clone(),
        arguments: arguments_value(&call.arguments),
        outcome,
        result_bytes: 0,
        latency_ms: 0,
        error: Some(why.clone()),
        result: None,
    };
    (trace, format!("error: {why}"))
}

/// Checks and runs one call: offered, arguments an object, permitted; then through the hub.
async fn one_call<T: Toolbox>(
    step: u32,
    call: &Call,
    plan: &Plan<'_>,
    tools: &T,
) -> (Step, String) {
    let Some(tool) = plan.offered.iter().find(|t| t.name == call.name) else {
        let offered: Vec<&str> = plan.offered.iter().map(|t| t.name.as_ref()).collect();
        let why = format!(
            "no tool named `{}` was offered (it does not exist, is hidden, or did not match \
             the request); the offered tools are: {}",
            excerpt(&call.name, 100),
            offered.join(", ")
        );
        return refuse(step, call, Outcome::UnknownTool, why);
    };
    let arguments = match parse_arguments(&call.arguments) {
        Ok(arguments) => arguments,
        Err(why) => return refuse(step, call, Outcome::BadArguments, why),
    };
    if !plan.allow_destructive
        && let Some(why) = offer::needs_permission(tool)
    {
        return refuse(step, call, Outcome::Refused, why);
    }
    let started = Instant::now();
    let result = tools.call(&call.name, arguments.clone()).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (outcome, text, error) = match result {
        Ok(result) => {
            let text = result_text(&result);
            if result.is_error == Some(true) {
                let error = excerpt(&text, 500);
                (Outcome::ToolError, text, Some(error))
            } else {
                (Outcome::Ok, text, None)
            }
        }
        Err(why) => (Outcome::ToolError, String::new(), Some(why)),
    };
    let reply = match (&error, outcome) {
        (Some(error), _) if text.is_empty() => format!("error: {error}"),
        _ => excerpt(&text, RESULT_TO_MODEL_BYTES),
    };
    let trace = Step {
        step,
        tool: call.name.clone(),
        arguments: Value::Object(arguments),
        outcome,
        result_bytes: text.len(),
        latency_ms,
        error,
        result: Some(excerpt(&text, TRACE_RESULT_BYTES)),
    };
    (trace, reply)
}

/// The model's arguments text as an object: `""` is `{}`; anything else must be an object.
fn parse_arguments(text: &str) -> Result<JsonObject, String> {
    if text.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(format!(
            "the arguments must be a JSON object, not `{}`",
            excerpt(&other.to_string(), 100)
        )),
        Err(e) => Err(format!(
            "the arguments are not JSON ({e}): `{}`",
            excerpt(text, 100)
        )),
    }
}

/// A tool result as text: its text blocks joined; else its structured content as JSON.
fn result_text(result: &CallToolResult) -> String {
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect();
    if texts.is_empty()
        && let Some(structured) = &result.structured_content
    {
        return structured.to_string();
    }
    texts.join("\n")
}

fn progress_outcome(step: &Step) -> String {
    match step.outcome {
        Outcome::Ok => format!("answered in {} ms", step.latency_ms),
        Outcome::ToolError => format!("failed in {} ms", step.latency_ms),
        Outcome::Refused => "refused".to_owned(),
        Outcome::UnknownTool => "unknown".to_owned(),
        Outcome::BadArguments => "had bad arguments".to_owned(),
    }
}

/// The degradation a step is, if it is one (a tool's own error is the tool's answer).
fn degradation(step: &Step) -> Option<String> {
    let why = step.error.clone().unwrap_or_default();
    match step.outcome {
        Outcome::Ok | Outcome::ToolError => None,
        Outcome::Refused => Some(format!("step {}: refused: {why}", step.step)),
        Outcome::UnknownTool => Some(format!(
            "step {}: the model called a tool that does not exist or was not offered: {why}",
            step.step
        )),
        Outcome::BadArguments => Some(format!(
            "step {}: the model called `{}` with bad arguments: {why}",
            step.step, step.tool
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object_and_empty_means_none() {
        assert_eq!(parse_arguments("").unwrap(), JsonObject::new());
        assert_eq!(
            parse_arguments(r#"{"timezone": "UTC"}"#).unwrap()["timezone"],
            "UTC"
        );
        assert!(parse_arguments("[1]").unwrap_err().contains("JSON object"));
        assert!(parse_arguments("{oops").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn tool_calls_are_read_with_made_up_ids_when_missing() {
        let mut message = ChatMessage::text(Role::Assistant, "");
        message.tool_calls = Some(json!([
            {"id": "call_a", "type": "function",
             "function": {"name": "time__now", "arguments": "{\"tz\":\"UTC\"}"}},
            {"function": {"name": "x", "arguments": {"inline": true}}}
        ]));
        let calls = tool_calls(&message, 3);
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].name.as_str()),
            ("call_a", "time__now")
        );
        assert_eq!(calls[1].id, "call_3_1");
        assert_eq!(calls[1].arguments, r#"{"inline":true}"#);
        assert!(tool_calls(&ChatMessage::text(Role::Assistant, "hi"), 1).is_empty());
    }
}
