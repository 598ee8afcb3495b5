//! The loop checker's build/check gate as MCP tools, named as in the project Fusion replaces:
//! `looped_start` (freeze the objective and acceptance criteria, get the first prompt),
//! `looped_report` (what a step did, with evidence), `looped_check_work` (the checker's
//! verdict and route), `looped_fuse_review` (a council on the frozen evidence and the check),
//! `looped_next` (complete, a pause for a human, or one bounded next prompt) and
//! `looped_status`. Runs live in the store (`fusion_core::looped`); bad input and refused
//! operations are tool errors the executor can read.

use std::future::Future;

use fusion_core::looped::{LoopRuns, NewRun, Report};
use fusion_core::providers::as_caller;
use fusion_core::store::{Caller, Store};
use rmcp::ErrorData;
use rmcp::handler::server::common::{schema_for_input, schema_for_type};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use rmcp::service::{RequestContext, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Fusion;

pub const START: &str = "looped_start";
pub const REPORT: &str = "looped_report";
pub const CHECK: &str = "looped_check_work";
pub const REVIEW: &str = "looped_fuse_review";
pub const NEXT: &str = "looped_next";
pub const STATUS: &str = "looped_status";
/// The tools of this module.
pub const NAMES: [&str; 6] = [START, REPORT, CHECK, REVIEW, NEXT, STATUS];

/// Largest text field accepted, in bytes.
const MAX_TEXT_BYTES: usize = 1024 * 1024;

/// A loop run to start.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// What the build loop must achieve.
    pub objective: String,
    /// How "done" is judged; frozen for the run's life.
    #[serde(default, alias = "acceptanceCriteria")]
    pub acceptance_criteria: Vec<String>,
    /// An id of your choosing (letters, digits, `-`, `_`, `.`); default: generated.
    #[serde(default, alias = "runId")]
    pub run_id: Option<String>,
}

/// What a step did, with the evidence for it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    /// The run `looped_start` returned.
    #[serde(alias = "runId")]
    pub run_id: String,
    /// What was done in this step.
    pub summary: String,
    /// Files changed.
    #[serde(default, alias = "changedFiles")]
    pub changed_files: Vec<String>,
    /// Tests (or test commands) run.
    #[serde(default, alias = "tests_run", alias = "testsRun")]
    pub tests: Vec<String>,
    /// The relevant test output (not necessarily all of it).
    #[serde(default, alias = "testOutput")]
    pub test_output: Option<String>,
    /// Other commands run (build, lint, ...).
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub blockers: Vec<String>,
    #[serde(default)]
    pub assumptions: Vec<String>,
    /// Which acceptance criteria are satisfied and which are still unverified.
    #[serde(default, alias = "acceptanceStatus")]
    pub acceptance_status: Option<String>,
    /// Diffs, logs or notes that back the report.
    #[serde(default, alias = "rawEvidence")]
    pub raw_evidence: Option<String>,
}

/// A report given inline to `looped_check_work` (recorded first, as `looped_report` would).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineReport {
    /// Must be the run being checked, when given.
    #[serde(default, alias = "runId")]
    pub run_id: Option<String>,
    pub summary: String,
    #[serde(default, alias = "changedFiles")]
    pub changed_files: Vec<String>,
    #[serde(default, alias = "tests_run", alias = "testsRun")]
    pub tests: Vec<String>,
    #[serde(default, alias = "testOutput")]
    pub test_output: Option<String>,
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub blockers: Vec<String>,
    #[serde(default)]
    pub assumptions: Vec<String>,
    #[serde(default, alias = "acceptanceStatus")]
    pub acceptance_status: Option<String>,
    #[serde(default, alias = "rawEvidence")]
    pub raw_evidence: Option<String>,
}

/// Which run to check, with anything more to consider.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    #[serde(alias = "runId")]
    pub run_id: String,
    /// Evidence beyond the report (counts as the report's for the evidence rule).
    #[serde(default, alias = "extraEvidence")]
    pub extra_evidence: Option<String>,
    /// A report to record and check now, instead of calling looped_report first.
    #[serde(default)]
    pub report: Option<InlineReport>,
}

/// Which run a council reviews.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    #[serde(alias = "runId")]
    pub run_id: String,
    /// What to ask the council (default: is the work complete, and if not, the smallest next
    /// correction).
    #[serde(default)]
    pub question: Option<String>,
    /// A council to ask (default: loop.review_council, else the default council).
    #[serde(default)]
    pub council: Option<String>,
}

