//! The loop checker's prompt templates, in one place so they can be tuned and tested: the four
//! role views, the conductor (for a deliberation round and for the gate), the checker and its
//! schema, the keys a repair request names after output that was not JSON, the placeholder text
//! of the checker's and conductor's examples (which a real answer never repeats), the council
//! review, and the executor prompts the gate writes itself (the first prompt and a direct retry).

use std::sync::LazyLock;

use fusion_core::strict_json::echo::Template;

use super::record::{Check, Report, View};
use super::roles::LoopRole;

/// The role's system prompt in a deliberation round.
pub fn view_system(role: LoopRole) -> &'static str {
    match role {
        LoopRole::Explorer => {
            "You are the Explorer of an agent build loop. Map what is actually true: the relevant \
             files, symbols and docs, the current shape of the code, which statements are facts \
             and which are assumptions, and the unknowns the next prompt must resolve. Do not \
             propose code."
        }
        LoopRole::Builder => {
            "You are the Builder of an agent build loop. Name the smallest safe next \
             implementation step: the shape of the change, the seams to use, what to touch and \
             what to leave alone, dependencies, and the implementation risks."
        }
        LoopRole::Critic => {
            "You are the Critic of an agent build loop. Challenge the direction before the loop \
             commits to it: hidden assumptions, likely failure modes, missing tests, and reasons \
             the next step may be wrong."
        }
        LoopRole::Sentinel => {
            "You are the Performance Sentinel of an agent build loop. Judge the loop's health \
             from the run state: heartbeat freshness, elapsed against expected time, repeated \
             commands, lack of progress. End with one line `verdict: healthy`, `verdict: slow`, \
             `verdict: possibly_stuck` or `verdict: needs_split`."
        }
        LoopRole::Conductor | LoopRole::Checker => CONDUCTOR_SYSTEM,
    }
}

/// A role's user message in a deliberation round.
pub fn view_user(role: LoopRole, objective: &str, state: &str, health: &str) -> String {
    let mut text = format!("Objective:\n{objective}\n\nRun state (evidence):\n{state}\n");
    if role == LoopRole::Sentinel {
        text.push_str(&format!("\n{health}\n"));
    }
    text.push_str(&format!(
        "\nGive only your {} view, specific and brief. Cite file names, commands or timings from \
         the run state where you can; say so when the state does not tell.",
        role.title()
    ));
    text
}

/// The conductor's system prompt: strict JSON, one decision.
pub const CONDUCTOR_SYSTEM: &str = "\
You are the Loop Conductor of an agent build loop. You do not execute anything. You read the \
evidence and decide the loop's next move: reply with ONE JSON object and nothing else (no \
prose, no code fence), with exactly these keys:
{
  \"status\": \"continue | split | pause_for_human | possibly_stuck | complete\",
  \"next_prompt\": \"one concrete prompt the executor can run as is: the goal of this step, its scope, what to change, which tests to run, what evidence to report; empty only for complete or pause_for_human\",
  \"consensus\": [\"points the evidence and the reviewers agree on\"],
  \"risk_flags\": [\"specific risks drawn from the evidence\"],
  \"reasons\": [\"why this decision, citing the evidence\"],
  \"evidence_required\": [\"what the executor must report after the step\"],
  \"stop_condition\": \"a testable condition that ends the loop\"
}
Rules: prefer the smallest next step that produces new evidence; if a test is missing, the next \
prompt includes it; if the loop looks stuck, narrow the scope (possibly_stuck) or split the \
work (split); say complete only when the evidence shows every acceptance criterion met; say \
pause_for_human when only a person can unblock the loop. Separate facts from inferences.";

/// The conductor's user message in a deliberation round: objective, state, health, views.
pub fn conductor_round_user(objective: &str, state: &str, health: &str, views: &[View]) -> String {
    let mut text = format!(
        "Objective:\n{objective}\n\nRun state (evidence):\n{state}\n\n{health}\n\nRole views:\n"
    );
    for view in views {
        text.push_str(&format!("\n### {}\n", view.role));
        match &view.error {
            Some(error) => text.push_str(&format!("(no view: {error})\n")),
            None => {
                text.push_str(view.content.trim());
                text.push('\n');
            }
        }
    }
    text.push_str("\nWrite the JSON decision now.");
    text
}

