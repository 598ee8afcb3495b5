//! The eval's four arms, each asked about the same evidence (a fixture's objective, frozen
//! criteria and report): the loop's own checker (`fusion_looped::check_report` — its prompt,
//! parser and evidence rule), a single reviewer, a council of diverse members, and a council
//! with the reviewer's model in every seat. The reviewer and both councils get the loop's
//! council-review prompt with a question that asks for the defects as a list. Every call goes
//! through the provider registry (councils through `council::run`).

use std::time::Instant;

use fusion_core::config::{Config, CouncilConfig};
use fusion_core::council;
use fusion_core::providers::ProviderRegistry;
use fusion_looped::prompts;
use fusion_types::{ChatMessage, ChatRequest, CouncilStatus, Role};
use serde::Serialize;

use super::fixtures::Fixture;
use super::grade::{NO_ISSUES, count_findings};

/// One arm of the eval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The loop checker's prompt and parser.
    Checker,
    /// One model with the review prompt.
    Reviewer,
    /// The configured council (diverse members).
    Council,
    /// The same council with the reviewer's model in every seat.
    UniformCouncil,
}

impl Arm {
    pub const ALL: [Arm; 4] = [
        Self::Checker,
        Self::Reviewer,
        Self::Council,
        Self::UniformCouncil,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checker => "checker",
            Self::Reviewer => "reviewer",
            Self::Council => "council",
            Self::UniformCouncil => "uniform_council",
        }
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The question the reviewer and the councils are asked, in the loop's review prompt.
pub fn review_question() -> String {
    format!(
        "Review this build report for defects: bugs, security holes, missing error handling, \
         and tests that prove less than they claim. The report may look complete; look for \
         what it hides. List each defect on its own line starting with `- `, naming the file \
         or line of the report that shows it. If you find no defect, answer exactly \
         `{NO_ISSUES}`."
    )
}

/// Who plays each arm.
#[derive(Debug, Clone)]
pub struct ArmSetup {
    /// A model id, or `council:NAME` (as `[loop.roles] checker` takes it).
    pub checker: String,
    pub reviewer: String,
    pub council_name: String,
    pub council: CouncilConfig,
    /// The council with the reviewer's model in every seat.
    pub uniform: CouncilConfig,
}

impl ArmSetup {
    /// The name an arm's results carry as their model.
    pub fn label(&self, arm: Arm) -> String {
        match arm {
            Arm::Checker => self.checker.clone(),
            Arm::Reviewer => self.reviewer.clone(),
            Arm::Council => format!("council:{}", self.council_name),
            Arm::UniformCouncil => format!(
                "council:uniform({}×{})",
                self.reviewer,
                self.uniform.panel.len()
            ),
        }
    }
}

/// `council` with `model` in every seat: its panel (same size, same system prompts), its judge
/// and its synthesizer.
pub fn uniform_council(council: &CouncilConfig, model: &str) -> CouncilConfig {
    let mut uniform = council.clone();
    for member in uniform
        .panel
        .iter_mut()
        .chain(std::iter::once(&mut uniform.judge))
        .chain(uniform.synthesizer.as_mut())
    {
        member.model = model.to_owned();
        member.name = None;
    }
    uniform.notes.push(format!(
        "the council eval's one-model council: {model} in every seat"
    ));
    uniform
}

/// What an arm said about a fixture.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArmOutput {
    /// The text graded: the checker's findings fields, the reviewer's answer, the council's
    /// final answer.
    pub text: String,
    /// Findings raised (list items; the checker's findings fields).
    pub findings: u32,
    /// The confidence the arm stated (the checker's, when its JSON was usable).
    pub stated_confidence: Option<f64>,
    /// The checker's status.
    pub verdict: Option<String>,
    /// The arm gave no answer: why.
    pub error: Option<String>,
    pub latency_ms: u64,
    pub output_tokens: u64,
    /// Degradations on the way (a member failed, output that was not JSON, ...).
    pub notes: Vec<String>,
}

