//! The evidence a loop tool takes inline — a report, the client's check, the client's council
//! review — read into the loop checker's records: names and bounds checked (every text within
//! the size limit), statuses and routes read leniently, and each refusal an
//! `invalid_arguments` result that names the field.

use fusion_looped::{CheckStatus, ClientCheck, Report, Risk, Route, SUPPLIED_NOTE, client_council};
use fusion_types::{CouncilResult, CouncilStatus};
use rmcp::model::CallToolResult;

use super::check_size;
use super::input::{InlineCheck, InlineReport, InlineReview};
use crate::failure;

/// The report given to `tool` for run `run_id`; a report naming another run is refused.
pub(super) fn report(
    tool: &str,
    run_id: &str,
    report: InlineReport,
) -> Result<Report, CallToolResult> {
    if let Some(other) = report.run_id.as_deref().filter(|id| *id != run_id) {
        return Err(failure::invalid_arguments(
            tool,
            format!("report.run_id `{other}` is not run_id `{run_id}`"),
        ));
    }
    let report = Report {
        summary: report.summary.trim().to_owned(),
        changed_files: report.changed_files,
        tests: report.tests,
        test_output: report.test_output.unwrap_or_default(),
        commands: report.commands,
        blockers: report.blockers,
        assumptions: report.assumptions,
        acceptance_status: report.acceptance_status.unwrap_or_default(),
        raw_evidence: report.raw_evidence.unwrap_or_default(),
    };
    check_report_size(tool, "report.", &report)?;
    Ok(report)
}

/// Refuses a report with a text (or list) over the size limit, naming it `PREFIX` + field.
pub(super) fn check_report_size(
    tool: &str,
    prefix: &str,
    report: &Report,
) -> Result<(), CallToolResult> {
    for (field, text) in [
        ("summary", &report.summary),
        ("test_output", &report.test_output),
        ("acceptance_status", &report.acceptance_status),
        ("raw_evidence", &report.raw_evidence),
    ] {
        check_size(tool, &format!("{prefix}{field}"), text)?;
    }
    for (field, items) in [
        ("changed_files", &report.changed_files),
        ("tests", &report.tests),
        ("commands", &report.commands),
        ("blockers", &report.blockers),
        ("assumptions", &report.assumptions),
    ] {
        check_size(tool, &format!("{prefix}{field}"), &items.join("\n"))?;
    }
    Ok(())
}

/// The client's check given to `tool`.
pub(super) fn check(tool: &str, check: InlineCheck) -> Result<ClientCheck, CallToolResult> {
    let refuse = |problem: String| failure::invalid_arguments(tool, problem);
    let status = CheckStatus::parse(&check.status).ok_or_else(|| {
        refuse(format!(
            "`check.status` is `{}`; it must be done, incomplete, blocked or uncertain",
            check.status
        ))
    })?;
    if let Some(c) = check.confidence
        && !(c.is_finite() && (0.0..=1.0).contains(&c))
    {
        return Err(refuse(format!(
            "`check.confidence` is {c}; it must be between 0 and 1"
        )));
    }
    let risk = match check.risk.as_deref() {
        Some(text) => Some(Risk::parse(text).ok_or_else(|| {
            refuse(format!(
                "`check.risk` is `{text}`; it must be low, medium or high"
            ))
        })?),
        None => None,
    };
    let recommended_route = match check.recommended_route.as_deref() {
        Some(text) => Some(Route::parse(text).ok_or_else(|| {
            refuse(format!(
                "`check.recommended_route` is `{text}`; it must be stop, direct_retry, \
                 fusion_review or human"
            ))
        })?),
        None => None,
    };
    let handoff_reason = check.handoff_reason.unwrap_or_default();
    check_size(tool, "check.handoff_reason", &handoff_reason)?;
    for (field, items) in [
        ("missing_requirements", &check.missing_requirements),
        ("likely_bugs", &check.likely_bugs),
        ("verification_gaps", &check.verification_gaps),
        ("exact_next_actions", &check.exact_next_actions),
        ("evidence_used", &check.evidence_used),
    ] {
        check_size(tool, &format!("check.{field}"), &items.join("\n"))?;
    }
    Ok(ClientCheck {
        status,
        confidence: check.confidence,
        risk,
        missing_requirements: check.missing_requirements,
        likely_bugs: check.likely_bugs,
        verification_gaps: check.verification_gaps,
        exact_next_actions: check.exact_next_actions,
        evidence_used: check.evidence_used,
        recommended_route,
        handoff_reason,
    })
}

/// The client's council review given to `tool`, as a council result: a whole one as it is, a
/// partial one completed with empty parts and noted as the client's.
pub(super) fn review(tool: &str, review: InlineReview) -> Result<CouncilResult, CallToolResult> {
    let refuse = |problem: String| failure::invalid_arguments(tool, problem);
    if review.final_answer.trim().is_empty() {
        return Err(refuse(
            "`fusion_review.final_answer` is empty: say what the review concluded".to_owned(),
        ));
    }
    let result = match review {
        InlineReview {
            final_answer,
            status: Some(status),
            council: Some(council),
            analysis: Some(analysis),
            responses: Some(responses),
            failed_models: Some(failed_models),
            degradation_reasons: Some(degradation_reasons),
            raw_judge_output,
            labels: Some(labels),
            notes: Some(notes),
            timings: Some(timings),
            usage: Some(usage),
            cut,
        } => CouncilResult {
            status,
            council,
            final_answer,
            analysis,
            responses,
            failed_models,
            degradation_reasons,
            raw_judge_output,
            labels,
            notes,
            timings,
            usage,
            cut: cut.unwrap_or_default(),
        },
        partial => {
            let mut result = client_council(&partial.final_answer);
            result.status = partial.status.unwrap_or(CouncilStatus::Ok);
            if let Some(council) = partial.council {
                result.council = council;
            }
            result.analysis = partial.analysis.unwrap_or_default();
            result.responses = partial.responses.unwrap_or_default();
            result.failed_models = partial.failed_models.unwrap_or_default();
            result.degradation_reasons = partial.degradation_reasons.unwrap_or_default();
            result.raw_judge_output = partial.raw_judge_output;
            result.labels = partial.labels.unwrap_or_default();
            let mut notes = partial.notes.unwrap_or_default();
            notes.push(SUPPLIED_NOTE.to_owned());
            result.notes = notes;
            result.timings = partial.timings.unwrap_or_default();
            result.usage = partial.usage.unwrap_or_default();
            result.cut = partial.cut.unwrap_or_default();
            result
        }
    };
    check_council_size(tool, &result)?;
    Ok(result)
}

