//! The checker's calibration: how far its stated confidence runs above what it actually finds.
//! `fusion eval council` measures it — it asks the loop's own checker ([`check_report`]) about
//! build reports with planted issues and writes one `bench_results` row per arm × fixture
//! (suite [`EVAL_COUNCIL_SUITE`], category [`REVIEW_CATEGORY`], the detail a [`ReviewDetail`]).
//! This module owns that row's shape and reads it back per checker model ([`Calibrations`]);
//! the gate (`gate::distrust_done`) sends an over-confident checker's `done` to review.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checker::{self, CheckInput};
use super::gate;
use super::record::{Check, CheckStatus, Report, Route};
use super::roles::RoleCaller;
use super::runs::LoopRuns;
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{BenchResultRow, Store};

/// The `suites` of a council eval's `bench_runs` row and the `suite` of its results.
pub const EVAL_COUNCIL_SUITE: &str = "eval:council";
/// The `category` of a council eval's results.
pub const REVIEW_CATEGORY: &str = "review";
/// The arm whose rows are the checker's calibration.
pub const CHECKER_ARM: &str = "checker";
/// How many council evals, newest first, make a checker's history.
const EVALS_READ: u32 = 50;

/// What a council eval records of one arm on one fixture (the `detail` of its result row;
/// the eval may add fields of its own beside these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewDetail {
    /// `checker`, `reviewer`, `council` or `uniform_council`.
    pub arm: String,
    pub fixture: String,
    /// The confidence the arm stated (the checker's), when it stated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stated_confidence: Option<f64>,
    /// Planted issues the arm found, of `issues_total` (0 on the clean control).
    pub issues_found: u32,
    pub issues_total: u32,
}

/// One checker model's calibration over the graded fixtures of its evals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckerCalibration {
    pub model: String,
    /// Fixtures with planted issues that were graded with a stated confidence.
    pub fixtures: u32,
    pub mean_confidence: f64,
    pub mean_detection: f64,
}

impl CheckerCalibration {
    /// Mean stated confidence minus mean detection: positive when the checker claims more
    /// than it finds.
    pub fn gap(&self) -> f64 {
        self.mean_confidence - self.mean_detection
    }
}

/// The calibration of every checker model the evals measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calibrations {
    by_model: BTreeMap<String, CheckerCalibration>,
}

impl Calibrations {
    /// From council eval results: the checker arm's answered rows on fixtures with planted
    /// issues and a stated confidence; every other row is left out.
    pub fn from_results(rows: &[BenchResultRow]) -> Calibrations {
        let mut sums: BTreeMap<&str, (u32, f64, f64)> = BTreeMap::new();
        for row in rows {
            if row.suite != EVAL_COUNCIL_SUITE || row.error.is_some() {
                continue;
            }
            let Some(detail) = row
                .detail
                .as_ref()
                .and_then(|d| serde_json::from_value::<ReviewDetail>(d.clone()).ok())
            else {
                continue;
            };
            let Some(confidence) = detail.stated_confidence.filter(|c| c.is_finite()) else {
                continue;
            };
            if detail.arm != CHECKER_ARM || detail.issues_total == 0 {
                continue;
            }
            let detection = f64::from(detail.issues_found.min(detail.issues_total))
                / f64::from(detail.issues_total);
            let entry = sums.entry(row.model.as_str()).or_default();
            entry.0 += 1;
            entry.1 += confidence.clamp(0.0, 1.0);
            entry.2 += detection;
        }
        let by_model = sums
            .into_iter()
            .map(|(model, (n, confidence, detection))| {
                let calibration = CheckerCalibration {
                    model: model.to_owned(),
                    fixtures: n,
                    mean_confidence: confidence / f64::from(n),
                    mean_detection: detection / f64::from(n),
                };
                (model.to_owned(), calibration)
            })
            .collect();
        Calibrations { by_model }
    }

    /// The calibration of the council evals in the store: the newest [`EVALS_READ`] of them,
    /// read in one query.
    pub async fn load(store: &Store) -> fusion_core::Result<Calibrations> {
        let rows = store
            .bench_results_of_suite(EVAL_COUNCIL_SUITE, EVALS_READ)
            .await?;
        Ok(Calibrations::from_results(&rows))
    }