/// Asks `arm` about `fixture`. Never fails: a call that failed is the output's `error`.
pub async fn run_arm(
    registry: &ProviderRegistry,
    config: &Config,
    setup: &ArmSetup,
    arm: Arm,
    fixture: &Fixture,
) -> ArmOutput {
    let started = Instant::now();
    let prompt = prompts::review_prompt(
        &fixture.objective,
        &fixture.acceptance_criteria,
        &fixture.report,
        None,
        Some(&review_question()),
    );
    let mut output = match arm {
        Arm::Checker => checker(registry, config, &setup.checker, fixture).await,
        Arm::Reviewer => reviewer(registry, &setup.reviewer, &prompt).await,
        Arm::Council => council_arm(registry, &setup.council_name, &setup.council, &prompt).await,
        Arm::UniformCouncil => council_arm(registry, "uniform", &setup.uniform, &prompt).await,
    };
    if output.latency_ms == 0 {
        output.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    }
    output
}

async fn checker(
    registry: &ProviderRegistry,
    config: &Config,
    checker: &str,
    fixture: &Fixture,
) -> ArmOutput {
    let check = fusion_looped::check_report(
        registry,
        config,
        checker,
        &fixture.objective,
        &fixture.acceptance_criteria,
        &fixture.report,
    )
    .await;
    if check.model.is_none() {
        return ArmOutput {
            error: Some(check.handoff_reason),
            notes: check.degradation_reasons,
            ..ArmOutput::default()
        };
    }
    let findings: Vec<&String> = check
        .missing_requirements
        .iter()
        .chain(&check.likely_bugs)
        .chain(&check.verification_gaps)
        .collect();
    ArmOutput {
        text: findings
            .iter()
            .map(|f| format!("- {f}"))
            .collect::<Vec<_>>()
            .join("\n"),
        findings: u32::try_from(findings.len()).unwrap_or(u32::MAX),
        // A check that fell back (output that was not JSON) stated nothing.
        stated_confidence: check.raw_output.is_none().then_some(check.confidence),
        verdict: Some(check.status.as_str().to_owned()),
        error: None,
        latency_ms: 0,
        output_tokens: 0,
        notes: check.degradation_reasons,
    }
}

async fn reviewer(registry: &ProviderRegistry, model: &str, prompt: &str) -> ArmOutput {
    let request = ChatRequest {
        model: model.to_owned(),
        messages: vec![ChatMessage::text(Role::User, prompt)],
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    match registry.chat(model, request).await {
        Ok(completion) => {
            let text = completion.text();
            ArmOutput {
                findings: count_findings(&text),
                text,
                latency_ms: completion.latency_ms,
                output_tokens: completion.usage.completion_tokens,
                ..ArmOutput::default()
            }
        }
        Err(err) => ArmOutput {
            error: Some(format!("{model}: {err}")),
            ..ArmOutput::default()
        },
    }
}

async fn council_arm(
    registry: &ProviderRegistry,
    name: &str,
    council: &CouncilConfig,
    prompt: &str,
) -> ArmOutput {
    let result = council::run(registry, name, council, prompt, None).await;
    if result.status == CouncilStatus::Error || result.final_answer.trim().is_empty() {
        return ArmOutput {
            error: Some(format!(
                "council `{name}` gave no answer: {}",
                result.degradation_reasons.join("; ")
            )),
            notes: result.degradation_reasons,
            ..ArmOutput::default()
        };
    }
    ArmOutput {
        findings: count_findings(&result.final_answer),
        text: result.final_answer,
        latency_ms: result.timings.total_ms,
        output_tokens: result.usage.completion_tokens,
        notes: result.degradation_reasons,
        ..ArmOutput::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusion_core::config::MemberConfig;

    #[test]
    fn the_uniform_council_keeps_the_seats_and_their_prompts_with_one_model() {
        let member = |model: &str, system: Option<&str>| MemberConfig {
            model: model.into(),
            name: Some(format!("{model}-seat")),
            system: system.map(Into::into),
            ..MemberConfig::default()
        };
        let council = CouncilConfig {
            parallel: true,
            timeout: std::time::Duration::from_secs(60),
            quorum: None,
            panel: vec![
                member("a", Some("skeptic")),
                member("b", None),
                member("c", None),
            ],
            judge: member("j", None),
            synthesizer: Some(member("s", None)),
            notes: vec![],
        };
        let uniform = uniform_council(&council, "r");
        assert_eq!(uniform.panel.len(), 3);
        assert!(
            uniform
                .panel
                .iter()
                .all(|m| m.model == "r" && m.name.is_none())
        );
        assert_eq!(uniform.panel[0].system.as_deref(), Some("skeptic"));
        assert_eq!(uniform.judge.model, "r");
        assert_eq!(uniform.synthesizer.unwrap().model, "r");
        assert!(uniform.notes[0].contains("r in every seat"));
    }
}