fn check_council_size(tool: &str, result: &CouncilResult) -> Result<(), CallToolResult> {
    let contents: Vec<&str> = result
        .responses
        .iter()
        .map(|r| r.content.as_str())
        .collect();
    let errors: Vec<&str> = result
        .failed_models
        .iter()
        .map(|f| f.error.as_str())
        .collect();
    let analysis = serde_json::to_string(&result.analysis).unwrap_or_default();
    for (field, text) in [
        ("final_answer", result.final_answer.clone()),
        (
            "raw_judge_output",
            result.raw_judge_output.clone().unwrap_or_default(),
        ),
        ("analysis", analysis),
        ("responses", contents.join("\n")),
        ("failed_models", errors.join("\n")),
        ("degradation_reasons", result.degradation_reasons.join("\n")),
        ("notes", result.notes.join("\n")),
    ] {
        check_size(tool, &format!("fusion_review.{field}"), &text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::MAX_TEXT_BYTES;
    use super::*;

    fn message(result: &CallToolResult) -> String {
        result.structured_content.as_ref().unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn inline_check(value: Value) -> InlineCheck {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_client_check_reads_camel_case_and_lenient_statuses_and_routes() {
        let check = check(
            "looped_next",
            inline_check(json!({
                "status": "Complete", "confidence": 0.9, "likelyBugs": ["b"],
                "exactNextActions": ["a"], "recommendedRoute": "review", "risk": "critical"
            })),
        )
        .unwrap();
        assert_eq!(check.status, CheckStatus::Done);
        assert_eq!(check.likely_bugs, vec!["b"]);
        assert_eq!(check.exact_next_actions, vec!["a"]);
        assert_eq!(check.recommended_route, Some(Route::FusionReview));
        assert_eq!(check.risk, Some(Risk::High));
    }

    #[test]
    fn a_client_check_out_of_bounds_is_refused_naming_the_field() {
        for (bad, field) in [
            (json!({"status": "maybe"}), "`check.status` is `maybe`"),
            (
                json!({"status": "done", "confidence": 2}),
                "`check.confidence` is 2",
            ),
            (
                json!({"status": "done", "confidence": -0.1}),
                "`check.confidence`",
            ),
            (json!({"status": "done", "risk": "extreme"}), "`check.risk`"),
            (
                json!({"status": "done", "recommended_route": "ship"}),
                "`check.recommended_route`",
            ),
        ] {
            let err = check("looped_next", inline_check(bad)).unwrap_err();
            assert!(message(&err).contains(field), "{}", message(&err));
        }
        let huge = inline_check(json!({
            "status": "done", "likely_bugs": ["x".repeat(MAX_TEXT_BYTES + 1)]
        }));
        let err = check("looped_next", huge).unwrap_err();
        assert!(
            message(&err).contains("check.likely_bugs"),
            "{}",
            message(&err)
        );
    }

    #[test]
    fn a_partial_review_is_completed_and_noted_and_a_whole_council_result_is_kept_as_it_is() {
        let partial: InlineReview = serde_json::from_value(json!({"answer": "ship it"})).unwrap();
        let result = review("looped_next", partial).unwrap();
        assert_eq!(result.final_answer, "ship it");
        assert_eq!(result.council, "client");
        assert_eq!(result.notes, vec![SUPPLIED_NOTE]);

        let mut whole = client_council("done well");
        whole.council = "default".into();
        whole.notes = vec!["three members".into()];
        let given: InlineReview =
            serde_json::from_value(serde_json::to_value(&whole).unwrap()).unwrap();
        assert_eq!(review("looped_next", given).unwrap(), whole);

        let empty: InlineReview = serde_json::from_value(json!({"final_answer": " "})).unwrap();
        let err = review("looped_next", empty).unwrap_err();
        assert!(message(&err).contains("fusion_review.final_answer"));
    }

    #[test]
    fn an_inline_report_for_another_run_or_over_the_size_limit_is_refused() {
        let other: InlineReport =
            serde_json::from_value(json!({"run_id": "b", "summary": "s"})).unwrap();
        let err = report("looped_next", "a", other).unwrap_err();
        assert!(message(&err).contains("report.run_id `b` is not run_id `a`"));
        let huge: InlineReport = serde_json::from_value(
            json!({"summary": "s", "testOutput": "x".repeat(MAX_TEXT_BYTES + 1)}),
        )
        .unwrap();
        let err = report("looped_next", "a", huge).unwrap_err();
        assert!(
            message(&err).contains("report.test_output"),
            "{}",
            message(&err)
        );
    }
}
