//! Records the client supplies instead of the server's models: a verdict of the client's own
//! checker and the result of a council the client ran (`looped_next` and `looped_fuse_review`
//! with inline `report`, `check` and `fusion_review`). They join the run's trail as the
//! server's would — the check routed by the gate's own rules — marked as the client's
//! (`model` and `council` are `client`).

use fusion_core::config::LoopConfig;
use fusion_core::store::LoopRecordKind;
use fusion_types::{Analysis, CouncilResult, CouncilStatus, Timings, Usage};

use super::gate::{CheckFacts, route_check};
use super::record::{Check, CheckStatus, Report, Review, Risk, Route, RunStatus};
use super::runs::{LoopRuns, Recorded, invalid};

/// The model of a client's check and the council of a client's review.
pub const CLIENT: &str = "client";

/// The confidence of a client's check that gives none (as for the server's checker).
const DEFAULT_CONFIDENCE: f64 = 0.5;

/// A checker verdict the client supplies.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCheck {
    pub status: CheckStatus,
    /// 0 to 1; none reads as 0.5.
    pub confidence: Option<f64>,
    pub risk: Option<Risk>,
    pub missing_requirements: Vec<String>,
    pub likely_bugs: Vec<String>,
    pub verification_gaps: Vec<String>,
    pub exact_next_actions: Vec<String>,
    pub evidence_used: Vec<String>,
    /// Escalates the gate's route, never relaxes it (as the server's checker's does).
    pub recommended_route: Option<Route>,
    pub handoff_reason: String,
}

impl ClientCheck {
    /// A verdict with no findings.
    pub fn new(status: CheckStatus, confidence: Option<f64>) -> ClientCheck {
        ClientCheck {
            status,
            confidence,
            risk: None,
            missing_requirements: Vec::new(),
            likely_bugs: Vec::new(),
            verification_gaps: Vec::new(),
            exact_next_actions: Vec::new(),
            evidence_used: Vec::new(),
            recommended_route: None,
            handoff_reason: String::new(),
        }
    }

    /// The check of report `report_seq`, routed by the gate's rules. The findings are kept as
    /// given: the client's checker answers for its own evidence.
    pub fn to_check(&self, report_seq: u32, config: &LoopConfig) -> Check {
        let confidence = self.confidence.unwrap_or(DEFAULT_CONFIDENCE);
        let risk = self.risk.unwrap_or_default();
        let facts = CheckFacts {
            status: self.status,
            confidence,
            risk,
            missing_requirements: self.missing_requirements.len(),
            likely_bugs: self.likely_bugs.len(),
            next_actions: self.exact_next_actions.len(),
            checker_route: self.recommended_route,
        };
        let (route, mut route_reasons) = route_check(&facts, config);
        if self.confidence.is_none() {
            route_reasons.push(format!(
                "the client's check gave no confidence; {DEFAULT_CONFIDENCE} was assumed"
            ));
        }
        Check {
            report_seq,
            status: self.status,
            confidence,
            risk,
            missing_requirements: self.missing_requirements.clone(),
            likely_bugs: self.likely_bugs.clone(),
            verification_gaps: self.verification_gaps.clone(),
            exact_next_actions: self.exact_next_actions.clone(),
            evidence_used: self.evidence_used.clone(),
            recommended_route: route,
            checker_route: self.recommended_route,
            handoff_reason: self.handoff_reason.trim().to_owned(),
            route_reasons,
            model: Some(CLIENT.to_owned()),
            degradation_reasons: Vec::new(),
            raw_output: None,
        }
    }
}

/// A council result holding only the final answer of a review the client supplies, saying so
/// in its notes.
pub fn client_council(final_answer: &str) -> CouncilResult {
    CouncilResult {
        status: CouncilStatus::Ok,
        council: CLIENT.to_owned(),
        final_answer: final_answer.to_owned(),
        analysis: Analysis::default(),
        responses: Vec::new(),
        failed_models: Vec::new(),
        degradation_reasons: Vec::new(),
        raw_judge_output: None,
        labels: Vec::new(),
        notes: vec![SUPPLIED_NOTE.to_owned()],
        timings: Timings::default(),
        usage: Usage::default(),
        cut: Vec::new(),
    }
}

/// The note on a council result the client supplied in part.
pub const SUPPLIED_NOTE: &str =
    "supplied by the client with the call; no council ran on this server for it";

/// What a call supplies, recorded in this order before the gate goes on.
#[derive(Debug, Clone, Default)]
pub struct Supplied {
    pub report: Option<Report>,
    pub check: Option<ClientCheck>,
    /// The client's council result (its final answer is the review's).
    pub review: Option<CouncilResult>,
}

impl Supplied {
    pub fn is_empty(&self) -> bool {
        self.report.is_none() && self.check.is_none() && self.review.is_none()
    }
}