/// The conductor's user message at the gate: the frozen evidence, the check, the review.
pub fn conductor_gate_user(
    objective: &str,
    criteria: &[String],
    report: &Report,
    check: &Check,
    review: Option<&str>,
    health: &str,
) -> String {
    format!(
        "Objective:\n{objective}\n\nAcceptance criteria (frozen):\n{}\n\nLatest executor report:\n\
         {}\n\nChecker findings:\n{}\n\nCouncil review:\n{}\n\n{health}\n\nWrite the JSON \
         decision now. Fold the checker's corrections and the council's findings into one \
         bounded next prompt; do not widen the scope.",
        bullets(criteria),
        pretty(report),
        pretty(check),
        review.unwrap_or("(not held)"),
    )
}

/// The keys of the conductor's JSON object, named again when its output could not be used
/// (see [`fusion_core::strict_json::repair_prompt`]).
pub const CONDUCTOR_KEYS: [&str; 7] = [
    "status",
    "next_prompt",
    "consensus",
    "risk_flags",
    "reasons",
    "evidence_required",
    "stop_condition",
];

/// The placeholder text of [`CONDUCTOR_SYSTEM`]'s example object, read from the prompt itself:
/// a decision that repeats it copied the form instead of deciding.
pub fn conductor_template() -> &'static Template {
    static TEMPLATE: LazyLock<Template> =
        LazyLock::new(|| Template::from_prompt(CONDUCTOR_SYSTEM, &[]));
    &TEMPLATE
}

/// The checker's system prompt: strict JSON, evidence for every finding.
pub const CHECKER_SYSTEM: &str = "\
You are the checker of an agent build loop: you decide whether the executor's reported work \
meets the frozen acceptance criteria. You do not execute anything or suggest rewrites. Reply \
with ONE JSON object and nothing else (no prose, no code fence), with exactly these keys:
{
  \"status\": \"done | incomplete | blocked | uncertain\",
  \"confidence\": 0.0,
  \"risk\": \"low | medium | high\",
  \"missing_requirements\": [{\"finding\": \"an acceptance criterion not met\", \"evidence\": \"the file, command or output line of the report that shows it\"}],
  \"likely_bugs\": [{\"finding\": \"a probable defect\", \"evidence\": \"the file, command or output line of the report that shows it\"}],
  \"verification_gaps\": [\"what the report claims but does not prove\"],
  \"exact_next_actions\": [\"a concrete fix or check the executor should do next\"],
  \"evidence_used\": [\"the report items you relied on\"],
  \"recommended_route\": \"stop | direct_retry | fusion_review | human\",
  \"handoff_reason\": \"one sentence: why this route\"
}
Rules: confidence is between 0 and 1. Every missing requirement and likely bug must quote or \
name evidence from the report; a concern without evidence is a verification gap, not a bug. \
Route stop only for done with high confidence; direct_retry for concrete, fixable gaps; \
fusion_review for uncertainty, ambiguity or high risk; human when the executor is blocked.";

/// The checker's user message: objective, frozen criteria, the report, extra evidence.
pub fn checker_user(
    objective: &str,
    criteria: &[String],
    report: &Report,
    extra_evidence: Option<&str>,
) -> String {
    let mut text = format!(
        "Objective:\n{objective}\n\nAcceptance criteria (frozen; do not invent others):\n{}\n\n\
         Executor report (evidence; challenge what it claims without proof):\n{}\n",
        bullets(criteria),
        pretty(report)
    );
    if let Some(extra) = extra_evidence.filter(|e| !e.trim().is_empty()) {
        text.push_str(&format!("\nExtra evidence:\n{}\n", extra.trim()));
    }
    text.push_str("\nWrite the JSON check now.");
    text
}

/// The keys of the checker's JSON object, named again when its output could not be used
/// (see [`fusion_core::strict_json::repair_prompt`]).
pub const CHECKER_KEYS: [&str; 10] = [
    "status",
    "confidence",
    "risk",
    "missing_requirements",
    "likely_bugs",
    "verification_gaps",
    "exact_next_actions",
    "evidence_used",
    "recommended_route",
    "handoff_reason",
];

/// The placeholder text of [`CHECKER_SYSTEM`]'s example object, read from the prompt itself: a
/// verdict that repeats it copied the form instead of checking the report.
pub fn checker_template() -> &'static Template {
    static TEMPLATE: LazyLock<Template> =
        LazyLock::new(|| Template::from_prompt(CHECKER_SYSTEM, &[]));
    &TEMPLATE
}

