//! What a council eval found, summed up: each arm on each fixture graded ([`Graded`]), the
//! detection rate per arm and per fixture, the findings each arm raised on the clean control
//! (over-flagging), and the checker's stated confidence against its detection (calibration).
//! The result rows the store keeps are built here too, so the gate's calibration
//! (`fusion_looped::Calibrations`) reads exactly what the report shows.

use std::collections::BTreeMap;

use fusion_core::store::BenchResultRow;
use fusion_looped::{Calibrations, EVAL_COUNCIL_SUITE, REVIEW_CATEGORY, ReviewDetail};
use serde::Serialize;

use super::arms::Arm;

/// Longest output kept per result (in the JSON report and the store), in characters.
pub const MAX_KEPT_OUTPUT: usize = 8_000;

/// One arm on one fixture, graded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graded {
    pub arm: Arm,
    /// Who played the arm (a model id, or `council:NAME`).
    pub model: String,
    pub fixture: String,
    pub control: bool,
    pub issues_total: u32,
    /// The issues found, by the grading that counts: the model grader's when it answered,
    /// else the keyword rules'.
    pub found: Vec<String>,
    pub keyword_found: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grader_found: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grader_error: Option<String>,
    /// Findings the arm raised (on the control, every one is over-flagging).
    pub findings: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stated_confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The arm gave no answer: why (the result is left out of every rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
    pub output_tokens: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What was graded, cut at [`MAX_KEPT_OUTPUT`] characters.
    pub output: String,
}

impl Graded {
    /// Issues found of those planted, for an answered fixture with issues.
    pub fn detection(&self) -> Option<f64> {
        (self.error.is_none() && self.issues_total > 0)
            .then(|| found_count(self) as f64 / f64::from(self.issues_total))
    }

    /// The result row the store keeps: the detection rate as its score (on the control, 1
    /// when it raised nothing and 0 when it over-flagged).
    pub fn to_row(&self, run_id: &str, created_ms: i64) -> BenchResultRow {
        let score = match (self.control, self.detection()) {
            (true, _) => f64::from(u8::from(self.findings == 0)),
            (false, Some(detection)) => detection,
            (false, None) => 0.0,
        };
        let calibration = ReviewDetail {
            arm: self.arm.as_str().to_owned(),
            fixture: self.fixture.clone(),
            stated_confidence: self.stated_confidence,
            issues_found: found_count(self),
            issues_total: self.issues_total,
        };
        let mut detail = serde_json::to_value(&calibration).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut detail {
            map.insert("control".into(), self.control.into());
            map.insert("findings".into(), self.findings.into());
            map.insert("found".into(), self.found.clone().into());
            map.insert("keyword_found".into(), self.keyword_found.clone().into());
            if let Some(found) = &self.grader_found {
                map.insert("grader_found".into(), found.clone().into());
            }
            if let Some(verdict) = &self.verdict {
                map.insert("verdict".into(), verdict.clone().into());
            }
        }
        BenchResultRow {
            run_id: run_id.to_owned(),
            task_id: format!("{}/{}", self.arm, self.fixture),
            model: self.model.clone(),
            attempt: 1,
            suite: EVAL_COUNCIL_SUITE.to_owned(),
            category: REVIEW_CATEGORY.to_owned(),
            score,
            latency_ms: self.latency_ms,
            output_tokens: self.output_tokens,
            cost_usd: 0.0,
            error: self.error.clone(),
            detail: Some(detail),
            created_ms,
        }
    }
}

fn found_count(graded: &Graded) -> u32 {
    u32::try_from(graded.found.len())
        .unwrap_or(u32::MAX)
        .min(graded.issues_total)
}

/// One arm over every fixture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmSummary {
    pub arm: Arm,
    pub model: String,
    /// Issues found over the fixtures the arm answered, of the issues they hide.
    pub issues_found: u32,
    pub issues_total: u32,
    /// `issues_found / issues_total` (none when it answered no fixture with issues).
    pub detection_rate: Option<f64>,
    /// Findings raised on the clean control(s) it answered: over-flagging.
    pub control_findings: u32,
    /// Fixtures the arm gave no answer on.
    pub failed: u32,
}

