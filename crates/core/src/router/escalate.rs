//! Escalation to a council (`[router.escalate]`): once the single models are ranked, a task
//! none of them can take because of its quality — or any task above `above_complexity` — goes
//! to the configured council (`fusion/<council>`), when the council's rating meets the task's
//! required quality, at least one panel member is routable and its expected cost stays within
//! `max_cost_usd` (default `router.cost_threshold`). Otherwise the decision stands and its
//! summary says why the council was not taken.
//!
//! **Price**: the sum of the council's expected calls, each priced like a single model's call
//! ([`cost_usd`]): every panel member answers the task (its output capped by the seat's
//! `max_tokens`), the judge reads the task and every answer ([`JUDGE_PROMPT_TOKENS`] of
//! instructions) and writes an analysis of about [`JUDGE_OUTPUT_TOKENS`], the synthesizer reads
//! the task, the answers and the analysis ([`SYNTHESIS_PROMPT_TOKENS`] more) and writes the
//! answer. Unknown when a paid seat has no price.
//!
//! **Rating**, like a model's quality ([`quality_at`]) under the id `fusion/<council>`: what
//! `fusion bench` measured for that id in the task's category (its fit at the task's complexity,
//! else its mean); else what `fusion eval council` measured for the council (its mean score on
//! the review fixtures, kept for every category); blended with the prior below
//! `router.reliable_after` answers; else the prior: `router.escalate.prior`, or the best panel
//! member's quality for the task + [`COUNCIL_LIFT`] (at most 1).

use std::fmt::Write as _;

use serde::Serialize;

use super::format::{Cost, Q, QualityText, Usd};
use super::rank::{Ranking, Rejection};
use super::{Decision, Estimate, ModelView, QualitySource, cost_usd, quality_at};
use crate::config::{CouncilConfig, EscalateConfig, QualityPriors, RouterConfig, Tier};

/// How the chat API names a council: `fusion/<council>`.
pub const COUNCIL_MODEL_PREFIX: &str = "fusion/";

/// What a council is assumed to add to its best member while nothing measured it.
pub const COUNCIL_LIFT: f64 = 0.1;
/// Tokens of the judge's instructions around the task and the answers.
pub const JUDGE_PROMPT_TOKENS: u64 = 400;
/// Tokens of the judge's analysis.
pub const JUDGE_OUTPUT_TOKENS: u64 = 512;
/// Tokens of the synthesizer's instructions around the task, answers and analysis.
pub const SYNTHESIS_PROMPT_TOKENS: u64 = 300;

/// Slack for float comparisons against thresholds.
const EPS: f64 = 1e-9;

/// One seat of a council as the router prices it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatView {
    pub model: String,
    pub max_tokens: Option<u32>,
}

/// The escalation council as the router sees it (built by the registry).
#[derive(Debug, Clone, PartialEq)]
pub struct CouncilView {
    pub name: String,
    pub panel: Vec<SeatView>,
    pub judge: SeatView,
    /// The judge's seat when the council names no synthesizer.
    pub synthesizer: SeatView,
    /// What `fusion bench` measured for `fusion/<name>`, per category.
    pub measured: super::MeasuredByCategory,
    /// What `fusion eval council` measured for the council (the review fixtures' mean score).
    pub reviewed: Option<super::Measured>,
}

impl CouncilView {
    pub fn from_config(
        name: &str,
        council: &CouncilConfig,
        measured: super::MeasuredByCategory,
        reviewed: Option<super::Measured>,
    ) -> Self {
        let seat = |m: &crate::config::MemberConfig| SeatView {
            model: m.model.clone(),
            max_tokens: m.max_tokens,
        };
        let judge = seat(&council.judge);
        Self {
            name: name.to_owned(),
            panel: council.panel.iter().map(seat).collect(),
            synthesizer: council.synthesizer.as_ref().map_or(judge.clone(), seat),
            judge,
            measured,
            reviewed,
        }
    }

    /// `fusion/<name>`.
    pub fn target(&self) -> String {
        format!("{COUNCIL_MODEL_PREFIX}{}", self.name)
    }
}

/// Why a task was escalated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Trigger {
    /// No single model can take the task, and some were turned away for their quality: the
    /// best of those.
    UnmetQuality {
        best_model: String,
        best_quality: f64,
    },
    /// The task's complexity is above `router.escalate.above_complexity`.
    Complexity { complexity: f64, above: f64 },
}

/// Where the council's rating came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum RatedBy {
    /// `fusion bench` results for `fusion/<council>` in the task's category.
    Bench,
    /// `fusion eval council` results for the council.
    EvalCouncil,
    /// `router.escalate.prior`.
    ConfiguredPrior,
    /// The best panel member's quality for the task + [`COUNCIL_LIFT`].
    BestMemberPrior { model: String, quality: f64 },
}

/// One call the council is expected to make.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedCall {
    /// `member`, `judge` or `synthesizer`.
    pub seat: &'static str,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `None`: a paid model without a price.
    pub cost_usd: Option<f64>,
}

