//! The loop checker's build/check gate as MCP tools, named as in the project Fusion replaces:
//! `looped_start` (freeze the objective and acceptance criteria, get the first prompt),
//! `looped_report` (what a step did, with evidence), `looped_check_work` (the checker's
//! verdict and route), `looped_fuse_review` (a council on the frozen evidence and the check),
//! `looped_next` (complete, a pause for a human, or one bounded next prompt) and
//! `looped_status`. `looped_next` and `looped_fuse_review` also take the step's evidence
//! inline (`report`, the client's `check`, the client's `fusion_review`: `inline`). Runs live
//! in the store (`fusion_looped`); bad input and refused operations are tool errors the
//! executor can read.

use fusion_core::providers::as_caller;
use fusion_core::store::{Caller, Store};
use fusion_looped::{LoopRuns, NewRun, Report, Supplied};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, tool, tool_router};
use serde_json::{Value, json};

use crate::{Fusion, FusionMcp, failure};

mod inline;
mod input;
mod trail;

use input::{CheckInput, NextInput, ReportInput, ReviewInput, RunIdInput, StartInput};

pub const START: &str = "looped_start";
pub const REPORT: &str = "looped_report";
pub const CHECK: &str = "looped_check_work";
pub const REVIEW: &str = "looped_fuse_review";
pub const NEXT: &str = "looped_next";
pub const STATUS: &str = "looped_status";

/// Largest text field accepted, in bytes.
const MAX_TEXT_BYTES: usize = 1024 * 1024;

#[tool_router(router = looped_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "Start a checked build loop",
        description = "Start a build/check loop: freezes the objective and acceptance criteria \
         for the run's life and returns the run id and the first executor prompt. Then: \
         execute, looped_report, looped_check_work, looped_next, repeat until looped_next \
         says complete or pause_for_human.",
        input_schema = crate::own_tools::input_schema::<StartInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn looped_start(
        &self,
        Parameters(input): Parameters<StartInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.loop_step(Step::Start(input), context).await
    }

    #[tool(
        title = "Report a step",
        description = "Report what a step did: summary, changed_files, tests, test_output, \
         blockers, assumptions, acceptance_status, raw_evidence. Cite concrete evidence: the \
         checker treats any finding without evidence from the report as a verification gap.",
        input_schema = crate::own_tools::input_schema::<ReportInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn looped_report(
        &self,
        Parameters(input): Parameters<ReportInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.loop_step(Step::Report(input), context).await
    }

    #[tool(
        title = "Check the work",
        description = "The checker's verdict on the latest report: status (done, incomplete, \
         blocked, uncertain), confidence, missing_requirements, likely_bugs, \
         verification_gaps, exact_next_actions, evidence_used and recommended_route (stop, \
         direct_retry, fusion_review, human). Call looped_next after it (looped_fuse_review \
         first when the route is fusion_review).",
        input_schema = crate::own_tools::input_schema::<CheckInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn looped_check_work(
        &self,
        Parameters(input): Parameters<CheckInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.loop_step(Step::Check(input), context).await
    }

    #[tool(
        title = "Council review of the work",
        description = "A council reviews the frozen evidence of the latest report and the \
         checker's findings (for uncertain, low-confidence or high-risk work). Then call \
         looped_next. Optional inline `report` (recorded first, as looped_report would) and \
         `check` (your own checker's verdict: status, confidence, findings; recorded as the \
         report's check before the council reviews).",
        input_schema = crate::own_tools::input_schema::<ReviewInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn looped_fuse_review(
        &self,
        Parameters(input): Parameters<ReviewInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.loop_step(Step::Review(Box::new(input)), context).await
    }

    #[tool(
        title = "Next step of the loop",
        description = "What comes next: status complete, pause_for_human, or continue (also \
         split, possibly_stuck) with one bounded next_prompt to execute. Checks the latest \
         report first if it was not checked, and holds the council review its route needs. \
         The step's evidence may come inline, recorded in this order before deciding: \
         `report` (as looped_report), `check` (your own checker's verdict, as \
         looped_check_work's; done with high confidence completes the run without a model \
         call) and `fusion_review` (a council result you ran, as looped_fuse_review's).",
        input_schema = crate::own_tools::input_schema::<NextInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn looped_next(
        &self,
        Parameters(input): Parameters<NextInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.loop_step(Step::Next(Box::new(input)), context).await
    }

    #[tool(
        title = "Loop run status",
        description = "A loop run's state: status, objective, frozen criteria, counts, the latest \
         report, check, review and decision, and the loop's health.",
        input_schema = crate::own_tools::input_schema::<RunIdInput>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn looped_status(
        &self,
        Parameters(input): Parameters<RunIdInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.loop_step(Step::Status(input), context).await
    }

    /// Runs one step over the store. A cancelled call stops its model calls.
    async fn loop_step(
        &self,
        step: Step,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let fusion = self.fusion();
        let Some(store) = fusion.store() else {
            return Ok(failure::failed(
                "no_store",
                false,
                "this Fusion runs without a store: the loop tools need one ([storage] url)",
            ));
        };
        let tool = step.tool();
        let trail = self.run_trail();
        let work = as_caller(Caller::Mcp, dispatch(fusion, store, step, trail));
        tokio::select! {
            result = work => Ok(result),
            () = context.ct.cancelled() => {
                tracing::info!(tool, "loop tool cancelled by the client; model calls stopped");
                Err(ErrorData::internal_error("the request was cancelled by the client", None))
            }
        }
    }
}