    /// The calibration of `model`, if the evals measured it.
    pub fn get(&self, model: &str) -> Option<&CheckerCalibration> {
        self.by_model.get(model)
    }

    /// Every measured checker model, by name.
    pub fn iter(&self) -> impl Iterator<Item = &CheckerCalibration> {
        self.by_model.values()
    }
}

/// Asks the loop's checker — its prompt, parser, evidence rule and routing — about a report
/// outside any run, with `checker` (a model id or `council:NAME`) in the role: the evals'
/// checker arm. Never fails, as the loop's check does not: a checker that could not be asked
/// gives the fallback check without a `model`.
pub async fn check_report(
    registry: &ProviderRegistry,
    config: &Config,
    checker: &str,
    objective: &str,
    criteria: &[String],
    report: &Report,
) -> Check {
    let mut config = config.clone();
    config.looped.roles.checker = vec![checker.to_owned()];
    let caller = RoleCaller::new(registry, &config);
    let input = CheckInput {
        objective,
        criteria,
        report,
        report_seq: 1,
        extra_evidence: None,
    };
    checker::check(&caller, &input).await
}

impl LoopRuns<'_> {
    /// Reads the checkers' calibration from the store when `check` would stop the run, and
    /// sends it to review instead when its model's evals say its confidence runs ahead of its
    /// detection (see `gate::distrust_done`). Other checks read nothing.
    pub(super) async fn apply_calibration(&self, check: &mut Check) -> fusion_core::Result<()> {
        let Some(model) = check.model.clone() else {
            return Ok(());
        };
        if check.status != CheckStatus::Done || check.recommended_route != Route::Stop {
            return Ok(());
        }
        let calibrations = Calibrations::load(self.store()).await?;
        gate::distrust_done(check, calibrations.get(&model), &self.config().looped);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(
        model: &str,
        arm: &str,
        confidence: Option<f64>,
        found: u32,
        total: u32,
    ) -> BenchResultRow {
        BenchResultRow {
            run_id: "eval".into(),
            task_id: format!("{arm}/f{found}{total}"),
            model: model.into(),
            attempt: 1,
            suite: EVAL_COUNCIL_SUITE.into(),
            category: REVIEW_CATEGORY.into(),
            score: 0.0,
            latency_ms: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            error: None,
            detail: Some(json!({
                "arm": arm, "fixture": "f", "stated_confidence": confidence,
                "issues_found": found, "issues_total": total, "extra": "kept apart"
            })),
            created_ms: 0,
        }
    }

    #[test]
    fn the_checker_arms_rows_with_issues_and_a_confidence_make_its_calibration() {
        let mut failed = row("m", CHECKER_ARM, Some(1.0), 2, 2);
        failed.error = Some("timeout".into());
        let mut other_suite = row("m", CHECKER_ARM, Some(1.0), 2, 2);
        other_suite.suite = "code".into();
        let rows = vec![
            row("m", CHECKER_ARM, Some(1.0), 1, 2),
            row("m", CHECKER_ARM, Some(0.9), 0, 1),
            row("m", CHECKER_ARM, Some(1.0), 0, 0),
            row("m", CHECKER_ARM, None, 1, 1),
            row("m", "reviewer", Some(0.2), 1, 1),
            row("other", CHECKER_ARM, Some(0.5), 1, 2),
            failed,
            other_suite,
        ];
        let calibrations = Calibrations::from_results(&rows);
        let m = calibrations.get("m").unwrap();
        assert_eq!(
            m.fixtures, 2,
            "control, unstated, reviewer and failed rows left out"
        );
        assert!((m.mean_confidence - 0.95).abs() < 1e-9);
        assert!((m.mean_detection - 0.25).abs() < 1e-9);
        assert!((m.gap() - 0.70).abs() < 1e-9);
        assert_eq!(calibrations.get("other").unwrap().fixtures, 1);
        assert_eq!(calibrations.iter().count(), 2);
        assert!(calibrations.get("nobody").is_none());
    }
}
