//! The loop tools' typed inputs (their JSON Schemas are derived from these), with the
//! argument names of the project Fusion replaces accepted as aliases.

use fusion_types::{
    Analysis, CouncilStatus, CutMember, FailedModel, LabelAssignment, MemberResponse, Timings,
    Usage,
};
use schemars::JsonSchema;
use serde::Deserialize;

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

/// A report given inline to `looped_check_work`, `looped_fuse_review` or `looped_next`
/// (recorded first, as `looped_report` would). Fields take their camelCase spelling too.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineReport {
    /// Must be the call's run, when given (also `runId`).
    #[serde(default, alias = "runId")]
    pub run_id: Option<String>,
    /// What was done in this step.
    pub summary: String,
    /// Also `changedFiles`.
    #[serde(default, alias = "changedFiles")]
    pub changed_files: Vec<String>,
    /// Tests (or test commands) run (also `tests_run`, `testsRun`).
    #[serde(default, alias = "tests_run", alias = "testsRun")]
    pub tests: Vec<String>,
    /// Also `testOutput`.
    #[serde(default, alias = "testOutput")]
    pub test_output: Option<String>,
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub blockers: Vec<String>,
    #[serde(default)]
    pub assumptions: Vec<String>,
    /// Also `acceptanceStatus`.
    #[serde(default, alias = "acceptanceStatus")]
    pub acceptance_status: Option<String>,
    /// Also `rawEvidence`.
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
    /// The run `looped_start` returned (also `runId`).
    #[serde(alias = "runId")]
    pub run_id: String,
    /// What to ask the council (default: is the work complete, and if not, the smallest next
    /// correction).
    #[serde(default)]
    pub question: Option<String>,
    /// A council to ask (default: loop.review_council, else the default council).
    #[serde(default)]
    pub council: Option<String>,
    /// A report to record first, instead of calling looped_report.
    #[serde(default)]
    pub report: Option<InlineReport>,
    /// Your own checker's verdict on the latest report, recorded as its check before the
    /// council reviews (instead of calling looped_check_work).
    #[serde(default)]
    pub check: Option<InlineCheck>,
}

/// Which run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIdInput {
    /// The run `looped_start` returned (also `runId`).
    #[serde(alias = "runId", alias = "id")]
    pub run_id: String,
}

/// Which run, with the step's evidence given inline: recorded in the order report, check,
/// review before the gate decides (instead of separate looped_report, looped_check_work and
/// looped_fuse_review calls).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NextInput {
    /// The run `looped_start` returned (also `runId`).
    #[serde(alias = "runId", alias = "id")]
    pub run_id: String,
    /// A report to record first.
    #[serde(default)]
    pub report: Option<InlineReport>,
    /// Your own checker's verdict on the latest report, recorded as its check.
    #[serde(default)]
    pub check: Option<InlineCheck>,
    /// A council review you ran (for example fusion_ask's structured result), recorded as the
    /// review of the latest report's check (council `client`). Also `fusionReview`.
    #[serde(default, alias = "fusionReview")]
    pub fusion_review: Option<InlineReview>,
}

/// A checker's verdict supplied by the client. Each field also takes its camelCase spelling.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineCheck {
    /// done, incomplete, blocked or uncertain.
    #[schemars(extend("enum" = ["done", "incomplete", "blocked", "uncertain"]))]
    pub status: String,
    /// 0 to 1 (default 0.5).
    #[serde(default)]
    pub confidence: Option<f64>,
    /// low, medium or high (default medium).
    #[serde(default)]
    #[schemars(extend("enum" = ["low", "medium", "high", null]))]
    pub risk: Option<String>,
    /// Also `missingRequirements`.
    #[serde(default, alias = "missingRequirements")]
    pub missing_requirements: Vec<String>,
    /// Also `likelyBugs`.
    #[serde(default, alias = "likelyBugs")]
    pub likely_bugs: Vec<String>,
    /// Also `verificationGaps`.
    #[serde(default, alias = "verificationGaps")]
    pub verification_gaps: Vec<String>,
    /// Also `exactNextActions`.
    #[serde(default, alias = "exactNextActions")]
    pub exact_next_actions: Vec<String>,
    /// Also `evidenceUsed`.
    #[serde(default, alias = "evidenceUsed")]
    pub evidence_used: Vec<String>,
    /// stop, direct_retry, fusion_review or human (also `recommendedRoute`). Default: routed
    /// by the gate's rules from status, confidence, risk and findings; a route given only
    /// escalates that, never relaxes it.
    #[serde(default, alias = "recommendedRoute")]
    #[schemars(extend("enum" = ["stop", "direct_retry", "fusion_review", "human", null]))]
    pub recommended_route: Option<String>,
    /// Also `handoffReason`.
    #[serde(default, alias = "handoffReason")]
    pub handoff_reason: Option<String>,
}

/// A council review supplied by the client: a whole council result (fusion_ask's structured
/// content) is kept as it is; a partial one — at least its final answer — is completed with
/// empty parts and a note that the client supplied it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineReview {
    /// The review's conclusion (also `finalAnswer` or `answer`).
    #[serde(alias = "finalAnswer", alias = "answer")]
    pub final_answer: String,
    /// ok or error.
    #[serde(default)]
    pub status: Option<CouncilStatus>,
    /// The council that ran.
    #[serde(default)]
    pub council: Option<String>,
    /// The judge's comparison (consensus, contradictions, ...).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub analysis: Option<Analysis>,
    /// The panel's answers (model, content, latency_ms, usage).
    #[serde(default)]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub responses: Option<Vec<MemberResponse>>,
    /// Also `failedModels`.
    #[serde(default, alias = "failedModels")]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub failed_models: Option<Vec<FailedModel>>,
    /// Also `degradationReasons`.
    #[serde(default, alias = "degradationReasons")]
    pub degradation_reasons: Option<Vec<String>>,
    /// Also `rawJudgeOutput`.
    #[serde(default, alias = "rawJudgeOutput")]
    pub raw_judge_output: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub labels: Option<Vec<LabelAssignment>>,
    #[serde(default)]
    pub notes: Option<Vec<String>>,
    /// Milliseconds per phase (panel_ms, judge_ms, synthesis_ms, total_ms).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub timings: Option<Timings>,
    /// Tokens (prompt_tokens, completion_tokens, total_tokens).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub usage: Option<Usage>,
    /// Panel members the council went on without (model, reason, after_ms, cancelled).
    #[serde(default)]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub cut: Option<Vec<CutMember>>,
}