/// One loop tool's call, with its parsed input.
enum Step {
    Start(StartInput),
    Report(ReportInput),
    Check(CheckInput),
    // Boxed: the inline evidence makes these inputs large.
    Review(Box<ReviewInput>),
    Next(Box<NextInput>),
    Status(RunIdInput),
}

impl Step {
    fn tool(&self) -> &'static str {
        match self {
            Self::Start(_) => START,
            Self::Report(_) => REPORT,
            Self::Check(_) => CHECK,
            Self::Review(_) => REVIEW,
            Self::Next(_) => NEXT,
            Self::Status(_) => STATUS,
        }
    }
}

async fn dispatch(
    fusion: &Fusion,
    store: &Store,
    step: Step,
    trail: Option<&std::path::Path>,
) -> CallToolResult {
    let now = fusion.snapshot();
    let runs = LoopRuns::new(store, &now.registry, &now.config);
    let changes = !matches!(step, Step::Status(_));
    let outcome = match step {
        Step::Start(input) => start(&runs, input).await,
        Step::Report(input) => report(&runs, input).await,
        Step::Check(input) => check(&runs, input).await,
        Step::Review(input) => review(&runs, *input).await,
        Step::Next(input) => next(&runs, *input).await,
        Step::Status(input) => status(&runs, input).await,
    };
    match outcome {
        Ok((text, structured)) => {
            if let Some(root) = trail.filter(|_| changes) {
                trail::write(&runs, root, &structured).await;
            }
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(structured);
            result
        }
        Err(refused) => refused,
    }
}

/// A step's text and structured content, or the tool result that refuses it.
type Outcome = Result<(String, Value), CallToolResult>;

/// An engine error as a tool result may show it: an internal failure (the store's, say)
/// answers a fixed text and a request id, its detail only in the log.
fn for_client(err: fusion_core::Error) -> CallToolResult {
    failure::from_core(&err)
}

/// A result that could not be encoded.
fn unencodable(err: serde_json::Error) -> CallToolResult {
    failure::failed(
        "internal",
        false,
        format!("cannot encode the result: {err}"),
    )
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
    let run_id = input.run_id.clone();
    let report = to_report(input);
    inline::check_report_size(REPORT, "", &report)?;
    let recorded = runs.report(&run_id, report).await.map_err(for_client)?;
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
    let inline = input
        .report
        .map(|report| inline::report(CHECK, &input.run_id, report))
        .transpose()?;
    let recorded = runs
        .check(&input.run_id, input.extra_evidence.as_deref(), inline)
        .await
        .map_err(for_client)?;
    let check = &recorded.record;
    let next_tool = match check.recommended_route {
        fusion_looped::Route::FusionReview => REVIEW,
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
    let supplied = Supplied {
        report: input
            .report
            .map(|report| inline::report(REVIEW, &input.run_id, report))
            .transpose()?,
        check: input
            .check
            .map(|check| inline::check(REVIEW, check))
            .transpose()?,
        review: None,
    };
    let steps_taken = runs
        .supply(&input.run_id, supplied)
        .await
        .map_err(for_client)?;
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
        "steps_taken": steps_taken,
    });
    Ok((text, structured))
}

