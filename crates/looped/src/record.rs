//! The loop checker's vocabulary and records: a run's status, the executor's report, the
//! checker's check, a council review and a decision — the documents kept in a run's trail and
//! returned by the gate's tools, with the field names of the project Fusion replaces.

use fusion_types::CouncilResult;
use serde::{Deserialize, Serialize};

use super::sentinel::HealthReport;

/// Where a run is: what the gate last did with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started; no report yet.
    Started,
    /// The latest report has not been checked.
    Reported,
    /// The latest report was checked.
    Checked,
    /// A council reviewed the latest check.
    Reviewed,
    /// The executor has a next prompt.
    Continue,
    /// The executor should split the work.
    Split,
    /// The loop looks stuck; the next prompt narrows it.
    PossiblyStuck,
    /// A human must look before the loop goes on.
    PauseForHuman,
    /// Done: the acceptance criteria are met. A complete run takes no more work.
    Complete,
}

impl RunStatus {
    pub const ALL: [RunStatus; 9] = [
        Self::Started,
        Self::Reported,
        Self::Checked,
        Self::Reviewed,
        Self::Continue,
        Self::Split,
        Self::PossiblyStuck,
        Self::PauseForHuman,
        Self::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Reported => "reported",
            Self::Checked => "checked",
            Self::Reviewed => "reviewed",
            Self::Continue => "continue",
            Self::Split => "split",
            Self::PossiblyStuck => "possibly_stuck",
            Self::PauseForHuman => "pause_for_human",
            Self::Complete => "complete",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The conductor's (or the gate's) decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionStatus {
    Continue,
    Split,
    PauseForHuman,
    PossiblyStuck,
    Complete,
}

impl DecisionStatus {
    pub const ALL: [DecisionStatus; 5] = [
        Self::Continue,
        Self::Split,
        Self::PauseForHuman,
        Self::PossiblyStuck,
        Self::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        self.run_status().as_str()
    }

    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The run status a decision leaves the run in.
    pub fn run_status(self) -> RunStatus {
        match self {
            Self::Continue => RunStatus::Continue,
            Self::Split => RunStatus::Split,
            Self::PauseForHuman => RunStatus::PauseForHuman,
            Self::PossiblyStuck => RunStatus::PossiblyStuck,
            Self::Complete => RunStatus::Complete,
        }
    }

    /// Whether the executor gets a next prompt to run.
    pub fn needs_prompt(self) -> bool {
        matches!(self, Self::Continue | Self::Split | Self::PossiblyStuck)
    }
}

/// The checker's verdict on a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Done,
    Incomplete,
    Blocked,
    Uncertain,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Incomplete => "incomplete",
            Self::Blocked => "blocked",
            Self::Uncertain => "uncertain",
        }
    }

    /// Lenient: `complete` reads as done, `partial` as incomplete.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "done" | "complete" | "completed" => Some(Self::Done),
            "incomplete" | "partial" | "not_done" | "in_progress" => Some(Self::Incomplete),
            "blocked" => Some(Self::Blocked),
            "uncertain" | "unknown" | "unclear" => Some(Self::Uncertain),
            _ => None,
        }
    }
}

/// Where the gate sends a checked report, least to most escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Done: the run completes.
    Stop,
    /// A concrete fix: the executor retries with it.
    DirectRetry,
    /// Uncertain, low confidence or high risk: a council reviews, then the conductor decides.
    FusionReview,
    /// Blocked: a human must look.
    Human,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::DirectRetry => "direct_retry",
            Self::FusionReview => "fusion_review",
            Self::Human => "human",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "stop" | "complete" => Some(Self::Stop),
            "direct_retry" | "retry" => Some(Self::DirectRetry),
            "fusion_review" | "review" | "council" => Some(Self::FusionReview),
            "human" | "pause_for_human" => Some(Self::Human),
            _ => None,
        }
    }
}

/// How risky the checker thinks the change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    #[default]
    Medium,
    High,
}

impl Risk {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "medium" | "moderate" => Some(Self::Medium),
            "high" | "critical" => Some(Self::High),
            _ => None,
        }
    }
}