/// Which run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIdInput {
    /// The run `looped_start` returned.
    #[serde(alias = "runId", alias = "id")]
    pub run_id: String,
}

fn schema<T: JsonSchema + 'static>() -> std::sync::Arc<JsonObject> {
    schema_for_input::<T>().unwrap_or_else(|_| schema_for_type::<T>())
}

fn annotations(read_only: bool) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(read_only)
        .destructive(false)
        .idempotent(read_only)
        .open_world(false)
}

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            START,
            "Start a build/check loop: freezes the objective and acceptance criteria for the \
             run's life and returns the run id and the first executor prompt. Then: execute, \
             looped_report, looped_check_work, looped_next, repeat until looped_next says \
             complete or pause_for_human.",
            schema::<StartInput>(),
        )
        .with_title("Start a checked build loop")
        .with_annotations(annotations(false)),
        Tool::new(
            REPORT,
            "Report what a step did: summary, changed_files, tests, test_output, blockers, \
             assumptions, acceptance_status, raw_evidence. Cite concrete evidence: the checker \
             treats any finding without evidence from the report as a verification gap.",
            schema::<ReportInput>(),
        )
        .with_title("Report a step")
        .with_annotations(annotations(false)),
        Tool::new(
            CHECK,
            "The checker's verdict on the latest report: status (done, incomplete, blocked, \
             uncertain), confidence, missing_requirements, likely_bugs, verification_gaps, \
             exact_next_actions, evidence_used and recommended_route (stop, direct_retry, \
             fusion_review, human). Call looped_next after it (looped_fuse_review first when \
             the route is fusion_review).",
            schema::<CheckInput>(),
        )
        .with_title("Check the work")
        .with_annotations(annotations(false)),
        Tool::new(
            REVIEW,
            "A council reviews the frozen evidence of the latest report and the checker's \
             findings (for uncertain, low-confidence or high-risk work). Then call looped_next.",
            schema::<ReviewInput>(),
        )
        .with_title("Council review of the work")
        .with_annotations(annotations(false)),
        Tool::new(
            NEXT,
            "What comes next: status complete, pause_for_human, or continue (also split, \
             possibly_stuck) with one bounded next_prompt to execute. Checks the latest report \
             first if it was not checked, and holds the council review its route needs.",
            schema::<RunIdInput>(),
        )
        .with_title("Next step of the loop")
        .with_annotations(annotations(false)),
        Tool::new(
            STATUS,
            "A loop run's state: status, objective, frozen criteria, counts, the latest report, \
             check, review and decision, and the loop's health.",
            schema::<RunIdInput>(),
        )
        .with_title("Loop run status")
        .with_annotations(annotations(true)),
    ]
}

/// Runs one of [`NAMES`]. Bad input and refused operations are tool errors; a cancelled call
/// stops its model calls.
pub async fn call(
    fusion: &Fusion,
    name: &str,
    arguments: Option<JsonObject>,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResult, ErrorData> {
    let Some(store) = fusion.store() else {
        return Ok(tool_error(
            "this Fusion runs without a store: the loop tools need one ([storage] url)",
        ));
    };
    let work = as_caller(Caller::Mcp, dispatch(fusion, store, name, arguments));
    tokio::select! {
        result = work => Ok(result),
        () = context.ct.cancelled() => {
            tracing::info!(tool = name, "loop tool cancelled by the client; model calls stopped");
            Err(ErrorData::internal_error("the request was cancelled by the client", None))
        }
    }
}

async fn dispatch(
    fusion: &Fusion,
    store: &Store,
    name: &str,
    arguments: Option<JsonObject>,
) -> CallToolResult {
    let now = fusion.snapshot();
    let runs = LoopRuns::new(store, &now.registry, &now.config);
    match name {
        START => run(parse::<StartInput>(name, arguments), |i| start(&runs, i)).await,
        REPORT => run(parse::<ReportInput>(name, arguments), |i| report(&runs, i)).await,
        CHECK => run(parse::<CheckInput>(name, arguments), |i| check(&runs, i)).await,
        REVIEW => run(parse::<ReviewInput>(name, arguments), |i| review(&runs, i)).await,
        NEXT => run(parse::<RunIdInput>(name, arguments), |i| next(&runs, i)).await,
        STATUS => run(parse::<RunIdInput>(name, arguments), |i| status(&runs, i)).await,
        other => tool_error(format!("`{other}` is not a loop tool")),
    }
}

type Outcome = Result<(String, Value), String>;

/// An engine error as a tool result may show it: an internal failure (the store's, say)
/// answers a fixed text and a request id, its detail only in the log.
fn for_client(err: fusion_core::Error) -> String {
    err.for_client().message
}

async fn run<I, F, Fut>(input: Result<I, String>, work: F) -> CallToolResult
where
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let outcome = match input {
        Ok(input) => work(input).await,
        Err(message) => Err(message),
    };
    match outcome {
        Ok((text, structured)) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(structured);
            result
        }
        Err(message) => tool_error(message),
    }
}

