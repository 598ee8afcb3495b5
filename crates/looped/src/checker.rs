//! The checker: one role call that judges a report against the frozen acceptance criteria,
//! read as strict JSON (found and repaired like the judge's; asked once more with the parse
//! error; then a safe `uncertain` check routed to a human, with the reason and the raw output).
//! A verdict that repeats the prompt's example text is treated like one that is not JSON.
//! The evidence rule: a missing requirement or likely bug that cites nothing from the report —
//! a changed file, a test or command, a quote of its output — becomes a verification gap.

use serde_json::{Map, Value};

use super::gate::{CheckFacts, route_check};
use super::json::{Wording, extract_object, items, number, string, strings, text_of};
use super::prompts;
use super::record::{Check, CheckStatus, Report, Risk, Route};
use super::roles::{LoopRole, RoleCaller, RoleConversation, messages};
use fusion_core::config::LoopConfig;
use fusion_core::strict_json::{self, JsonAnswer, Unusable};

/// Shortest quote (in characters, normalised) that counts as evidence from the report's text.
const MIN_QUOTE: usize = 6;
/// Shortest file name or command that counts when a finding names it.
const MIN_ANCHOR: usize = 3;

/// A finding as the checker wrote it: its text and the evidence it cites.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub text: String,
    pub evidence: Vec<String>,
}

/// The checker's JSON, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCheck {
    pub status: CheckStatus,
    pub confidence: Option<f64>,
    pub risk: Option<Risk>,
    pub missing_requirements: Vec<Finding>,
    pub likely_bugs: Vec<Finding>,
    pub verification_gaps: Vec<String>,
    pub exact_next_actions: Vec<String>,
    pub evidence_used: Vec<String>,
    pub recommended_route: Option<Route>,
    pub handoff_reason: String,
}

/// How the checker's unusable answers are told.
const WORDING: Wording = Wording {
    role: "checker",
    malformed: "was not valid JSON",
    noun: "verdict",
};

/// Parses the checker's text, or says why it cannot be used.
pub fn parse_check(text: &str) -> Result<ParsedCheck, String> {
    read_check(text).map_err(|e| e.to_string())
}

/// Parses the checker's text, or says why it cannot be used: not a verdict, or a copy of the
/// prompt's example text.
fn read_check(text: &str) -> Result<ParsedCheck, Unusable> {
    let object = extract_object(text)?;
    prompts::checker_template().check(&object, "the verdict")?;
    let status = match object.get("status").and_then(text_of) {
        Some(status) => CheckStatus::parse(&status).ok_or_else(|| {
            format!("`status` is `{status}`; it must be done, incomplete, blocked or uncertain")
        })?,
        None => return Err("the JSON object has no `status`".to_owned().into()),
    };
    let confidence = number(&object, "confidence")
        .filter(|c| c.is_finite())
        // A percentage ("confidence": 89) reads as 0.89.
        .map(|c| if c > 1.0 && c <= 100.0 { c / 100.0 } else { c })
        .map(|c| c.clamp(0.0, 1.0));
    Ok(ParsedCheck {
        status,
        confidence,
        risk: object
            .get("risk")
            .and_then(text_of)
            .and_then(|r| Risk::parse(&r)),
        missing_requirements: findings(&object, "missing_requirements"),
        likely_bugs: findings(&object, "likely_bugs"),
        verification_gaps: strings(&object, "verification_gaps"),
        exact_next_actions: strings(&object, "exact_next_actions"),
        evidence_used: strings(&object, "evidence_used"),
        recommended_route: object
            .get("recommended_route")
            .and_then(text_of)
            .and_then(|r| Route::parse(&r)),
        handoff_reason: string(&object, "handoff_reason"),
    })
}

fn findings(object: &Map<String, Value>, key: &str) -> Vec<Finding> {
    items(object, key)
        .iter()
        .filter_map(|item| match item {
            Value::Object(map) => {
                let text = [
                    "finding",
                    "issue",
                    "requirement",
                    "bug",
                    "text",
                    "description",
                ]
                .iter()
                .find_map(|k| map.get(*k).and_then(text_of))?;
                let evidence = ["evidence", "evidence_used", "citation", "cites", "source"]
                    .iter()
                    .flat_map(|k| strings(map, k))
                    .collect();
                Some(Finding { text, evidence })
            }
            other => text_of(other).map(|text| Finding {
                text,
                evidence: Vec::new(),
            }),
        })
        .collect()
}

/// What a finding may cite: the report's files, tests and commands by name, and its text.
pub struct EvidenceBase {
    anchors: Vec<String>,
    corpus: String,
}