impl LoopRuns<'_> {
    /// Records the client's verdict as the check of the latest report.
    pub async fn record_check(
        &self,
        run_id: &str,
        check: &ClientCheck,
    ) -> fusion_core::Result<Recorded<Check>> {
        self.open_run(run_id).await?;
        if let Some(c) = check.confidence
            && !(0.0..=1.0).contains(&c)
        {
            return Err(invalid(&format!(
                "`check.confidence` is {c}; it must be between 0 and 1"
            )));
        }
        let report = self
            .latest::<Report>(run_id, LoopRecordKind::Report)
            .await?
            .ok_or_else(|| {
                invalid(&format!(
                    "loop run `{run_id}` has no report for the check to judge: give `report` \
                     too, or call looped_report first"
                ))
            })?;
        let check = check.to_check(report.seq, &self.config().looped);
        self.append(
            run_id,
            LoopRecordKind::Check,
            &check,
            Some(RunStatus::Checked),
        )
        .await
    }

    /// Records the client's council result as a review (council `client`) of the latest report
    /// and its check, if it has one.
    pub async fn record_review(
        &self,
        run_id: &str,
        fusion: CouncilResult,
    ) -> fusion_core::Result<Recorded<Review>> {
        self.open_run(run_id).await?;
        let report = self
            .latest::<Report>(run_id, LoopRecordKind::Report)
            .await?
            .ok_or_else(|| {
                invalid(&format!(
                    "loop run `{run_id}` has no report for the review: give `report` too, or \
                     call looped_report first"
                ))
            })?;
        let check = self
            .latest::<Check>(run_id, LoopRecordKind::Check)
            .await?
            .filter(|c| c.record.report_seq == report.seq);
        let review = Review {
            report_seq: report.seq,
            check_seq: check.map(|c| c.seq),
            council: CLIENT.to_owned(),
            final_answer: fusion.final_answer.clone(),
            fusion,
        };
        self.append(
            run_id,
            LoopRecordKind::Review,
            &review,
            Some(RunStatus::Reviewed),
        )
        .await
    }

    /// Records what a call supplied — report, check, review, in that order — and says what
    /// was done. A review needs a check of its report to answer: when the latest report has
    /// none, the server's checker checks it first (as `looped_next` would have).
    pub async fn supply(
        &self,
        run_id: &str,
        supplied: Supplied,
    ) -> fusion_core::Result<Vec<String>> {
        let mut steps = Vec::new();
        if let Some(report) = supplied.report {
            let recorded = self.report(run_id, report).await?;
            steps.push(format!(
                "recorded the report given with the call as report {} (looped_report)",
                recorded.seq
            ));
        }
        if let Some(check) = &supplied.check {
            let recorded = self.record_check(run_id, check).await?;
            steps.push(format!(
                "recorded the check given with the call as check {} (model {CLIENT})",
                recorded.seq
            ));
        }
        if let Some(review) = supplied.review {
            if !self.latest_report_checked(run_id).await? {
                self.check(run_id, None, None).await?;
                steps.push(
                    "checked the latest report (looped_check_work) for the review to answer"
                        .to_owned(),
                );
            }
            let recorded = self.record_review(run_id, review).await?;
            steps.push(format!(
                "recorded the review given with the call as review {} (council {CLIENT})",
                recorded.seq
            ));
        }
        Ok(steps)
    }

    /// Whether the latest report has a check (no report: false).
    async fn latest_report_checked(&self, run_id: &str) -> fusion_core::Result<bool> {
        let Some(report) = self
            .latest::<Report>(run_id, LoopRecordKind::Report)
            .await?
        else {
            return Ok(false);
        };
        Ok(self
            .latest::<Check>(run_id, LoopRecordKind::Check)
            .await?
            .is_some_and(|c| c.record.report_seq == report.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_check_done_with_high_confidence_routes_to_stop_and_is_marked_as_the_clients() {
        let config = LoopConfig::default();
        let check = ClientCheck::new(CheckStatus::Done, Some(0.95)).to_check(3, &config);
        assert_eq!(check.report_seq, 3);
        assert_eq!(check.recommended_route, Route::Stop);
        assert_eq!(check.model.as_deref(), Some(CLIENT));
        assert_eq!(check.checker_route, None);
    }

    #[test]
    fn a_client_check_without_a_route_is_routed_like_the_servers_and_its_route_only_escalates() {
        let config = LoopConfig::default();
        let unsure = ClientCheck::new(CheckStatus::Done, None).to_check(1, &config);
        assert_eq!(unsure.confidence, 0.5);
        assert_eq!(unsure.recommended_route, Route::FusionReview);
        assert!(
            unsure.route_reasons.iter().any(|r| r.contains("assumed")),
            "{:?}",
            unsure.route_reasons
        );
        let fixable = ClientCheck {
            exact_next_actions: vec!["rerun the tests".into()],
            ..ClientCheck::new(CheckStatus::Incomplete, Some(0.8))
        };
        assert_eq!(
            fixable.to_check(1, &config).recommended_route,
            Route::DirectRetry
        );
        let asks_stop = ClientCheck {
            recommended_route: Some(Route::Stop),
            ..ClientCheck::new(CheckStatus::Blocked, Some(0.9))
        };
        let check = asks_stop.to_check(1, &config);
        assert_eq!(check.recommended_route, Route::Human);
        assert_eq!(check.checker_route, Some(Route::Stop));
        let asks_human = ClientCheck {
            recommended_route: Some(Route::Human),
            ..ClientCheck::new(CheckStatus::Done, Some(0.95))
        };
        assert_eq!(
            asks_human.to_check(1, &config).recommended_route,
            Route::Human
        );
    }

    #[test]
    fn a_client_council_holds_the_answer_and_says_it_was_supplied() {
        let council = client_council("ship it");
        assert_eq!(council.final_answer, "ship it");
        assert_eq!(council.council, CLIENT);
        assert_eq!(council.status, CouncilStatus::Ok);
        assert_eq!(council.notes, vec![SUPPLIED_NOTE]);
    }
}
