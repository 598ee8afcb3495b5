//! The council result contract: the one shape shared by `fusion ask --json`, the HTTP trace
//! field and MCP `structuredContent`. Field names match the project Fusion replaces, plus
//! `timings`, `usage`, `labels` and `notes`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Usage;

/// Whether the council produced an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CouncilStatus {
    Ok,
    Error,
}

/// Everything a council run produced and how.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct CouncilResult {
    pub status: CouncilStatus,
    /// The council that ran.
    pub council: String,
    pub final_answer: String,
    pub analysis: Analysis,
    pub responses: Vec<MemberResponse>,
    pub failed_models: Vec<FailedModel>,
    pub degradation_reasons: Vec<String>,
    /// The judge's text when it was not valid JSON (after the retry, the last attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_judge_output: Option<String>,
    /// Which anonymous label ("Response A", ...) the judge saw for which member.
    pub labels: Vec<LabelAssignment>,
    /// Facts about how the council was assembled (for example a zero-config single model).
    pub notes: Vec<String>,
    pub timings: Timings,
    /// Tokens of every call the council made, summed.
    pub usage: Usage,
    /// Panel members the council stopped waiting for (a quorum answered first, or the panel
    /// deadline passed), and why; absent when nobody was cut.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut: Vec<CutMember>,
}

/// The judge's structured comparison of the panel's answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Analysis {
    #[serde(default)]
    pub consensus: Vec<String>,
    #[serde(default)]
    pub contradictions: Vec<Contradiction>,
    #[serde(default)]
    pub partial_coverage: Vec<PartialCoverage>,
    #[serde(default)]
    pub unique_insights: Vec<UniqueInsight>,
    #[serde(default)]
    pub blind_spots: Vec<String>,
    #[serde(default)]
    pub judge_notes: Vec<String>,
}

/// A topic on which members disagree.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Contradiction {
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub stances: Vec<Stance>,
}

/// One member's position on a contradiction topic.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Stance {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub stance: String,
}

/// A point covered by some members only.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PartialCoverage {
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub point: String,
}

/// Something only one member said.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct UniqueInsight {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub insight: String,
}

/// A panel member's answer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct MemberResponse {
    /// The member's name in this council (the model id, suffixed when a model sits twice).
    pub model: String,
    pub content: String,
    pub latency_ms: u64,
    pub usage: Usage,
}

/// A panel member that gave no answer, and why.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct FailedModel {
    pub model: String,
    pub error: String,
}

/// A panel member the council went on without: its call was cancelled (its upstream request
/// dropped), or, on a panel asked one member after another, never made.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct CutMember {
    /// The member's name in this council.
    pub model: String,
    pub reason: CutReason,
    /// Milliseconds into the panel phase when it was cut.
    pub after_ms: u64,
    /// `true` when its call was running and was cancelled; `false` when it was never asked.
    pub cancelled: bool,
}

/// Why a panel member was cut.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CutReason {
    /// The council's `quorum` of members had answered; it did not need this one. Not a
    /// degradation.
    QuorumReached,
    /// The panel deadline (`timeout`, also spelled `deadline`) passed first. A degradation:
    /// the member is also in `failed_models`.
    Deadline,
}

impl CutReason {
    /// The reason as it is serialized (`quorum_reached`, `deadline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuorumReached => "quorum_reached",
            Self::Deadline => "deadline",
        }
    }
}

/// `m-c: quorum_reached after 412 ms, its call cancelled`.
impl std::fmt::Display for CutMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.cancelled {
            "its call cancelled"
        } else {
            "never asked"
        };
        write!(
            f,
            "{}: {} after {} ms, {how}",
            self.model, self.reason, self.after_ms
        )
    }
}

impl std::fmt::Display for CutReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The anonymous label the judge saw for a member.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct LabelAssignment {
    pub label: String,
    pub model: String,
}

/// Wall-clock time of each phase, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Timings {
    pub panel_ms: u64,
    pub judge_ms: u64,
    pub synthesis_ms: u64,
    pub total_ms: u64,
}
