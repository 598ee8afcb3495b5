//! The Loop Conductor: one role call that reads the evidence (role views and run state in a
//! deliberation round; the report, check and review at the gate) and returns the decision as
//! strict JSON — `status`, `next_prompt`, `consensus`, `risk_flags`, `reasons`. Output that is
//! not a usable decision — not JSON, or a copy of the prompt's example text — is asked for once
//! more with the parse error; after that the decision is the safe one, `pause_for_human`, with
//! the reason and the raw output kept.

use super::json::{Wording, extract_object, string, strings, text_of};
use super::prompts;
use super::record::{Decision, DecisionSource, DecisionStatus};
use super::roles::{LoopRole, RoleCaller, RoleConversation, messages};
use fusion_core::strict_json::{self, JsonAnswer, Unusable};

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

/// How the conductor's unusable answers are told.
const WORDING: Wording = Wording {
    role: "conductor",
    malformed: "was not a usable decision",
    noun: "decision",
};

/// Parses the conductor's text, or says why it cannot be used. A status that hands the
/// executor work needs a next prompt; the prompt's example text is not a decision.
pub fn parse_decision(text: &str) -> Result<ParsedDecision, String> {
    read_decision(text).map_err(|e| e.to_string())
}

/// [`parse_decision`], telling a copy of the prompt's form from a malformed answer.
fn read_decision(text: &str) -> Result<ParsedDecision, Unusable> {
    let object = extract_object(text)?;
    prompts::conductor_template().check(&object, "the decision")?;
    let status = match object.get("status").and_then(text_of) {
        Some(status) => DecisionStatus::parse(&status).ok_or_else(|| {
            format!(
                "`status` is `{status}`; it must be continue, split, pause_for_human, \
                 possibly_stuck or complete"
            )
        })?,
        None => return Err("the JSON object has no `status`".to_owned().into()),
    };
    let next_prompt = string(&object, "next_prompt");
    if status.needs_prompt() && next_prompt.is_empty() {
        return Err(format!(
            "status `{}` needs a non-empty `next_prompt`",
            status.as_str()
        )
        .into());
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
        read_decision,
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
            degradations.push(WORDING.repaired(&first_error));
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
        JsonAnswer::Unparsable {
            first_error,
            error,
            raw,
        } => (
            format!(
                "{}; a human should decide the next step",
                WORDING.unparsable(&first_error, &error)
            ),
            raw,
        ),
        JsonAnswer::RetryFailed {
            first_error,
            error,
            raw,
        } => (
            format!(
                "{}; a human should decide the next step",
                WORDING.retry_failed(&first_error, &error)
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

    /// The example object of the conductor's prompt, as the prompt shows it.
    fn prompt_example() -> &'static str {
        let prompt = prompts::CONDUCTOR_SYSTEM;
        &prompt[prompt.find('{').unwrap()..=prompt.rfind('}').unwrap()]
    }

    #[test]
    fn the_prompts_own_example_returned_as_is_is_not_a_decision() {
        let Err(Unusable::Template(why)) = read_decision(prompt_example()) else {
            panic!("the example was read as a decision");
        };
        assert!(
            why.starts_with(
                "the decision repeats the prompt's example text (status, next_prompt, "
            ),
            "{why}"
        );
    }

    #[test]
    fn a_real_status_with_an_echoed_prompt_is_not_a_decision() {
        let text = r#"{"status": "continue",
            "next_prompt": "One concrete prompt the executor can run as is: the goal of this step, its scope, what to change, which tests to run, what evidence to report; empty only for complete or pause_for_human.",
            "reasons": ["the flag is untested"]}"#;
        let Err(Unusable::Template(why)) = read_decision(text) else {
            panic!("an echoed next prompt was read as a decision");
        };
        assert!(why.contains("(next_prompt)"), "{why}");
    }

    #[test]
    fn short_real_decisions_are_accepted() {
        for text in [
            r#"{"status": "complete", "reasons": ["all criteria met"]}"#,
            r#"{"status": "continue", "next_prompt": "Add a test for --version.",
                "consensus": ["tests first"], "stop_condition": "cargo test passes"}"#,
        ] {
            assert!(read_decision(text).is_ok(), "{text}");
        }
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