/// One fixture across the arms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixtureRow {
    pub fixture: String,
    pub control: bool,
    pub issues: u32,
    /// Per arm: issues found (for the control, findings raised); none when the arm failed.
    pub by_arm: BTreeMap<Arm, Option<u32>>,
}

/// The checker's stated confidence against its detection on one fixture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationPoint {
    pub fixture: String,
    pub stated_confidence: f64,
    pub detection: f64,
}

/// The checker's calibration in this eval (what the gate will read for its model).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub model: String,
    pub fixtures: Vec<CalibrationPoint>,
    pub mean_confidence: f64,
    pub mean_detection: f64,
    /// `mean_confidence - mean_detection`.
    pub gap: f64,
}

/// The whole eval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// The `bench_runs` row that keeps it (none when nothing was stored).
    pub run_id: Option<String>,
    /// `keywords`, or `model:NAME` (keywords when the grader could not answer).
    pub graded_by: String,
    pub models: BTreeMap<Arm, String>,
    pub fixtures: u32,
    pub controls: u32,
    pub issues: u32,
    pub arms: Vec<ArmSummary>,
    pub per_fixture: Vec<FixtureRow>,
    pub calibration: Option<Calibration>,
    pub results: Vec<Graded>,
}

impl EvalReport {
    /// Sums up `results` (in fixture order, then arm order).
    pub fn new(
        run_id: Option<String>,
        graded_by: String,
        models: BTreeMap<Arm, String>,
        results: Vec<Graded>,
    ) -> EvalReport {
        let mut per_fixture: Vec<FixtureRow> = Vec::new();
        for result in &results {
            let at = match per_fixture.iter().position(|f| f.fixture == result.fixture) {
                Some(at) => at,
                None => {
                    per_fixture.push(FixtureRow {
                        fixture: result.fixture.clone(),
                        control: result.control,
                        issues: result.issues_total,
                        by_arm: BTreeMap::new(),
                    });
                    per_fixture.len() - 1
                }
            };
            let value = result.error.is_none().then(|| {
                if result.control {
                    result.findings
                } else {
                    found_count(result)
                }
            });
            per_fixture[at].by_arm.insert(result.arm, value);
        }
        let arms = Arm::ALL
            .iter()
            .filter(|arm| results.iter().any(|r| r.arm == **arm))
            .map(|arm| summarize_arm(*arm, &models, &results))
            .collect();
        let calibration = calibration(&results);
        EvalReport {
            run_id,
            graded_by,
            fixtures: count(per_fixture.iter().filter(|f| !f.control)),
            controls: count(per_fixture.iter().filter(|f| f.control)),
            issues: per_fixture.iter().map(|f| f.issues).sum(),
            models,
            arms,
            per_fixture,
            calibration,
            results,
        }
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

fn summarize_arm(arm: Arm, models: &BTreeMap<Arm, String>, results: &[Graded]) -> ArmSummary {
    let mine: Vec<&Graded> = results.iter().filter(|r| r.arm == arm).collect();
    let answered = || mine.iter().filter(|r| r.error.is_none());
    let issues_found = answered()
        .filter(|r| !r.control)
        .map(|r| found_count(r))
        .sum();
    let issues_total: u32 = answered()
        .filter(|r| !r.control)
        .map(|r| r.issues_total)
        .sum();
    ArmSummary {
        arm,
        model: models.get(&arm).cloned().unwrap_or_default(),
        issues_found,
        issues_total,
        detection_rate: (issues_total > 0)
            .then(|| f64::from(issues_found) / f64::from(issues_total)),
        control_findings: answered().filter(|r| r.control).map(|r| r.findings).sum(),
        failed: count(mine.iter().filter(|r| r.error.is_some())),
    }
}

/// The checker arm's calibration, computed as the gate computes it from the stored rows.
fn calibration(results: &[Graded]) -> Option<Calibration> {
    let checker: Vec<&Graded> = results.iter().filter(|r| r.arm == Arm::Checker).collect();
    let model = checker.first()?.model.clone();
    let rows: Vec<BenchResultRow> = checker.iter().map(|r| r.to_row("this", 0)).collect();
    let measured = Calibrations::from_results(&rows).get(&model)?.clone();
    let fixtures = checker
        .iter()
        .filter_map(|r| {
            Some(CalibrationPoint {
                fixture: r.fixture.clone(),
                stated_confidence: r.stated_confidence?,
                detection: r.detection()?,
            })
        })
        .collect();
    Some(Calibration {
        model,
        fixtures,
        mean_confidence: measured.mean_confidence,
        mean_detection: measured.mean_detection,
        gap: measured.gap(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graded(arm: Arm, fixture: &str, found: &[&str], total: u32) -> Graded {
        Graded {
            arm,
            model: format!("{arm}-model"),
            fixture: fixture.into(),
            control: total == 0,
            issues_total: total,
            found: found.iter().map(|s| (*s).to_owned()).collect(),
            keyword_found: found.iter().map(|s| (*s).to_owned()).collect(),
            grader_found: None,
            grader_error: None,
            findings: u32::try_from(found.len()).unwrap(),
            stated_confidence: (arm == Arm::Checker).then_some(1.0),
            verdict: None,
            error: None,
            latency_ms: 1,
            output_tokens: 1,
            notes: vec![],
            output: String::new(),
        }
    }

    #[test]
    fn rates_per_arm_and_fixture_leave_failures_out_and_count_control_findings() {
        let mut failed = graded(Arm::Reviewer, "b", &[], 1);
        failed.error = Some("timeout".into());
        let mut flagged = graded(Arm::Council, "control", &[], 0);
        flagged.findings = 2;
        let results = vec![
            graded(Arm::Checker, "a", &[], 2),
            graded(Arm::Reviewer, "a", &["x"], 2),
            graded(Arm::Council, "a", &["x", "y"], 2),
            graded(Arm::Checker, "b", &["z"], 1),
            failed,
            graded(Arm::Council, "b", &["z"], 1),
            graded(Arm::Checker, "control", &[], 0),
            graded(Arm::Reviewer, "control", &[], 0),
            flagged,
        ];
        let models = Arm::ALL
            .iter()
            .map(|a| (*a, format!("{a}-model")))
            .collect();
        let report = EvalReport::new(None, "keywords".into(), models, results);
        assert_eq!((report.fixtures, report.controls, report.issues), (2, 1, 3));
        let arm = |a: Arm| report.arms.iter().find(|s| s.arm == a).unwrap();
        assert_eq!(arm(Arm::Checker).detection_rate, Some(1.0 / 3.0));
        assert_eq!(
            (
                arm(Arm::Reviewer).issues_found,
                arm(Arm::Reviewer).issues_total
            ),
            (1, 2),
            "the failed fixture is left out"
        );
        assert_eq!(arm(Arm::Reviewer).failed, 1);
        assert_eq!(arm(Arm::Council).detection_rate, Some(1.0));
        assert_eq!(arm(Arm::Council).control_findings, 2);
        assert_eq!(report.per_fixture[1].by_arm[&Arm::Reviewer], None);
        assert_eq!(report.per_fixture[2].by_arm[&Arm::Council], Some(2));
        let calibration = report.calibration.unwrap();
        assert_eq!(calibration.fixtures.len(), 2, "the control is not graded");
        assert_eq!(calibration.mean_confidence, 1.0);
        assert_eq!(calibration.mean_detection, 0.5);
        assert_eq!(calibration.gap, 0.5);
    }

    #[test]
    fn stored_rows_score_detection_and_a_silent_control() {
        assert_eq!(Arm::Checker.as_str(), fusion_looped::CHECKER_ARM);
        let row = graded(Arm::Reviewer, "a", &["x"], 2).to_row("run", 5);
        assert_eq!((row.task_id.as_str(), row.score), ("reviewer/a", 0.5));
        assert_eq!(row.suite, EVAL_COUNCIL_SUITE);
        assert_eq!(row.category, REVIEW_CATEGORY);
        let detail = row.detail.unwrap();
        assert_eq!(detail["arm"], "reviewer");
        assert_eq!(detail["issues_found"], 1);
        assert_eq!(detail["keyword_found"][0], "x");
        assert_eq!(
            graded(Arm::Council, "c", &[], 0).to_row("run", 5).score,
            1.0
        );
        let mut flagged = graded(Arm::Council, "c", &[], 0);
        flagged.findings = 1;
        assert_eq!(flagged.to_row("run", 5).score, 0.0);
    }
}