async fn next(runs: &LoopRuns<'_>, input: NextInput) -> Outcome {
    let supplied = Supplied {
        report: input
            .report
            .map(|report| inline::report(NEXT, &input.run_id, report))
            .transpose()?,
        check: input
            .check
            .map(|check| inline::check(NEXT, check))
            .transpose()?,
        review: input
            .fusion_review
            .map(|review| inline::review(NEXT, review))
            .transpose()?,
    };
    let next = runs
        .next_with(&input.run_id, supplied)
        .await
        .map_err(for_client)?;
    let decision = &next.decision;
    let text = if decision.next_prompt.is_empty() {
        format!("{}: {}", decision.status.as_str(), decision.reason())
    } else {
        format!("{}\n\n{}", decision.status.as_str(), decision.next_prompt)
    };
    let mut structured = serde_json::to_value(&next).map_err(unencodable)?;
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
    let structured = serde_json::to_value(&view).map_err(unencodable)?;
    Ok((text, structured))
}

fn check_size(tool: &str, field: &str, text: &str) -> Result<(), CallToolResult> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(failure::invalid_arguments(
            tool,
            format!(
                "`{field}` is {} bytes; the limit is {MAX_TEXT_BYTES}",
                text.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rmcp::handler::server::common::schema_for_input;
    use rmcp::model::JsonObject;
    use serde::de::DeserializeOwned;

    use super::*;

    /// The SDK's parse of a call's arguments.
    fn parse<T: DeserializeOwned>(_tool: &str, arguments: Option<JsonObject>) -> Result<T, String> {
        serde_json::from_value(Value::Object(arguments.unwrap_or_default()))
            .map_err(|e| e.to_string())
    }

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
    fn next_and_review_take_inline_evidence_in_either_spelling_and_their_schemas_name_it() {
        let input: NextInput = serde_json::from_value(json!({
            "runId": "r",
            "report": {"summary": "s", "testsRun": ["cargo test"]},
            "check": {"status": "done", "confidence": 0.95, "evidenceUsed": ["ok"]},
            "fusionReview": {"finalAnswer": "ship it"}
        }))
        .unwrap();
        assert_eq!(input.run_id, "r");
        assert_eq!(input.report.unwrap().tests, vec!["cargo test"]);
        assert_eq!(input.check.unwrap().evidence_used, vec!["ok"]);
        assert_eq!(input.fusion_review.unwrap().final_answer, "ship it");
        let input: ReviewInput = serde_json::from_value(json!({
            "run_id": "r", "report": {"summary": "s"}, "check": {"status": "uncertain"}
        }))
        .unwrap();
        assert!(input.report.is_some() && input.check.is_some());

        let next = Value::Object(schema_for_input::<NextInput>().unwrap().as_ref().clone());
        for field in ["run_id", "report", "check", "fusion_review"] {
            assert!(next["properties"][field].is_object(), "{field}: {next}");
        }
        assert!(
            next["properties"]["fusion_review"]["description"]
                .as_str()
                .unwrap()
                .contains("fusionReview")
        );
        let check = &next["$defs"]["InlineCheck"]["properties"];
        assert!(
            check["likely_bugs"]["description"]
                .as_str()
                .unwrap()
                .contains("likelyBugs")
        );
        assert_eq!(check["status"]["enum"][0], "done");
        let review = Value::Object(schema_for_input::<ReviewInput>().unwrap().as_ref().clone());
        for field in ["report", "check"] {
            assert!(review["properties"][field].is_object(), "{field}: {review}");
        }
    }

    #[test]
    fn an_inline_check_with_an_unknown_field_is_refused_naming_it() {
        let err = parse::<NextInput>(
            NEXT,
            json!({"run_id": "r", "check": {"status": "done", "confidance": 0.9}})
                .as_object()
                .cloned(),
        )
        .unwrap_err();
        assert!(err.contains("unknown field `confidance`"), "{err}");
        let err = parse::<NextInput>(
            NEXT,
            json!({"run_id": "r", "fusion_review": {"final_answer": "a", "verdict": "ok"}})
                .as_object()
                .cloned(),
        )
        .unwrap_err();
        assert!(err.contains("unknown field `verdict`"), "{err}");
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
