//! The build/check gate's routing rules, pure and in one place. A check is routed by its
//! status, confidence and risk: done with high confidence → stop; incomplete with a concrete
//! fix → direct retry; uncertain, low confidence or high risk → a council review, then the
//! conductor; blocked → a human. The checker's own recommendation can only escalate the route,
//! never relax it. A `done` from a checker model whose evals show its confidence running ahead of
//! its detection is not trusted to finish a run alone: it goes to review (`distrust_done`).
//! `looped_next` then picks its move from the run's trail.

use super::calibration::CheckerCalibration;
use super::record::{Check, CheckStatus, Risk, Route};
use super::sentinel::Health;
use fusion_core::config::LoopConfig;

/// What the route of a check depends on.
#[derive(Debug, Clone, Copy)]
pub struct CheckFacts {
    pub status: CheckStatus,
    pub confidence: f64,
    pub risk: Risk,
    pub missing_requirements: usize,
    pub likely_bugs: usize,
    pub next_actions: usize,
    /// What the checker recommended, if it said.
    pub checker_route: Option<Route>,
}

/// The route of a check and why.
pub fn route_check(facts: &CheckFacts, config: &LoopConfig) -> (Route, Vec<String>) {
    let confidence = facts.confidence;
    let findings = facts.missing_requirements + facts.likely_bugs;
    let (mut route, reason) = match facts.status {
        CheckStatus::Blocked => (Route::Human, "the executor is blocked".to_owned()),
        CheckStatus::Done if confidence >= config.done_confidence && findings == 0 => (
            Route::Stop,
            format!(
                "done with confidence {confidence:.2} (at least {:.2})",
                config.done_confidence
            ),
        ),
        CheckStatus::Done if findings > 0 => (
            Route::FusionReview,
            format!("done, yet {findings} missing requirement(s) or likely bug(s) remain"),
        ),
        CheckStatus::Done => (
            Route::FusionReview,
            format!(
                "done, but the confidence {confidence:.2} is below {:.2}",
                config.done_confidence
            ),
        ),
        CheckStatus::Incomplete if facts.next_actions == 0 => (
            Route::FusionReview,
            "incomplete, and the checker named no concrete fix".to_owned(),
        ),
        CheckStatus::Incomplete if confidence < config.retry_confidence => (
            Route::FusionReview,
            format!(
                "incomplete, but the confidence {confidence:.2} is below {:.2}",
                config.retry_confidence
            ),
        ),
        CheckStatus::Incomplete => (
            Route::DirectRetry,
            format!(
                "incomplete with {} concrete next action(s)",
                facts.next_actions
            ),
        ),
        CheckStatus::Uncertain => (Route::FusionReview, "the checker is uncertain".to_owned()),
    };
    let mut reasons = vec![reason];
    if facts.risk == Risk::High && route < Route::FusionReview {
        route = Route::FusionReview;
        reasons.push("the change is high risk".to_owned());
    }
    if let Some(asked) = facts.checker_route
        && asked > route
    {
        route = asked;
        reasons.push(format!("the checker recommended {}", asked.as_str()));
    }
    (route, reasons)
}

/// Sends a check that would stop the run to a council review when its checker's calibration
/// is poor: over at least `loop.calibration_min_fixtures` graded eval fixtures, its mean stated
/// confidence ran `loop.calibration_gap` or more above its mean detection. Says so in the
/// check's route reasons; returns whether it did.
pub fn distrust_done(
    check: &mut Check,
    calibration: Option<&CheckerCalibration>,
    config: &LoopConfig,
) -> bool {
    let Some(calibration) = calibration else {
        return false;
    };
    let poor = calibration.fixtures >= config.calibration_min_fixtures
        && calibration.gap() >= config.calibration_gap;
    if check.status != CheckStatus::Done || check.recommended_route != Route::Stop || !poor {
        return false;
    }
    check.recommended_route = Route::FusionReview;
    check.route_reasons.push(format!(
        "the checker's confidence has run {:.0} points above its detection in evals ({}: \
         confidence {:.2} against detection {:.2} over {} graded fixtures; \
         loop.calibration_gap {:.2})",
        calibration.gap() * 100.0,
        calibration.model,
        calibration.mean_confidence,
        calibration.mean_detection,
        calibration.fixtures,
        config.calibration_gap,
    ));
    true
}

