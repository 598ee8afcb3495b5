//! The `fusion_ask` tool: its typed input and output schemas, and one call of it — a council
//! run that reports progress to the client (when it sent a progress token) and stops its
//! upstream model calls when the client cancels.

use fusion_core::council::{self, CouncilEvent};
use fusion_types::{CouncilResult, CouncilStatus};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, JsonObject, ProgressNotificationParam, ProgressToken,
};
use rmcp::service::{Peer, RequestContext, RoleServer};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{Fusion, FusionMcp, failure};

pub const NAME: &str = "fusion_ask";
/// The class of a call naming a council that is not configured.
const UNKNOWN_COUNCIL: &str = "unknown_council";

/// Largest prompt the tool accepts, in bytes (the same bound as `fusion ask` on stdin).
pub const MAX_PROMPT_BYTES: usize = 4 * 1024 * 1024;

/// What the client sends.
/// `prompt` or `question` (local-fusion's name) carries the text; one of them is required.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [{"required": ["prompt"]}, {"required": ["question"]}]))]
pub struct AskInput {
    /// The question or task for the council.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The same as `prompt` (the name local-fusion's `fusion_ask` uses).
    #[serde(default)]
    pub question: Option<String>,
    /// `true`: the text content is the whole council result as JSON (local-fusion's `json`);
    /// otherwise it is the final answer. The structured content is the whole result either way.
    #[serde(default)]
    pub json: bool,
    /// Which configured council answers (see the `fusion://councils` resource); the one named
    /// `default`, or the only one, when omitted.
    #[serde(default)]
    pub council: Option<String>,
    /// Queue the council run as a background task and answer at once with its task id (poll
    /// `get_task_status`, stop it with `cancel_task`, drop one member with `cancel_job`).
    #[serde(default, rename = "async")]
    pub run_async: bool,
}

#[tool_router(router = ask_router, vis = "pub(crate)")]
impl FusionMcp {
    /// `fusion_ask`: schemas derived from `AskInput` and `CouncilResult`.
    #[tool(
        title = "Ask the Fusion council",
        description = "Ask a council of models: a panel answers in parallel, a judge compares \
         the answers (consensus, contradictions, partial coverage, unique insights, blind \
         spots) and a synthesizer writes the final answer. Returns the final answer as text \
         and the whole council trace as structured content. Reports progress per panel \
         member, judge and synthesizer; cancelling stops the model calls. With `async: true` \
         the run is queued as a background task and its task id comes back at once (poll \
         get_task_status).",
        input_schema = crate::own_tools::input_schema::<AskInput>(),
        output_schema = std::sync::Arc::new(output_schema()),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn fusion_ask(
        &self,
        Parameters(input): Parameters<AskInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        call(self.fusion(), input, context).await
    }
}

/// The council result, or (with `async`) the queued task, or a failed call's error: `anyOf`
/// the three, each under `$defs`.
fn output_schema() -> JsonObject {
    let mut council = (*schema_for_output::<CouncilResult>()).clone();
    let mut defs = match council.remove("$defs") {
        Some(serde_json::Value::Object(defs)) => defs,
        _ => JsonObject::new(),
    };
    let dialect = council.remove("$schema");
    defs.insert("CouncilResult".into(), serde_json::Value::Object(council));
    defs.insert(
        "TaskSubmitted".into(),
        serde_json::json!({
            "description": "With `async`: the queued council task (poll get_task_status).",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "state": {"type": "string"},
                "position": {"type": ["integer", "null"]},
                "slot_group": {"type": "string"},
                "model": {"type": ["string", "null"]},
                "decision": {"type": ["object", "null"]}
            },
            "required": ["id", "state", "slot_group"]
        }),
    );
    defs.insert("ToolError".into(), failure::output_schema());
    let mut root = JsonObject::new();
    if let Some(dialect) = dialect {
        root.insert("$schema".into(), dialect);
    }
    root.insert("type".into(), "object".into());
    root.insert(
        "anyOf".into(),
        serde_json::json!([
            {"$ref": "#/$defs/CouncilResult"},
            {"$ref": "#/$defs/TaskSubmitted"},
            {"$ref": "#/$defs/ToolError"}
        ]),
    );
    root.insert("$defs".into(), serde_json::Value::Object(defs));
    root
}

impl AskInput {
    /// The text to ask: `prompt`, else `question`.
    fn text(&self) -> &str {
        self.prompt
            .as_deref()
            .or(self.question.as_deref())
            .unwrap_or_default()
    }
}