/// A decision that went to a council: which, why, its rating and its price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalation {
    pub council: String,
    pub trigger: Trigger,
    pub quality: f64,
    pub quality_source: QualitySource,
    pub rated_by: RatedBy,
    /// The sum of `calls`; `None` when one of them has no price.
    pub expected_cost_usd: Option<f64>,
    pub calls: Vec<ExpectedCall>,
}

/// Escalates `decision` to `council` when `escalate` says so (see the module doc); notes in the
/// summary why a triggered escalation was declined.
pub(super) fn apply(
    decision: &mut Decision,
    ranking: &Ranking<'_>,
    models: &[ModelView],
    council: &CouncilView,
    escalate: &EscalateConfig,
    config: &RouterConfig,
) {
    let Some(trigger) = trigger(ranking, &decision.estimate, escalate) else {
        return;
    };
    let required = ranking.required;
    match evaluate(
        trigger,
        council,
        models,
        &decision.estimate,
        required,
        escalate,
        config,
    ) {
        Err(why) => {
            let _ = write!(
                decision.summary,
                "; not escalated to council {}: {why}",
                council.name
            );
        }
        Ok(escalation) => {
            let mut summary = String::with_capacity(200);
            let _ = write!(summary, "escalated to council {}: ", council.name);
            match &escalation.trigger {
                Trigger::UnmetQuality {
                    best_model,
                    best_quality,
                } => {
                    let _ = write!(
                        summary,
                        "no single model meets the required quality {} (best: {best_model} {})",
                        Q(ranking.required),
                        Q(*best_quality)
                    );
                }
                Trigger::Complexity { complexity, above } => {
                    let _ = write!(
                        summary,
                        "complexity {} > router.escalate.above_complexity {}",
                        Q(*complexity),
                        Q(*above)
                    );
                }
            }
            let _ = write!(
                summary,
                "; council rated {}{} ≥ {}, expected cost {} ({} members + judge + synthesizer)",
                QualityText(escalation.quality, escalation.quality_source),
                rated_by_note(&escalation.rated_by),
                Q(ranking.required),
                Cost(escalation.expected_cost_usd),
                council.panel.len()
            );
            let budget = usize::try_from(config.retry_budget).unwrap_or(usize::MAX);
            let single = decision.chosen.take();
            if let Some(model) = &single {
                let _ = write!(
                    summary,
                    "; {model} (the single-model choice) is the fallback"
                );
            }
            decision.fallbacks = single
                .into_iter()
                .chain(decision.fallbacks.drain(..))
                .take(budget)
                .collect();
            decision.chosen = Some(council.target());
            decision.summary = summary;
            decision.retry_in_ms = None;
            decision.escalation = Some(escalation);
        }
    }
}

/// Why the task should go to the council, if it should.
fn trigger(ranking: &Ranking<'_>, est: &Estimate, escalate: &EscalateConfig) -> Option<Trigger> {
    if escalate.when_unmet && ranking.ranked.is_empty() {
        let best = ranking
            .rejected
            .iter()
            .filter(|(_, why)| matches!(why, Rejection::Quality { .. }))
            .max_by(|a, b| a.0.quality.total_cmp(&b.0.quality));
        if let Some((entry, _)) = best {
            return Some(Trigger::UnmetQuality {
                best_model: entry.model.id.clone(),
                best_quality: entry.quality,
            });
        }
    }
    match escalate.above_complexity {
        Some(above) if est.complexity > above + EPS && !ranking.ranked.is_empty() => {
            Some(Trigger::Complexity {
                complexity: est.complexity,
                above,
            })
        }
        _ => None,
    }
}

/// The council's rating and price for the task, or why it cannot take it.
fn evaluate(
    trigger: Trigger,
    council: &CouncilView,
    models: &[ModelView],
    est: &Estimate,
    required: f64,
    escalate: &EscalateConfig,
    config: &RouterConfig,
) -> Result<Escalation, String> {
    let find = |id: &str| models.iter().find(|m| m.id == id);
    let seats = council
        .panel
        .iter()
        .chain([&council.judge, &council.synthesizer]);
    if config.free_only
        && let Some(paid) = seats
            .clone()
            .find(|s| find(&s.model).is_none_or(|m| m.tier == Tier::Paid || m.price_unknown))
    {
        return Err(format!(
            "router.free_only is set and its seat {} is paid",
            paid.model
        ));
    }
    let routable = council
        .panel
        .iter()
        .filter(|s| find(&s.model).is_some_and(|m| m.health.is_routable()))
        .count();
    if routable == 0 {
        return Err("none of its panel members is routable".to_owned());
    }
    let (quality, quality_source, rated_by) = rate(council, models, est, escalate, config);
    if quality.is_nan() || quality + EPS < required {
        return Err(format!(
            "it is rated {}{} < required {}",
            QualityText(quality, quality_source),
            rated_by_note(&rated_by),
            Q(required)
        ));
    }
    let calls = expected_calls(council, models, est);
    let expected_cost_usd = calls
        .iter()
        .try_fold(0.0, |sum, call| call.cost_usd.map(|c| sum + c));
    let (cap, key) = match escalate.max_cost_usd {
        Some(cap) => (cap, "router.escalate.max_cost_usd"),
        None => (config.cost_threshold, "router.cost_threshold"),
    };
    if let Some(cost) = expected_cost_usd
        && (cost.is_nan() || cost > cap + EPS * cap)
    {
        return Err(format!(
            "its expected cost {} > {key} {}",
            Usd(cost),
            Usd(cap)
        ));
    }
    Ok(Escalation {
        council: council.name.clone(),
        trigger,
        quality,
        quality_source,
        rated_by,
        expected_cost_usd,
        calls,
    })
}