impl EvidenceBase {
    pub fn new(report: &Report, extra_evidence: Option<&str>) -> EvidenceBase {
        let mut anchors = Vec::new();
        for file in &report.changed_files {
            anchors.push(normalise(file));
            if let Some(name) = std::path::Path::new(file).file_name() {
                anchors.push(normalise(&name.to_string_lossy()));
            }
        }
        anchors.extend(
            report
                .tests
                .iter()
                .chain(&report.commands)
                .map(|c| normalise(c)),
        );
        anchors.retain(|a| a.chars().count() >= MIN_ANCHOR);
        let corpus = [
            report.summary.as_str(),
            &report.test_output,
            &report.acceptance_status,
            &report.raw_evidence,
            &report.blockers.join("\n"),
            &report.assumptions.join("\n"),
            &report.changed_files.join("\n"),
            &report.tests.join("\n"),
            &report.commands.join("\n"),
            extra_evidence.unwrap_or(""),
        ]
        .iter()
        .map(|t| normalise(t))
        .collect::<Vec<_>>()
        .join("\n");
        EvidenceBase { anchors, corpus }
    }

    /// The evidence of `finding` found in the report, if any.
    pub fn cited(&self, finding: &Finding) -> Option<String> {
        let explicit = !finding.evidence.is_empty();
        let candidates: Vec<&String> = if explicit {
            finding.evidence.iter().collect()
        } else {
            vec![&finding.text]
        };
        candidates.into_iter().find_map(|candidate| {
            let text = normalise(candidate);
            let names_anchor = self.anchors.iter().any(|a| text.contains(a.as_str()));
            // An explicit citation may be a quote of the report itself.
            let is_quote =
                explicit && text.chars().count() >= MIN_QUOTE && self.corpus.contains(&text);
            let quotes = quoted(candidate).into_iter().any(|q| {
                let q = normalise(&q);
                q.chars().count() >= MIN_QUOTE && self.corpus.contains(&q)
            });
            (names_anchor || is_quote || quotes).then(|| candidate.clone())
        })
    }
}

/// Lowercase, whitespace collapsed.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The fragments of `text` between matching quote marks (`"`, `'`, `` ` ``).
fn quoted(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for mark in ['"', '`', '\''] {
        let parts: Vec<&str> = text.split(mark).collect();
        out.extend(
            parts
                .iter()
                .skip(1)
                .step_by(2)
                .take(parts.len().saturating_sub(1) / 2)
                .map(|p| (*p).to_owned()),
        );
    }
    out
}

/// The evidence rule: findings that cite the report are kept (their evidence joins
/// `evidence_used`); the others become verification gaps.
fn apply_evidence_rule(parsed: &ParsedCheck, base: &EvidenceBase) -> EvidenceOutcome {
    let mut outcome = EvidenceOutcome {
        evidence_used: parsed.evidence_used.clone(),
        verification_gaps: parsed.verification_gaps.clone(),
        ..EvidenceOutcome::default()
    };
    for (findings, kept) in [
        (
            &parsed.missing_requirements,
            &mut outcome.missing_requirements,
        ),
        (&parsed.likely_bugs, &mut outcome.likely_bugs),
    ] {
        for finding in findings {
            match base.cited(finding) {
                Some(evidence) => {
                    kept.push(finding.text.clone());
                    if !outcome.evidence_used.contains(&evidence) {
                        outcome.evidence_used.push(evidence);
                    }
                }
                None => {
                    outcome.verification_gaps.push(format!(
                        "unverified (cites no evidence from the report): {}",
                        finding.text
                    ));
                    outcome.demoted += 1;
                }
            }
        }
    }
    outcome
}

#[derive(Debug, Default)]
struct EvidenceOutcome {
    missing_requirements: Vec<String>,
    likely_bugs: Vec<String>,
    verification_gaps: Vec<String>,
    evidence_used: Vec<String>,
    demoted: usize,
}

/// A check built from the checker's JSON, the evidence rule and the gate's routing.
pub fn build_check(
    parsed: &ParsedCheck,
    report: &Report,
    report_seq: u32,
    extra_evidence: Option<&str>,
    config: &LoopConfig,
) -> Check {
    let outcome = apply_evidence_rule(parsed, &EvidenceBase::new(report, extra_evidence));
    let confidence = parsed.confidence.unwrap_or(0.5);
    let risk = parsed.risk.unwrap_or_default();
    let facts = CheckFacts {
        status: parsed.status,
        confidence,
        risk,
        missing_requirements: outcome.missing_requirements.len(),
        likely_bugs: outcome.likely_bugs.len(),
        next_actions: parsed.exact_next_actions.len(),
        checker_route: parsed.recommended_route,
    };
    let (route, mut route_reasons) = route_check(&facts, config);
    if parsed.confidence.is_none() {
        route_reasons.push("the checker gave no confidence; 0.5 was assumed".to_owned());
    }
    if outcome.demoted > 0 {
        route_reasons.push(format!(
            "{} finding(s) cited no evidence from the report and became verification gaps",
            outcome.demoted
        ));
    }
    Check {
        report_seq,
        status: parsed.status,
        confidence,
        risk,
        missing_requirements: outcome.missing_requirements,
        likely_bugs: outcome.likely_bugs,
        verification_gaps: outcome.verification_gaps,
        exact_next_actions: parsed.exact_next_actions.clone(),
        evidence_used: outcome.evidence_used,
        recommended_route: route,
        checker_route: parsed.recommended_route,
        handoff_reason: parsed.handoff_reason.clone(),
        route_reasons,
        model: None,
        degradation_reasons: Vec::new(),
        raw_output: None,
    }
}