/// The council's prompt for `looped_fuse_review`: the same frozen evidence and the check.
pub fn review_prompt(
    objective: &str,
    criteria: &[String],
    report: &Report,
    check: Option<&Check>,
    question: Option<&str>,
) -> String {
    let question = question.filter(|q| !q.trim().is_empty()).unwrap_or(
        "Is the executor's work actually complete? If it is not, what is the smallest next \
         correction?",
    );
    format!(
        "{question}\n\nObjective:\n{objective}\n\nAcceptance criteria (frozen):\n{}\n\nExecutor \
         report:\n{}\n\nChecker findings:\n{}\n\nReview the same frozen evidence only; do not \
         invent files or commands. Cite evidence for every criticism. Tell hard failures, unmet \
         requirements, verification gaps and polish apart. Say so if the checker overreaches.",
        bullets(criteria),
        pretty(report),
        check.map_or_else(|| "(no check)".to_owned(), pretty),
    )
}

/// The executor's first prompt, from `looped_start`.
pub fn first_prompt(objective: &str, criteria: &[String]) -> String {
    let criteria = if criteria.is_empty() {
        "- (none given: state the concrete acceptance criteria you will work to before building)"
            .to_owned()
    } else {
        bullets(criteria)
    };
    format!(
        "Build objective: {objective}\n\nAcceptance criteria:\n{criteria}\n\nDo the smallest safe \
         step toward them. Then call looped_report with summary, changed_files, tests, \
         test_output, blockers, assumptions, acceptance_status and raw_evidence, and call \
         looped_check_work."
    )
}

/// The executor's next prompt when the checker found a concrete fix.
pub fn retry_prompt(objective: &str, check: &Check) -> String {
    let mut text =
        format!("Continue the build objective: {objective}\n\nFix what the checker found:\n");
    let mut any = false;
    for (title, items) in [
        ("Do next", &check.exact_next_actions),
        ("Missing requirements", &check.missing_requirements),
        ("Likely bugs", &check.likely_bugs),
        ("Unverified", &check.verification_gaps),
    ] {
        if !items.is_empty() {
            any = true;
            text.push_str(&format!("\n{title}:\n{}\n", bullets(items)));
        }
    }
    if !any {
        text.push_str("\n- (the checker named nothing specific; re-verify every criterion)\n");
    }
    text.push_str(
        "\nChange only what these need. Then call looped_report with the files changed, the \
         commands and tests run with their output, and which acceptance criteria are now met, \
         and call looped_check_work.",
    );
    text
}

fn bullets(items: &[String]) -> String {
    if items.is_empty() {
        return "- (none)".to_owned();
    }
    items
        .iter()
        .map(|i| format!("- {}", i.trim()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_carry_the_objective_criteria_and_the_schema_keys() {
        let criteria = vec!["prints --version".to_owned()];
        let report = Report {
            summary: "added the flag".into(),
            ..Report::default()
        };
        let text = checker_user("add --version", &criteria, &report, Some("diff"));
        assert!(text.contains("add --version") && text.contains("- prints --version"));
        assert!(text.contains("added the flag") && text.contains("Extra evidence:\ndiff"));
        for key in [
            "status",
            "confidence",
            "missing_requirements",
            "likely_bugs",
            "verification_gaps",
            "exact_next_actions",
            "evidence_used",
            "recommended_route",
            "handoff_reason",
        ] {
            assert!(CHECKER_SYSTEM.contains(key), "{key}");
        }
        for key in [
            "status",
            "next_prompt",
            "consensus",
            "risk_flags",
            "reasons",
        ] {
            assert!(CONDUCTOR_SYSTEM.contains(key), "{key}");
        }
        assert!(first_prompt("x", &criteria).contains("looped_report"));
        // Every string value of each example is a placeholder (the checker's two `evidence`
        // examples are one).
        assert_eq!(checker_template().len(), 10);
        assert_eq!(conductor_template().len(), 7);
        assert!(view_user(LoopRole::Sentinel, "x", "s", "Computed health: slow").contains("slow"));
        assert!(!view_user(LoopRole::Critic, "x", "s", "Computed health: slow").contains("slow"));
    }
}