/// The council's quality for the task (see the module doc).
fn rate(
    council: &CouncilView,
    models: &[ModelView],
    est: &Estimate,
    escalate: &EscalateConfig,
    config: &RouterConfig,
) -> (f64, QualitySource, RatedBy) {
    let best = council
        .panel
        .iter()
        .filter_map(|s| models.iter().find(|m| m.id == s.model))
        .map(|m| {
            let q = quality_at(m, est.category, est.complexity, config.reliable_after);
            (m.id.as_str(), q.quality)
        })
        .filter(|(_, q)| q.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let prior = match (escalate.prior, best) {
        (Some(prior), _) => prior,
        (None, Some((_, q))) => (q + COUNCIL_LIFT).min(1.0),
        (None, None) => 0.0,
    };
    let mut measured = council.measured;
    let benched = measured.get(est.category).is_some() || measured.fit(est.category).is_some();
    if !benched && let Some(reviewed) = council.reviewed {
        measured.set(est.category, reviewed);
    }
    let view = ModelView {
        id: council.target(),
        provider: "fusion".to_owned(),
        tier: Tier::Paid,
        context_window: None,
        price: None,
        price_unknown: false,
        quality: QualityPriors {
            default: Some(prior),
            ..QualityPriors::default()
        },
        measured,
        health: super::Health::Healthy,
        latency_p50_ms: None,
    };
    let rated = quality_at(&view, est.category, est.complexity, config.reliable_after);
    let by = match (rated.source, benched, escalate.prior, best) {
        (QualitySource::Prior, _, Some(_), _) | (QualitySource::Prior, _, None, None) => {
            RatedBy::ConfiguredPrior
        }
        (QualitySource::Prior, _, None, Some((model, quality))) => RatedBy::BestMemberPrior {
            model: model.to_owned(),
            quality,
        },
        (_, true, _, _) => RatedBy::Bench,
        (_, false, _, _) => RatedBy::EvalCouncil,
    };
    (rated.quality, rated.source, by)
}

/// " (router.escalate.prior)", " (best member m 0.78 + 0.10)", " by fusion bench", …
fn rated_by_note(by: &RatedBy) -> String {
    match by {
        RatedBy::Bench => " by fusion bench".to_owned(),
        RatedBy::EvalCouncil => " by fusion eval council".to_owned(),
        RatedBy::ConfiguredPrior => " (router.escalate.prior)".to_owned(),
        RatedBy::BestMemberPrior { model, quality } => format!(
            " (best member {model} {} + {})",
            Q(*quality),
            Q(COUNCIL_LIFT)
        ),
    }
}

/// Every call the council is expected to make, priced (see the module doc).
fn expected_calls(
    council: &CouncilView,
    models: &[ModelView],
    est: &Estimate,
) -> Vec<ExpectedCall> {
    let capped =
        |tokens: u64, seat: &SeatView| seat.max_tokens.map_or(tokens, |m| tokens.min(u64::from(m)));
    let call = |seat_kind: &'static str, seat: &SeatView, input_tokens: u64, output_tokens: u64| {
        let cost_usd = models
            .iter()
            .find(|m| m.id == seat.model)
            .and_then(|m| cost_usd(m, input_tokens, output_tokens));
        ExpectedCall {
            seat: seat_kind,
            model: seat.model.clone(),
            input_tokens,
            output_tokens,
            cost_usd,
        }
    };
    let mut calls = Vec::with_capacity(council.panel.len() + 2);
    let mut answers = 0u64;
    for seat in &council.panel {
        let output = capped(est.output_tokens, seat);
        answers = answers.saturating_add(output);
        calls.push(call("member", seat, est.input_tokens, output));
    }
    let read = est.input_tokens.saturating_add(answers);
    let analysis = capped(JUDGE_OUTPUT_TOKENS, &council.judge);
    calls.push(call(
        "judge",
        &council.judge,
        read.saturating_add(JUDGE_PROMPT_TOKENS),
        analysis,
    ));
    calls.push(call(
        "synthesizer",
        &council.synthesizer,
        read.saturating_add(analysis)
            .saturating_add(SYNTHESIS_PROMPT_TOKENS),
        capped(est.output_tokens, &council.synthesizer),
    ));
    calls
}