async fn start(runs: &LoopRuns<'_>, input: StartInput) -> Outcome {
    check_size(START, "objective", &input.objective)?;
    let run = runs
        .start(NewRun {
            objective: input.objective,
            acceptance_criteria: input.acceptance_criteria,
            run_id: input.run_id,
        })
        .await
        .map_err(for_client)?;
    let text = format!(
        "{}\n\n(run_id: {}; report with looped_report when the step is done)",
        run.first_prompt, run.run_id
    );
    let structured = json!({
        "run_id": run.run_id,
        "status": run.status,
        "objective": run.objective,
        "acceptance_criteria": run.acceptance_criteria,
        "next_prompt": run.first_prompt,
        "created_ms": run.created_ms,
    });
    Ok((text, structured))
}

async fn report(runs: &LoopRuns<'_>, input: ReportInput) -> Outcome {
    for (field, text) in [
        ("summary", Some(&input.summary)),
        ("test_output", input.test_output.as_ref()),
        ("raw_evidence", input.raw_evidence.as_ref()),
    ] {
        check_size(REPORT, field, text.map_or("", String::as_str))?;
    }
    let run_id = input.run_id.clone();
    let recorded = runs
        .report(&run_id, to_report(input))
        .await
        .map_err(for_client)?;
    let text = format!(
        "recorded report {} of run {run_id}; now call looped_check_work",
        recorded.seq
    );
    let structured = json!({
        "run_id": run_id,
        "report_seq": recorded.seq,
        "report_index": recorded.seq.saturating_sub(1),
        "status": "reported",
        "report": recorded.record,
    });
    Ok((text, structured))
}

fn to_report(input: ReportInput) -> Report {
    Report {
        summary: input.summary.trim().to_owned(),
        changed_files: input.changed_files,
        tests: input.tests,
        test_output: input.test_output.unwrap_or_default(),
        commands: input.commands,
        blockers: input.blockers,
        assumptions: input.assumptions,
        acceptance_status: input.acceptance_status.unwrap_or_default(),
        raw_evidence: input.raw_evidence.unwrap_or_default(),
    }
}

async fn check(runs: &LoopRuns<'_>, input: CheckInput) -> Outcome {
    check_size(
        CHECK,
        "extra_evidence",
        input.extra_evidence.as_deref().unwrap_or(""),
    )?;
    let inline = match input.report {
        Some(report) => {
            if let Some(other) = report.run_id.as_deref().filter(|id| *id != input.run_id) {
                return Err(format!(
                    "invalid arguments for `{CHECK}`: report.run_id `{other}` is not run_id `{}`",
                    input.run_id
                ));
            }
            Some(to_report(ReportInput {
                run_id: input.run_id.clone(),
                summary: report.summary,
                changed_files: report.changed_files,
                tests: report.tests,
                test_output: report.test_output,
                commands: report.commands,
                blockers: report.blockers,
                assumptions: report.assumptions,
                acceptance_status: report.acceptance_status,
                raw_evidence: report.raw_evidence,
            }))
        }
        None => None,
    };
    let recorded = runs
        .check(&input.run_id, input.extra_evidence.as_deref(), inline)
        .await
        .map_err(for_client)?;
    let check = &recorded.record;
    let next_tool = match check.recommended_route {
        fusion_core::looped::Route::FusionReview => REVIEW,
        _ => NEXT,
    };
    let mut text = format!(
        "{} (confidence {:.2}) → {}: {}",
        check.status.as_str(),
        check.confidence,
        check.recommended_route.as_str(),
        if check.handoff_reason.is_empty() {
            check.route_reasons.join("; ")
        } else {
            check.handoff_reason.clone()
        }
    );
    for (title, items) in [
        ("missing", &check.missing_requirements),
        ("likely bugs", &check.likely_bugs),
        ("verification gaps", &check.verification_gaps),
        ("next actions", &check.exact_next_actions),
    ] {
        if !items.is_empty() {
            text.push_str(&format!("\n{title}:\n- {}", items.join("\n- ")));
        }
    }
    text.push_str(&format!("\n\nNext: call {next_tool}."));
    let structured = json!({
        "run_id": input.run_id,
        "check_seq": recorded.seq,
        "check_index": recorded.seq.saturating_sub(1),
        "check": recorded.record,
        "next_tool": next_tool,
    });
    Ok((text, structured))
}