/// What `looped_next` does, given the run's trail.
#[derive(Debug, Clone, PartialEq)]
pub enum NextMove {
    /// No report yet: the first prompt again.
    Start,
    /// The latest report has no check: check it first.
    Check,
    /// The run is complete.
    Complete(String),
    /// A human must look.
    Pause(String),
    /// The executor retries with the checker's concrete fix.
    Retry,
    /// A council reviews first, then the conductor decides.
    Review(Vec<String>),
    /// The conductor decides (the review is held).
    Conduct(Vec<String>),
}

/// What the next move depends on.
#[derive(Debug, Clone, Copy)]
pub struct TrailFacts<'a> {
    pub reports: u32,
    /// The check of the latest report, if it was checked.
    pub check: Option<&'a Check>,
    /// Whether a review of that check is held.
    pub reviewed: bool,
    /// The loop's computed health.
    pub health: Health,
}

/// The next move of the gate.
pub fn next_move(facts: &TrailFacts<'_>, config: &LoopConfig) -> NextMove {
    if facts.reports == 0 {
        return NextMove::Start;
    }
    let Some(check) = facts.check else {
        return NextMove::Check;
    };
    let reason = || {
        let reason = check.handoff_reason.trim();
        if reason.is_empty() {
            check.route_reasons.join("; ")
        } else {
            reason.to_owned()
        }
    };
    match check.recommended_route {
        Route::Stop => return NextMove::Complete(reason()),
        Route::Human => return NextMove::Pause(reason()),
        Route::DirectRetry | Route::FusionReview => {}
    }
    if facts.reports >= config.max_steps {
        return NextMove::Pause(format!(
            "the run has spent its budget of {} reports without completing (loop.max_steps)",
            config.max_steps
        ));
    }
    let mut why = check.route_reasons.clone();
    if check.recommended_route == Route::DirectRetry {
        if facts.health != Health::PossiblyStuck {
            return NextMove::Retry;
        }
        why.push("the loop is possibly stuck, so a retry goes to review instead".to_owned());
    }
    if facts.reviewed {
        NextMove::Conduct(why)
    } else {
        NextMove::Review(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: CheckStatus, confidence: f64) -> CheckFacts {
        CheckFacts {
            status,
            confidence,
            risk: Risk::Low,
            missing_requirements: 0,
            likely_bugs: 0,
            next_actions: 0,
            checker_route: None,
        }
    }

    fn route(f: CheckFacts) -> Route {
        route_check(&f, &LoopConfig::default()).0
    }

    #[test]
    fn done_with_high_confidence_stops_and_anything_less_goes_to_review() {
        assert_eq!(route(facts(CheckStatus::Done, 0.9)), Route::Stop);
        assert_eq!(route(facts(CheckStatus::Done, 0.6)), Route::FusionReview);
        let with_bug = CheckFacts {
            likely_bugs: 1,
            ..facts(CheckStatus::Done, 0.95)
        };
        assert_eq!(route(with_bug), Route::FusionReview);
    }

    #[test]
    fn incomplete_with_a_concrete_fix_retries_directly_otherwise_it_is_reviewed() {
        let fixable = CheckFacts {
            next_actions: 2,
            ..facts(CheckStatus::Incomplete, 0.8)
        };
        assert_eq!(route(fixable), Route::DirectRetry);
        assert_eq!(
            route(facts(CheckStatus::Incomplete, 0.8)),
            Route::FusionReview
        );
        let unsure = CheckFacts {
            next_actions: 2,
            ..facts(CheckStatus::Incomplete, 0.3)
        };
        assert_eq!(route(unsure), Route::FusionReview);
    }

    #[test]
    fn uncertain_and_high_risk_are_reviewed_and_blocked_goes_to_a_human() {
        assert_eq!(
            route(facts(CheckStatus::Uncertain, 0.9)),
            Route::FusionReview
        );
        assert_eq!(route(facts(CheckStatus::Blocked, 0.9)), Route::Human);
        let risky = CheckFacts {
            risk: Risk::High,
            ..facts(CheckStatus::Done, 0.95)
        };
        let (r, reasons) = route_check(&risky, &LoopConfig::default());
        assert_eq!(r, Route::FusionReview);
        assert!(
            reasons.iter().any(|r| r.contains("high risk")),
            "{reasons:?}"
        );
    }

    #[test]
    fn the_checkers_route_escalates_but_never_relaxes() {
        let asks_human = CheckFacts {
            checker_route: Some(Route::Human),
            ..facts(CheckStatus::Done, 0.95)
        };
        assert_eq!(route(asks_human), Route::Human);
        let asks_stop = CheckFacts {
            checker_route: Some(Route::Stop),
            ..facts(CheckStatus::Uncertain, 0.95)
        };
        assert_eq!(route(asks_stop), Route::FusionReview);
    }

    fn check(route: Route) -> Check {
        Check {
            report_seq: 1,
            status: CheckStatus::Incomplete,
            confidence: 0.8,
            risk: Risk::Low,
            missing_requirements: vec![],
            likely_bugs: vec![],
            verification_gaps: vec![],
            exact_next_actions: vec!["fix it".into()],
            evidence_used: vec![],
            recommended_route: route,
            checker_route: None,
            handoff_reason: String::new(),
            route_reasons: vec!["because".into()],
            model: None,
            degradation_reasons: vec![],
            raw_output: None,
        }
    }

    fn calibration(fixtures: u32, confidence: f64, detection: f64) -> CheckerCalibration {
        CheckerCalibration {
            model: "terse".into(),
            fixtures,
            mean_confidence: confidence,
            mean_detection: detection,
        }
    }

    #[test]
    fn a_done_from_a_checker_whose_confidence_outran_its_detection_goes_to_review() {
        let config = LoopConfig::default();
        let done = || Check {
            status: CheckStatus::Done,
            confidence: 1.0,
            exact_next_actions: vec![],
            ..check(Route::Stop)
        };
        let mut overconfident = done();
        assert!(distrust_done(
            &mut overconfident,
            Some(&calibration(8, 1.0, 0.47)),
            &config
        ));
        assert_eq!(overconfident.recommended_route, Route::FusionReview);
        let reason = overconfident.route_reasons.last().unwrap();
        assert!(
            reason.contains(
                "the checker's confidence has run 53 points above its detection in evals"
            ),
            "{reason}"
        );
        assert!(
            matches!(
                next_move(
                    &TrailFacts {
                        reports: 1,
                        check: Some(&overconfident),
                        reviewed: false,
                        health: Health::Healthy
                    },
                    &config
                ),
                NextMove::Review(why) if why.iter().any(|w| w.contains("53 points"))
            ),
            "the gate holds a council review"
        );

        for (calibration, why) in [
            (None, "never measured"),
            (Some(calibration(2, 1.0, 0.0)), "too few fixtures"),
            (Some(calibration(8, 0.9, 0.7)), "a gap under 0.25"),
        ] {
            let mut trusted = done();
            assert!(
                !distrust_done(&mut trusted, calibration.as_ref(), &config),
                "{why}"
            );
            assert_eq!(trusted.recommended_route, Route::Stop, "{why}");
        }
        let mut incomplete = check(Route::DirectRetry);
        assert!(!distrust_done(
            &mut incomplete,
            Some(&calibration(8, 1.0, 0.0)),
            &config
        ));
        assert_eq!(incomplete.recommended_route, Route::DirectRetry);
        let strict = LoopConfig {
            calibration_gap: 0.1,
            calibration_min_fixtures: 1,
            ..LoopConfig::default()
        };
        let mut mild = done();
        assert!(distrust_done(
            &mut mild,
            Some(&calibration(1, 0.9, 0.7)),
            &strict
        ));
    }

    #[test]
    fn next_move_follows_the_trail() {
        let config = LoopConfig::default();
        let trail = |reports, check, reviewed, health| TrailFacts {
            reports,
            check,
            reviewed,
            health,
        };
        assert_eq!(
            next_move(&trail(0, None, false, Health::Healthy), &config),
            NextMove::Start
        );
        assert_eq!(
            next_move(&trail(1, None, false, Health::Healthy), &config),
            NextMove::Check
        );
        let retry = check(Route::DirectRetry);
        assert_eq!(
            next_move(&trail(1, Some(&retry), false, Health::Healthy), &config),
            NextMove::Retry
        );
        assert!(matches!(
            next_move(
                &trail(1, Some(&retry), false, Health::PossiblyStuck),
                &config
            ),
            NextMove::Review(_)
        ));
        let review = check(Route::FusionReview);
        assert!(matches!(
            next_move(&trail(1, Some(&review), true, Health::Healthy), &config),
            NextMove::Conduct(_)
        ));
        assert!(matches!(
            next_move(&trail(config.max_steps, Some(&retry), false, Health::Healthy), &config),
            NextMove::Pause(reason) if reason.contains("max_steps")
        ));
        assert_eq!(
            next_move(
                &trail(2, Some(&check(Route::Stop)), false, Health::Healthy),
                &config
            ),
            NextMove::Complete("because".into())
        );
    }
}