/// What is wrong with parsed input, if anything (the text is meant for the calling model).
fn problem(input: &AskInput) -> Option<String> {
    match (&input.prompt, &input.question) {
        (None, None) => return Some("missing field `prompt` (or `question`)".to_owned()),
        (Some(_), Some(_)) => {
            return Some("give `prompt` or `question`, not both".to_owned());
        }
        _ => {}
    }
    let text = input.text();
    if text.trim().is_empty() {
        return Some("`prompt` is empty".to_owned());
    }
    if text.len() > MAX_PROMPT_BYTES {
        return Some(format!(
            "`prompt` is {} bytes; the limit is {MAX_PROMPT_BYTES}",
            text.len()
        ));
    }
    None
}

/// Runs the council for one call. Bad input and a council with no answer come back as tool
/// errors (`isError`), so the calling model can read them; a cancelled call as a protocol error.
async fn call(
    fusion: &Fusion,
    input: AskInput,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResult, ErrorData> {
    if let Some(problem) = problem(&input) {
        return Ok(failure::invalid_arguments(NAME, problem));
    }
    let now = fusion.snapshot();
    let config = &now.config;
    let name = match config.pick_council(input.council.as_deref()) {
        Ok(name) => name.to_owned(),
        Err(message) => return Ok(failure::failed(UNKNOWN_COUNCIL, false, message)),
    };
    let Some(council_config) = config.councils.get(&name) else {
        return Ok(failure::failed(
            UNKNOWN_COUNCIL,
            false,
            format!("no council named `{name}`"),
        ));
    };
    if input.run_async {
        return Ok(crate::tasks::submit_council(fusion.tasks(), Some(&name), input.text()).await);
    }

    let token = context.meta.get_progress_token();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let reporter = token.map(|token| {
        let total = council_config.panel.len() + 2;
        tokio::spawn(report_progress(context.peer.clone(), token, total, rx))
    });
    let run = fusion_core::providers::as_caller(
        fusion_core::store::Caller::Mcp,
        council::run(&now.registry, &name, council_config, input.text(), Some(tx)),
    );
    // Dropping the council future drops every in-flight model call with it.
    let outcome = tokio::select! {
        result = run => Some(result),
        () = context.ct.cancelled() => None,
    };
    if let Some(reporter) = reporter {
        // The sender went with the council: the reporter drains what is left and ends.
        let _ = reporter.await;
    }
    match outcome {
        Some(result) => Ok(into_tool_result(result, input.json)),
        None => {
            tracing::info!(council = %name, "fusion_ask cancelled by the client; model calls stopped");
            Err(ErrorData::internal_error(
                "the request was cancelled by the client",
                None,
            ))
        }
    }
}

/// A council result as a tool result: the final answer as text (with `json`, the whole result
/// as JSON text), the trace as structured content.
fn into_tool_result(result: CouncilResult, json: bool) -> CallToolResult {
    let structured = match serde_json::to_value(&result) {
        Ok(value) => value,
        Err(e) => {
            return failure::failed(
                "internal",
                false,
                format!("cannot encode the council result: {e}"),
            );
        }
    };
    let (text, is_error) = match result.status {
        CouncilStatus::Ok if json => (
            serde_json::to_string_pretty(&structured).unwrap_or_default(),
            false,
        ),
        CouncilStatus::Ok => (result.final_answer, false),
        CouncilStatus::Error => {
            let failures: Vec<String> = result
                .failed_models
                .iter()
                .map(|f| format!("{}: {}", f.model, f.error))
                .collect();
            (
                format!(
                    "the council `{}` produced no answer: every panel member failed ({})",
                    result.council,
                    failures.join("; ")
                ),
                true,
            )
        }
    };
    let mut out = if is_error {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    out.structured_content = Some(structured);
    out
}

/// Sends one progress notification per finished (failed, cut) panel member, then one for the
/// judge and one for the synthesizer. `total` is the panel size plus two.
async fn report_progress(
    peer: Peer<RoleServer>,
    token: ProgressToken,
    total: usize,
    mut events: UnboundedReceiver<CouncilEvent>,
) {
    let mut done = 0usize;
    while let Some(event) = events.recv().await {
        let Some(message) = progress_message(&event) else {
            continue;
        };
        done += 1;
        let param = ProgressNotificationParam::new(token.clone(), done as f64)
            .with_total(total as f64)
            .with_message(message);
        if let Err(e) = peer.notify_progress(param).await {
            tracing::debug!("progress notification not delivered: {e}");
        }
    }
}

/// The text of the progress step an event completes, if it completes one.
fn progress_message(event: &CouncilEvent) -> Option<String> {
    match event {
        CouncilEvent::MemberFinished { member, latency_ms } => {
            Some(format!("panel: {member} answered in {latency_ms} ms"))
        }
        CouncilEvent::MemberFailed { member, error } => {
            Some(format!("panel: {member} failed: {error}"))
        }
        CouncilEvent::MemberCut { member, reason } => {
            Some(format!("panel: {member} cut ({reason})"))
        }
        CouncilEvent::JudgeFinished { ok: true } => Some("judge: analysis done".to_owned()),
        CouncilEvent::JudgeFinished { ok: false } => {
            Some("judge: no valid analysis; using the heuristic comparison".to_owned())
        }
        CouncilEvent::SynthesizerFinished { ok: true } => {
            Some("synthesizer: final answer written".to_owned())
        }
        CouncilEvent::SynthesizerFinished { ok: false } => {
            Some("synthesizer: failed; using the most central panel answer".to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::handler::server::common::schema_for_input;
    use rmcp::model::Tool;
    use serde_json::json;

    fn args(value: serde_json::Value) -> Option<JsonObject> {
        match value {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// What the SDK's parse and then the tool's own checks make of `arguments`.
    fn parse_input(arguments: Option<JsonObject>) -> Result<AskInput, String> {
        let value = serde_json::Value::Object(arguments.unwrap_or_default());
        let input: AskInput = serde_json::from_value(value).map_err(|e| e.to_string())?;
        problem(&input).map_or(Ok(input), Err)
    }

    fn tool() -> Tool {
        FusionMcp::fusion_ask_tool_attr()
    }

    #[test]
    fn input_without_prompt_is_refused_with_the_field_named() {
        let err = parse_input(args(json!({}))).unwrap_err();
        assert!(err.contains("prompt"), "{err}");
    }

    #[test]
    fn question_is_accepted_as_prompt_but_not_both_at_once() {
        let input = parse_input(args(json!({"question": "why?", "json": true}))).unwrap();
        assert_eq!(input.text(), "why?");
        assert!(input.json);
        let err = parse_input(args(json!({"prompt": "a", "question": "b"}))).unwrap_err();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn input_with_a_non_string_prompt_is_refused() {
        let err = parse_input(args(json!({"prompt": 5}))).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn input_with_an_unknown_field_is_refused() {
        let err = parse_input(args(json!({"prompt": "hi", "temperature": 1}))).unwrap_err();
        assert!(err.contains("temperature"), "{err}");
    }

    #[test]
    fn blank_and_oversized_prompts_are_refused() {
        assert!(parse_input(args(json!({"prompt": "  "}))).is_err());
        let big = "x".repeat(MAX_PROMPT_BYTES + 1);
        let err = parse_input(args(json!({"prompt": big}))).unwrap_err();
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn tool_schemas_describe_the_input_and_the_council_contract() {
        assert!(schema_for_input::<AskInput>().is_ok());
        let tool = tool();
        let input = serde_json::Value::Object((*tool.input_schema).clone());
        assert_eq!(input["type"], "object");
        assert_eq!(
            input["anyOf"],
            json!([{"required": ["prompt"]}, {"required": ["question"]}])
        );
        assert!(input["properties"].get("question").is_some());
        assert!(input["properties"].get("json").is_some());
        let output = serde_json::Value::Object((*tool.output_schema.unwrap()).clone());
        assert_eq!(output["type"], "object");
        let output = &output["$defs"]["CouncilResult"];
        for field in [
            "status",
            "final_answer",
            "analysis",
            "failed_models",
            "usage",
        ] {
            assert!(
                output["properties"].get(field).is_some(),
                "output schema lacks {field}: {output}"
            );
        }
    }

    #[test]
    fn progress_counts_members_then_judge_then_synthesizer_only() {
        let started = CouncilEvent::MemberStarted { member: "a".into() };
        assert_eq!(progress_message(&started), None);
        let finished = CouncilEvent::MemberFinished {
            member: "a".into(),
            latency_ms: 3,
        };
        assert_eq!(
            progress_message(&finished).unwrap(),
            "panel: a answered in 3 ms"
        );
        assert!(progress_message(&CouncilEvent::JudgeFinished { ok: true }).is_some());
        assert!(progress_message(&CouncilEvent::SynthesizerFinished { ok: false }).is_some());
    }
}