async fn review(runs: &LoopRuns<'_>, input: ReviewInput) -> Outcome {
    check_size(REVIEW, "question", input.question.as_deref().unwrap_or(""))?;
    let recorded = runs
        .review(
            &input.run_id,
            input.question.as_deref(),
            input.council.as_deref(),
        )
        .await
        .map_err(for_client)?;
    let text = format!(
        "{}\n\n(council `{}`; now call looped_next)",
        recorded.record.final_answer, recorded.record.council
    );
    let structured = json!({
        "run_id": input.run_id,
        "review_seq": recorded.seq,
        "review_index": recorded.seq.saturating_sub(1),
        "review": recorded.record,
    });
    Ok((text, structured))
}

async fn next(runs: &LoopRuns<'_>, input: RunIdInput) -> Outcome {
    let next = runs.next(&input.run_id).await.map_err(for_client)?;
    let decision = &next.decision;
    let text = if decision.next_prompt.is_empty() {
        format!("{}: {}", decision.status.as_str(), decision.reason())
    } else {
        format!("{}\n\n{}", decision.status.as_str(), decision.next_prompt)
    };
    let mut structured = serde_json::to_value(&next).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut structured {
        map.insert("reason".into(), decision.reason().into());
    }
    Ok((text, structured))
}

async fn status(runs: &LoopRuns<'_>, input: RunIdInput) -> Outcome {
    let view = runs.status(&input.run_id).await.map_err(for_client)?;
    let mut text = format!(
        "run {} is {}: {} report(s), {} check(s), {} review(s), {} decision(s); health {}",
        view.run.run_id,
        view.run.status,
        view.reports,
        view.checks,
        view.reviews,
        view.decisions,
        view.health.verdict.as_str()
    );
    if let Some(next) = &view.latest_next {
        text.push_str(&format!(
            "\nlatest decision: {} {}",
            next.record.status.as_str(),
            next.record.reason()
        ));
    }
    let structured = serde_json::to_value(&view).map_err(|e| e.to_string())?;
    Ok((text, structured))
}

fn parse<T: DeserializeOwned>(name: &str, arguments: Option<JsonObject>) -> Result<T, String> {
    serde_json::from_value(Value::Object(arguments.unwrap_or_default()))
        .map_err(|e| format!("invalid arguments for `{name}`: {e}"))
}

fn check_size(tool: &str, field: &str, text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "invalid arguments for `{tool}`: `{field}` is {} bytes; the limit is {MAX_TEXT_BYTES}",
            text.len()
        ));
    }
    Ok(())
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_derive_object_schemas_and_accept_the_replaced_projects_names() {
        assert!(schema_for_input::<StartInput>().is_ok());
        assert!(schema_for_input::<ReportInput>().is_ok());
        assert!(schema_for_input::<CheckInput>().is_ok());
        let input: ReportInput = serde_json::from_value(json!({
            "run_id": "r", "summary": "s", "tests_run": ["cargo test"], "changedFiles": ["a"]
        }))
        .unwrap();
        assert_eq!(input.tests, vec!["cargo test"]);
        assert_eq!(input.changed_files, vec!["a"]);
    }

    #[test]
    fn missing_and_unknown_fields_are_refused_naming_them() {
        let err =
            parse::<ReportInput>(REPORT, json!({"run_id": "r"}).as_object().cloned()).unwrap_err();
        assert!(err.contains("summary"), "{err}");
        let err = parse::<RunIdInput>(NEXT, json!({"run": "r"}).as_object().cloned()).unwrap_err();
        assert!(err.contains("run"), "{err}");
        assert!(check_size(START, "objective", &"x".repeat(MAX_TEXT_BYTES + 1)).is_err());
    }
}
