//! The Loop Conductor: one role call that reads the evidence (role views and run state in a
//! deliberation round; the report, check and review at the gate) and returns the decision as
//! strict JSON — `status`, `next_prompt`, `consensus`, `risk_flags`, `reasons`. Output that is
//! not a usable decision is asked for once more with the parse error; after that the decision
//! is the safe one, `pause_for_human`, with the reason and the raw output kept.

use super::json::{extract_object, string, strings, text_of};
use super::prompts;
use super::record::{Decision, DecisionSource, DecisionStatus};
use super::roles::{LoopRole, RoleCaller, RoleConversation, messages};
use fusion_core::strict_json::{self, JsonAnswer};

/// The conductor's JSON, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDecision {
    pub status: DecisionStatus,
    pub next_prompt: String,
    pub consensus: Vec<String>,
    pub risk_flags: Vec<String>,
    pub reasons: Vec<String>,
    pub evidence_required: Vec<String>,
    pub stop_condition: String,
}

/// Parses the conductor's text, or says why it cannot be used. A status that hands the
/// executor work needs a next prompt.
pub fn parse_decision(text: &str) -> Result<ParsedDecision, String> {
    let object = extract_object(text)?;
    let status = match object.get("status").and_then(text_of) {
        Some(status) => DecisionStatus::parse(&status).ok_or_else(|| {
            format!(
                "`status` is `{status}`; it must be continue, split, pause_for_human, \
                 possibly_stuck or complete"
            )
        })?,
        None => return Err("the JSON object has no `status`".to_owned()),
    };
    let next_prompt = string(&object, "next_prompt");
    if status.needs_prompt() && next_prompt.is_empty() {
        return Err(format!(
            "status `{}` needs a non-empty `next_prompt`",
            status.as_str()
        ));
    }
    let mut reasons = strings(&object, "reasons");
    if reasons.is_empty() {
        reasons = ["reason", "handoff_reason"]
            .iter()
            .map(|k| string(&object, k))
            .filter(|r| !r.is_empty())
            .collect();
    }
    Ok(ParsedDecision {
        status,
        next_prompt,
        consensus: strings(&object, "consensus"),
        risk_flags: strings(&object, "risk_flags"),
        reasons,
        evidence_required: strings(&object, "evidence_required"),
        stop_condition: string(&object, "stop_condition"),
    })
}

/// The conductor's decision, with what degraded on the way to it.
fn decision(parsed: ParsedDecision, model: Option<String>, degradations: Vec<String>) -> Decision {
    Decision {
        status: parsed.status,
        route: None,
        next_prompt: parsed.next_prompt,
        consensus: parsed.consensus,
        risk_flags: parsed.risk_flags,
        reasons: parsed.reasons,
        evidence_required: parsed.evidence_required,
        stop_condition: parsed.stop_condition,
        source: DecisionSource::Conductor,
        report_seq: None,
        check_seq: None,
        review_seq: None,
        model,
        health: None,
        views: Vec::new(),
        degradation_reasons: degradations,
        raw_output: None,
    }
}

/// The safe decision when the conductor gave nothing usable.
pub fn fallback_decision(reason: String, raw_output: Option<String>) -> Decision {
    Decision {
        status: DecisionStatus::PauseForHuman,
        route: None,
        next_prompt: String::new(),
        consensus: Vec::new(),
        risk_flags: Vec::new(),
        reasons: vec![reason.clone()],
        evidence_required: Vec::new(),
        stop_condition: String::new(),
        source: DecisionSource::Fallback,
        report_seq: None,
        check_seq: None,
        review_seq: None,
        model: None,
        health: None,
        views: Vec::new(),
        degradation_reasons: vec![reason],
        raw_output,
    }
}

/// Asks the conductor role with `user` (one of the conductor prompts). Never fails.
pub async fn conduct(caller: &RoleCaller<'_>, user: String) -> Decision {
    let mut conductor = RoleConversation::new(*caller, LoopRole::Conductor);
    let answer = strict_json::ask(
        &mut conductor,
        messages(prompts::CONDUCTOR_SYSTEM, user),
        &prompts::CONDUCTOR_KEYS,
        parse_decision,
    )
    .await;
    let model = conductor.target().map(ToString::to_string);
    let mut degradations: Vec<String> = conductor
        .failures()
        .iter()
        .map(|f| format!("conductor fell back past {f}"))
        .collect();
    let (reason, raw) = match answer {
        JsonAnswer::Parsed(parsed) => return decision(parsed, model, degradations),
        JsonAnswer::Repaired { value, first_error } => {
            degradations.push(format!(
                "conductor output was not a usable decision the first time ({first_error}); \
                 its retry was"
            ));
            return decision(value, model, degradations);
        }
        JsonAnswer::NotAsked(failures) => {
            return fallback_decision(
                format!(
                    "the conductor could not be asked ({failures}); a human should decide the \
                     next step"
                ),
                None,
            );
        }
        JsonAnswer::Unparsable { error, raw, .. } => (
            format!(
                "conductor output was not a usable decision, even after one retry ({error}); \
                 a human should decide the next step"
            ),
            raw,
        ),
        JsonAnswer::RetryFailed {
            first_error,
            error,
            raw,
        } => (
            format!(
                "conductor output was not a usable decision ({first_error}) and its retry failed \
                 ({error}); a human should decide the next step"
            ),
            raw,
        ),
    };
    let mut fallback = fallback_decision(reason, Some(raw));
    fallback.model = model;
    degradations.append(&mut fallback.degradation_reasons);
    fallback.degradation_reasons = degradations;
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_decision_and_reads_a_single_reason() {
        let parsed = parse_decision(
            r#"{"status": "continue", "next_prompt": "Add the test.", "consensus": "tests first",
                "risk_flags": [], "reason": "the flag is untested"}"#,
        )
        .unwrap();
        assert_eq!(parsed.status, DecisionStatus::Continue);
        assert_eq!(parsed.next_prompt, "Add the test.");
        assert_eq!(parsed.consensus, vec!["tests first"]);
        assert_eq!(parsed.reasons, vec!["the flag is untested"]);
    }

    #[test]
    fn a_decision_without_status_or_prompt_is_refused_with_the_reason() {
        assert!(parse_decision("continue!").unwrap_err().contains("no JSON"));
        assert!(
            parse_decision(r#"{"status": "onward"}"#)
                .unwrap_err()
                .contains("onward")
        );
        let err = parse_decision(r#"{"status": "split", "next_prompt": ""}"#).unwrap_err();
        assert!(err.contains("next_prompt"), "{err}");
        assert!(parse_decision(r#"{"status": "complete"}"#).is_ok());
    }

    #[test]
    fn the_fallback_pauses_for_a_human_with_the_reason_and_raw_output() {
        let d = fallback_decision("bad json".into(), Some("raw".into()));
        assert_eq!(d.status, DecisionStatus::PauseForHuman);
        assert_eq!(d.source, DecisionSource::Fallback);
        assert!(d.next_prompt.is_empty());
        assert_eq!(d.reason(), "bad json");
        assert_eq!(d.raw_output.as_deref(), Some("raw"));
    }
}