/// What the executor reports after a step (`looped_report`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// What was done.
    pub summary: String,
    pub changed_files: Vec<String>,
    /// Tests (or test commands) run.
    pub tests: Vec<String>,
    /// Their relevant output.
    pub test_output: String,
    /// Other commands run (build, lint, ...).
    pub commands: Vec<String>,
    pub blockers: Vec<String>,
    pub assumptions: Vec<String>,
    /// Which acceptance criteria are satisfied, and which are still unverified.
    pub acceptance_status: String,
    /// Diffs, logs or notes that back the report.
    pub raw_evidence: String,
}

/// The checker's verdict on one report (`looped_check_work`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The report checked.
    pub report_seq: u32,
    pub status: CheckStatus,
    /// 0 to 1.
    pub confidence: f64,
    pub risk: Risk,
    pub missing_requirements: Vec<String>,
    pub likely_bugs: Vec<String>,
    /// What the report does not prove, including every finding that cited no evidence.
    pub verification_gaps: Vec<String>,
    pub exact_next_actions: Vec<String>,
    /// The report's evidence the findings rest on.
    pub evidence_used: Vec<String>,
    /// Where the gate sends this report (the gate's rules; never less escalated than what the
    /// checker itself recommended).
    pub recommended_route: Route,
    /// What the checker recommended, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker_route: Option<Route>,
    pub handoff_reason: String,
    /// Why the gate chose `recommended_route`.
    pub route_reasons: Vec<String>,
    /// The model (or `council:NAME`) that checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What went wrong on the way (a failed model, output that was not JSON), if anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degradation_reasons: Vec<String>,
    /// The checker's text when it was not usable JSON (the last attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_output: Option<String>,
}

/// A council's review of a report and its check (`looped_fuse_review`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub report_seq: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_seq: Option<u32>,
    pub council: String,
    /// The council's final answer.
    pub final_answer: String,
    /// The whole council result (analysis, responses, degradation reasons, ...).
    pub fusion: CouncilResult,
}

/// Who made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionSource {
    /// The gate's rules alone (complete, direct retry, pause), no model call.
    Gate,
    /// The conductor model.
    Conductor,
    /// The conductor gave nothing usable: the safe decision.
    Fallback,
}

/// One role's view in a deliberation round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// "explorer", "builder", "critic", "sentinel".
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub content: String,
    /// Why the role's models gave no view, when they did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What comes next for the executor (`looped_next`, `fusion loop`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub status: DecisionStatus,
    /// The gate route that led here (none for a deliberation round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// The one bounded prompt for the executor; empty when complete or paused.
    pub next_prompt: String,
    pub consensus: Vec<String>,
    pub risk_flags: Vec<String>,
    pub reasons: Vec<String>,
    #[serde(default)]
    pub evidence_required: Vec<String>,
    #[serde(default)]
    pub stop_condition: String,
    pub source: DecisionSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_seq: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_seq: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_seq: Option<u32>,
    /// The conductor's model (or `council:NAME`), when one was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The loop's health as the Performance Sentinel saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthReport>,
    /// The role views the conductor read (deliberation rounds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<View>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degradation_reasons: Vec<String>,
    /// The conductor's text when it was not usable JSON (the last attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_output: Option<String>,
}

impl Decision {
    /// A decision of the gate's own rules, with no prompt.
    pub fn by_gate(status: DecisionStatus, route: Route, reason: String) -> Decision {
        Decision {
            status,
            route: Some(route),
            next_prompt: String::new(),
            consensus: Vec::new(),
            risk_flags: Vec::new(),
            reasons: vec![reason],
            evidence_required: Vec::new(),
            stop_condition: String::new(),
            source: DecisionSource::Gate,
            report_seq: None,
            check_seq: None,
            review_seq: None,
            model: None,
            health: None,
            views: Vec::new(),
            degradation_reasons: Vec::new(),
            raw_output: None,
        }
    }

    /// The reasons as one sentence list, for text output.
    pub fn reason(&self) -> String {
        self.reasons.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_routes_round_trip_and_read_leniently() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        for status in DecisionStatus::ALL {
            assert_eq!(DecisionStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(
            DecisionStatus::parse("Pause for human"),
            Some(DecisionStatus::PauseForHuman)
        );
        assert_eq!(CheckStatus::parse("Complete"), Some(CheckStatus::Done));
        assert_eq!(Route::parse("fusion-review"), Some(Route::FusionReview));
        assert!(Route::Stop < Route::DirectRetry && Route::FusionReview < Route::Human);
        assert_eq!(Risk::parse("critical"), Some(Risk::High));
    }
}
