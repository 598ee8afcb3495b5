//! The loop tools' typed inputs (their JSON Schemas are derived from these), with the
//! argument names of the project Fusion replaces accepted as aliases.

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

/// A report given inline to `looped_check_work` (recorded first, as `looped_report` would).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineReport {
    /// Must be the run being checked, when given.
    #[serde(default, alias = "runId")]
    pub run_id: Option<String>,
    pub summary: String,
    #[serde(default, alias = "changedFiles")]
    pub changed_files: Vec<String>,
    #[serde(default, alias = "tests_run", alias = "testsRun")]
    pub tests: Vec<String>,
    #[serde(default, alias = "testOutput")]
    pub test_output: Option<String>,
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub blockers: Vec<String>,
    #[serde(default)]
    pub assumptions: Vec<String>,
    #[serde(default, alias = "acceptanceStatus")]
    pub acceptance_status: Option<String>,
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
    #[serde(alias = "runId")]
    pub run_id: String,
    /// What to ask the council (default: is the work complete, and if not, the smallest next
    /// correction).
    #[serde(default)]
    pub question: Option<String>,
    /// A council to ask (default: loop.review_council, else the default council).
    #[serde(default)]
    pub council: Option<String>,
}

/// Which run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIdInput {
    /// The run `looped_start` returned.
    #[serde(alias = "runId", alias = "id")]
    pub run_id: String,
}