/// The safe check when the checker gave nothing usable: uncertain, routed to a human.
pub fn fallback_check(report_seq: u32, reason: String, raw_output: Option<String>) -> Check {
    Check {
        report_seq,
        status: CheckStatus::Uncertain,
        confidence: 0.0,
        risk: Risk::default(),
        missing_requirements: Vec::new(),
        likely_bugs: Vec::new(),
        verification_gaps: vec!["the checker gave no usable verdict on this report".to_owned()],
        exact_next_actions: Vec::new(),
        evidence_used: Vec::new(),
        recommended_route: Route::Human,
        checker_route: None,
        handoff_reason: reason.clone(),
        route_reasons: vec![reason.clone()],
        model: None,
        degradation_reasons: vec![reason],
        raw_output,
    }
}

/// What the checker is asked about.
pub struct CheckInput<'a> {
    pub objective: &'a str,
    pub criteria: &'a [String],
    pub report: &'a Report,
    pub report_seq: u32,
    pub extra_evidence: Option<&'a str>,
}

/// Asks the checker role about a report. Never fails: a checker that cannot be asked, or whose
/// output is not JSON even after one retry, gives the safe fallback check.
pub async fn check(caller: &RoleCaller<'_>, input: &CheckInput<'_>) -> Check {
    let mut checker = RoleConversation::new(*caller, LoopRole::Checker);
    let conversation = messages(
        prompts::CHECKER_SYSTEM,
        prompts::checker_user(
            input.objective,
            input.criteria,
            input.report,
            input.extra_evidence,
        ),
    );
    let answer = strict_json::ask(
        &mut checker,
        conversation,
        &prompts::CHECKER_KEYS,
        read_check,
    )
    .await;
    let model = checker.target().map(ToString::to_string);
    let mut degradations: Vec<String> = checker
        .failures()
        .iter()
        .map(|f| format!("checker fell back past {f}"))
        .collect();
    let built = |parsed: &ParsedCheck, degradations: Vec<String>| {
        let mut check = build_check(
            parsed,
            input.report,
            input.report_seq,
            input.extra_evidence,
            &caller.config.looped,
        );
        check.model = model.clone();
        check.degradation_reasons = degradations;
        check
    };
    let (reason, raw) = match answer {
        JsonAnswer::Parsed(parsed) => return built(&parsed, degradations),
        JsonAnswer::Repaired { value, first_error } => {
            degradations.push(WORDING.repaired(&first_error));
            return built(&value, degradations);
        }
        JsonAnswer::NotAsked(failures) => {
            let reason = format!(
                "the checker could not be asked ({failures}); a human should check this report"
            );
            return fallback_check(input.report_seq, reason, None);
        }
        JsonAnswer::Unparsable {
            first_error,
            error,
            raw,
        } => (
            format!(
                "{}; a human should check this report",
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
                "{}; a human should check this report",
                WORDING.retry_failed(&first_error, &error)
            ),
            raw,
        ),
    };
    let mut check = fallback_check(input.report_seq, reason, Some(raw));
    degradations.append(&mut check.degradation_reasons);
    check.degradation_reasons = degradations;
    check.model = model;
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            summary: "Added --version to the CLI".into(),
            changed_files: vec!["src/cli.rs".into()],
            tests: vec!["cargo test version".into()],
            test_output: "test version_flag ... FAILED\nexpected 0.1.0".into(),
            ..Report::default()
        }
    }

    #[test]
    fn parses_strict_json_inside_prose_and_reads_percent_confidence() {
        let parsed = parse_check(
            "Here you go:\n```json\n{\"status\": \"done\", \"confidence\": 89, \
             \"recommended_route\": \"stop\", \"likely_bugs\": [], \"evidence_used\": [\"x\"]}\n```",
        )
        .unwrap();
        assert_eq!(parsed.status, CheckStatus::Done);
        assert_eq!(parsed.confidence, Some(0.89));
        assert_eq!(parsed.recommended_route, Some(Route::Stop));
    }

    #[test]
    fn output_without_json_or_a_valid_status_is_refused_with_the_reason() {
        assert!(
            parse_check("looks fine to me")
                .unwrap_err()
                .contains("no JSON")
        );
        assert!(
            parse_check("{\"confidence\": 1}")
                .unwrap_err()
                .contains("status")
        );
        let err = parse_check("{\"status\": \"great\"}").unwrap_err();
        assert!(err.contains("great"), "{err}");
    }

    /// The example object of the checker's prompt, as the prompt shows it.
    fn prompt_example() -> &'static str {
        let prompt = prompts::CHECKER_SYSTEM;
        &prompt[prompt.find('{').unwrap()..=prompt.rfind('}').unwrap()]
    }

    #[test]
    fn the_prompts_own_example_returned_as_is_is_not_a_verdict() {
        let Err(Unusable::Template(why)) = read_check(prompt_example()) else {
            panic!("the example was read as a verdict");
        };
        assert!(
            why.starts_with("the verdict repeats the prompt's example text (status, "),
            "{why}"
        );
        assert!(parse_check(prompt_example()).is_err());
    }

    #[test]
    fn a_real_status_around_echoed_findings_is_not_a_verdict() {
        let text = r#"{"status": "incomplete", "confidence": 0.6,
            "likely_bugs": [{"finding": "A probable defect.",
                             "evidence": "the file, command or output line of the report that shows it"}],
            "handoff_reason": "the version test fails"}"#;
        let Err(Unusable::Template(why)) = read_check(text) else {
            panic!("echoed findings were read as a verdict");
        };
        assert!(
            why.contains("(likely_bugs[0].evidence, likely_bugs[0].finding)"),
            "{why}"
        );
    }

    #[test]
    fn short_real_verdicts_are_accepted() {
        for text in [
            r#"{"status": "done", "confidence": 0.9, "risk": "low", "recommended_route": "stop"}"#,
            r#"{"status": "incomplete", "verification_gaps": ["no test output"],
                "exact_next_actions": ["run cargo test"], "handoff_reason": "tests not run"}"#,
        ] {
            assert!(read_check(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn findings_citing_a_file_test_or_quote_are_kept_and_the_rest_become_gaps() {
        let parsed = parse_check(
            r#"{"status": "incomplete", "confidence": 0.8,
                "likely_bugs": [
                  {"finding": "the flag prints the wrong version", "evidence": "test version_flag ... FAILED"},
                  {"finding": "argument parsing breaks", "evidence": "src/cli.rs"},
                  "the build may fail on Windows",
                  {"finding": "race in the cache", "evidence": "cache.rs line 40"}
                ],
                "missing_requirements": ["`cargo test version` is failing"],
                "exact_next_actions": ["fix the version string"]}"#,
        )
        .unwrap();
        let check = build_check(&parsed, &report(), 1, None, &LoopConfig::default());
        assert_eq!(
            check.likely_bugs,
            vec![
                "the flag prints the wrong version",
                "argument parsing breaks"
            ]
        );
        assert_eq!(
            check.missing_requirements,
            vec!["`cargo test version` is failing"]
        );
        assert_eq!(
            check.verification_gaps.len(),
            2,
            "{:?}",
            check.verification_gaps
        );
        assert!(check.verification_gaps[0].contains("Windows"));
        assert!(check.verification_gaps[1].contains("race in the cache"));
        assert!(check.evidence_used.iter().any(|e| e == "src/cli.rs"));
        assert_eq!(check.recommended_route, Route::DirectRetry);
        assert!(
            check
                .route_reasons
                .iter()
                .any(|r| r.contains("2 finding(s)"))
        );
    }

    #[test]
    fn extra_evidence_counts_as_the_reports() {
        let finding = Finding {
            text: "panics on empty input".into(),
            evidence: vec!["thread 'main' panicked at parse".into()],
        };
        assert!(EvidenceBase::new(&report(), None).cited(&finding).is_none());
        let base = EvidenceBase::new(&report(), Some("thread 'main' panicked at parse.rs:3"));
        assert!(base.cited(&finding).is_some());
    }

    #[test]
    fn the_fallback_check_is_uncertain_and_goes_to_a_human() {
        let check = fallback_check(3, "no JSON".into(), Some("raw".into()));
        assert_eq!(check.status, CheckStatus::Uncertain);
        assert_eq!(check.recommended_route, Route::Human);
        assert_eq!(check.raw_output.as_deref(), Some("raw"));
        assert_eq!(check.handoff_reason, "no JSON");
    }
}
