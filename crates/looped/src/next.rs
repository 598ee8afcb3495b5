//! `looped_next`: what comes next for a run — complete, a pause for a human, a direct retry
//! with the checker's fix, or the conductor's one bounded prompt after a council review. The
//! gate's rules (`gate::next_move`) pick the move from the run's trail, after recording what
//! the call supplied (a report, the client's check and review); the checks and reviews a move
//! needs are held on the way, and the decision joins the trail.

use serde::Serialize;

use super::client::Supplied;
use super::conductor;
use super::gate::{NextMove, TrailFacts, next_move};
use super::prompts;
use super::record::{Decision, DecisionStatus, Route, RunStatus};
use super::runs::{LoopRun, LoopRuns, Trail, invalid};
use fusion_core::store::LoopRecordKind;

/// What `looped_next` answers: the decision and where it is kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Next {
    pub run_id: String,
    pub decision_seq: u32,
    #[serde(flatten)]
    pub decision: Decision,
    /// The gate checked or reviewed on the way (the latest report had no check, or the route
    /// needed a review that was not held yet).
    pub steps_taken: Vec<String>,
}

impl LoopRuns<'_> {
    /// What comes next: complete, a pause for a human, or one bounded next prompt. Checks the
    /// latest report first if it has no check, and holds the review a route needs. A complete
    /// run answers with its completing decision again.
    pub async fn next(&self, run_id: &str) -> fusion_core::Result<Next> {
        self.next_with(run_id, Supplied::default()).await
    }

    /// [`LoopRuns::next`] after recording what the call supplied (the report, the client's
    /// check, the client's review: [`LoopRuns::supply`]); the gate reads those records as it
    /// reads the server's. A complete run answers its completing decision and records nothing.
    pub async fn next_with(&self, run_id: &str, supplied: Supplied) -> fusion_core::Result<Next> {
        let run = self.run(run_id).await?;
        if run.status == RunStatus::Complete
            && let Some(done) = self
                .latest::<Decision>(run_id, LoopRecordKind::Decision)
                .await?
                .filter(|d| d.record.status == DecisionStatus::Complete)
        {
            let mut steps_taken = vec!["the run was already complete".to_owned()];
            if !supplied.is_empty() {
                steps_taken.push("what the call supplied was not recorded".to_owned());
            }
            return Ok(Next {
                run_id: run.run_id,
                decision_seq: done.seq,
                decision: done.record,
                steps_taken,
            });
        }
        let mut steps = self.supply(run_id, supplied).await?;
        for _ in 0..4 {
            let trail = self.trail(&run).await?;
            let facts = TrailFacts {
                reports: u32::try_from(trail.reports.len()).unwrap_or(u32::MAX),
                check: trail.check.as_ref().map(|c| &c.record),
                reviewed: trail.review.is_some(),
                health: trail.health.verdict,
            };
            let decision = match next_move(&facts, &self.config().looped) {
                NextMove::Check => {
                    self.check(run_id, None, None).await?;
                    steps.push("checked the latest report (looped_check_work)".to_owned());
                    continue;
                }
                NextMove::Review(_) => {
                    self.review(run_id, None, None).await?;
                    steps.push("held a council review (looped_fuse_review)".to_owned());
                    continue;
                }
                NextMove::Start => {
                    let mut d = Decision::by_gate(
                        DecisionStatus::Continue,
                        Route::DirectRetry,
                        "no report has been recorded yet: run the first prompt".to_owned(),
                    );
                    d.route = None;
                    d.next_prompt = run.first_prompt.clone();
                    d
                }
                NextMove::Complete(reason) => {
                    Decision::by_gate(DecisionStatus::Complete, Route::Stop, reason)
                }
                NextMove::Pause(reason) => {
                    Decision::by_gate(DecisionStatus::PauseForHuman, Route::Human, reason)
                }
                NextMove::Retry => self.retry_decision(&run, &trail),
                NextMove::Conduct(why) => self.conduct(&run, &trail, why).await,
            };
            return self.decide(&run, &trail, decision, steps).await;
        }
        Err(invalid(&format!(
            "loop run `{run_id}` changed while deciding (another process is working on it); \
             call looped_next again"
        )))
    }

    fn retry_decision(&self, run: &LoopRun, trail: &Trail) -> Decision {
        let mut decision =
            Decision::by_gate(DecisionStatus::Continue, Route::DirectRetry, String::new());
        if let Some(check) = &trail.check {
            decision.next_prompt = prompts::retry_prompt(&run.objective, &check.record);
            decision.reasons = check.record.route_reasons.clone();
            decision.risk_flags = check.record.likely_bugs.clone();
            decision.evidence_required = vec![
                "the files changed".to_owned(),
                "the commands and tests run, with their output".to_owned(),
                "which acceptance criteria are now met".to_owned(),
            ];
        }
        decision
    }

    async fn conduct(&self, run: &LoopRun, trail: &Trail, why: Vec<String>) -> Decision {
        let (Some(report), Some(check)) = (trail.reports.last(), &trail.check) else {
            return conductor::fallback_decision(
                "the gate has no checked report to conduct on".to_owned(),
                None,
            );
        };
        let review = trail.review.as_ref().map(|r| {
            let analysis =
                serde_json::to_string_pretty(&r.record.fusion.analysis).unwrap_or_default();
            format!(
                "Council `{}` final answer:\n{}\n\nAnalysis:\n{analysis}",
                r.record.council, r.record.final_answer
            )
        });
        let user = prompts::conductor_gate_user(
            &run.objective,
            &run.acceptance_criteria,
            &report.record,
            &check.record,
            review.as_deref(),
            &trail.health.describe(),
        );
        let mut decision = conductor::conduct(&self.roles, user).await;
        decision.route = Some(Route::FusionReview);
        if decision.reasons.is_empty() {
            decision.reasons = why;
        }
        decision
    }

    /// Records `decision` for the run's latest records and moves the run's status.
    async fn decide(
        &self,
        run: &LoopRun,
        trail: &Trail,
        mut decision: Decision,
        steps_taken: Vec<String>,
    ) -> fusion_core::Result<Next> {
        decision.report_seq = trail.reports.last().map(|r| r.seq);
        decision.check_seq = trail.check.as_ref().map(|c| c.seq);
        decision.review_seq = trail.review.as_ref().map(|r| r.seq);
        decision.health.get_or_insert_with(|| trail.health.clone());
        // The first prompt again leaves a fresh run as it was.
        let status = (!trail.reports.is_empty()).then(|| decision.status.run_status());
        let recorded = self
            .append(&run.run_id, LoopRecordKind::Decision, &decision, status)
            .await?;
        tracing::info!(run = %run.run_id, status = decision.status.as_str(), "loop decision");
        Ok(Next {
            run_id: run.run_id.clone(),
            decision_seq: recorded.seq,
            decision: recorded.record,
            steps_taken,
        })
    }
}
