//! Router policy changes simulated on the same replay — not what the router does today, but
//! what it would do with one change — so that a change is argued with numbers before it is
//! made in `fusion_core::router`. Every variant still decides through the real
//! [`fusion_core::router::decide`]; only what it is given changes:
//!
//! - **quality source** `category` (today: one measured quality per model and category) or
//!   `band` (measured per model, category and complexity band — thirds of 0..1 of the router's
//!   own complexity estimate — on the training tasks; the category's when a band has fewer
//!   than [`MIN_BAND_TASKS`] training tasks): the router is given the band's quality for the
//!   task's category;
//! - **bar** `scaled` (today: required = `quality_threshold × complexity`), `flat` (required =
//!   `quality_threshold` whatever the complexity — the task is told complexity 1 — and when
//!   nothing clears it, the best model within the cost threshold instead of none) or
//!   `relative` (required = the best quality within the cost threshold minus a margin, swept
//!   0 … 0.5: the cheapest model nearly as good as the best one affordable), or no bar and a
//!   `value` rule instead: among the models the router ranks (every filter but quality), the
//!   one with the most `quality − λ × estimated cost`, λ (score per USD) swept 0 … 1000.

use fusion_core::config::{Priority, RouterConfig};
use fusion_core::router::{Decision, ModelView, RouteInput, Verdict, decide, estimate};
use serde::Serialize;

use super::metrics::{self, Point};
use super::replay::{Replayed, chosen_index, measure, model_views, replay_with, route_input};
use super::{Dataset, Sweep};

/// Training tasks a complexity band needs before its own quality is used.
pub const MIN_BAND_TASKS: u64 = 5;
/// Complexity bands: thirds of 0..1.
const BANDS: usize = 3;
const MARGINS: [f64; 9] = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5];
/// Score per USD given up, for the `value` rule.
const LAMBDAS: [f64; 12] = [
    0.0, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0, 200.0, 1000.0,
];

/// Where the router's quality for a task comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QualitySource {
    Category,
    Band,
}

/// How the required quality is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bar {
    Scaled,
    Flat,
    Relative,
    Value,
}

/// One simulated setting and what it did on the test tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimPoint {
    pub priority: Priority,
    /// `quality_threshold` (scaled, flat), the margin below the best (relative) or λ (value).
    pub knob: f64,
    pub cost_threshold: f64,
    pub quality: f64,
    pub cost_usd: f64,
    pub cost_pct_of_strongest: Option<f64>,
    pub pgr: Option<f64>,
    pub unrouted: u32,
    pub choices: Vec<u32>,
}

/// One variant of the policy over its sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulatedPolicy {
    pub quality: QualitySource,
    pub bar: Bar,
    /// The variant is today's router (a check that the simulation reproduces it).
    pub is_current: bool,
    pub points: usize,
    pub apgr: Option<f64>,
    pub best_quality: f64,
    /// The cheapest point reaching 95% of always-strongest's quality.
    pub cost_at_95: Option<SimPoint>,
    /// Cost ascending.
    pub pareto: Vec<SimPoint>,
}

/// What the simulations share: the router's view per complexity band, and the test inputs.
pub(super) struct Context<'a> {
    pub dataset: &'a Dataset,
    pub train: &'a [usize],
    pub test: &'a [usize],
    pub inputs: &'a [RouteInput],
    pub sweep: &'a Sweep,
    pub cheap: Point,
    pub strong: Point,
}

/// Every variant: category or band quality × scaled, flat or relative bar.
pub(super) fn simulate(cx: &Context<'_>) -> Vec<SimulatedPolicy> {
    let category = measure(cx.dataset, cx.train);
    let category_views = model_views(cx.dataset, &category);
    let band_of = |input: &RouteInput| {
        let c = estimate(input).complexity;
        ((c * BANDS as f64) as usize).min(BANDS - 1)
    };
    let band_views: Vec<Vec<ModelView>> = (0..BANDS)
        .map(|b| {
            let in_band: Vec<usize> = cx
                .train
                .iter()
                .copied()
                .filter(|&t| band_of(&route_input(cx.dataset, t)) == b)
                .collect();
            let mut measured = measure(cx.dataset, &in_band);
            for (model, by_category) in measured.iter_mut().enumerate() {
                by_category.retain(|_, m| m.n >= MIN_BAND_TASKS);
                for (c, m) in &category[model] {
                    by_category.entry(*c).or_insert(*m);
                }
            }
            model_views(cx.dataset, &measured)
        })
        .collect();
    let test_bands: Vec<usize> = cx.inputs.iter().map(band_of).collect();
    let mut out = Vec::new();
    for source in [QualitySource::Category, QualitySource::Band] {
        let views = |k: usize| match source {
            QualitySource::Category => &category_views[..],
            QualitySource::Band => &band_views[test_bands[k]][..],
        };
        for bar in [Bar::Scaled, Bar::Flat, Bar::Relative, Bar::Value] {
            out.push(variant(cx, source, bar, &views));
        }
    }
    out
}

fn variant<'v>(
    cx: &Context<'_>,
    quality: QualitySource,
    bar: Bar,
    views: &dyn Fn(usize) -> &'v [ModelView],
) -> SimulatedPolicy {
    let priorities: &[Priority] = match bar {
        Bar::Scaled => &cx.sweep.priorities,
        Bar::Flat | Bar::Relative | Bar::Value => &[Priority::Cost],
    };
    let knobs: &[f64] = match bar {
        Bar::Scaled | Bar::Flat => &cx.sweep.quality_thresholds,
        Bar::Relative => &MARGINS,
        Bar::Value => &LAMBDAS,
    };
    let mut points = Vec::new();
    for &priority in priorities {
        for &knob in knobs {
            for &cost_threshold in &cx.sweep.cost_thresholds {
                let config = RouterConfig {
                    priority,
                    quality_threshold: knob,
                    cost_threshold,
                    ..RouterConfig::default()
                };
                let replayed = replay_with(cx.dataset, cx.test, |k, _| {
                    choose(cx.dataset, &cx.inputs[k], views(k), &config, bar)
                });
                points.push(sim_point(cx, priority, knob, cost_threshold, replayed));
            }
        }
    }
    let xy: Vec<Point> = points
        .iter()
        .map(|p| Point::new(p.cost_usd, p.quality))
        .collect();
    SimulatedPolicy {
        quality,
        bar,
        is_current: quality == QualitySource::Category && bar == Bar::Scaled,
        points: points.len(),
        apgr: metrics::apgr(&xy, cx.cheap, cx.strong),
        best_quality: xy.iter().map(|p| p.quality).fold(0.0, f64::max),
        cost_at_95: metrics::cheapest_reaching(&xy, 0.95 * cx.strong.quality)
            .map(|i| points[i].clone()),
        pareto: metrics::pareto(&xy)
            .into_iter()
            .map(|i| points[i].clone())
            .collect(),
    }
}

/// The model the variant picks for one task.
fn choose(
    dataset: &Dataset,
    input: &RouteInput,
    views: &[ModelView],
    config: &RouterConfig,
    bar: Bar,
) -> Option<usize> {
    if bar == Bar::Scaled {
        return chosen_index(dataset, &decide(input, views, config));
    }
    // Told complexity 1, the required quality is the threshold itself.
    let flat = RouteInput {
        complexity: Some(1.0),
        ..input.clone()
    };
    let best_config = RouterConfig {
        priority: Priority::Quality,
        quality_threshold: 0.0,
        ..config.clone()
    };
    let best = decide(&flat, views, &best_config);
    if bar == Bar::Value {
        return most_value(dataset, &best, config.quality_threshold);
    }
    let threshold = match bar {
        Bar::Relative => {
            chosen_quality(&best).map_or(0.0, |q| (q - config.quality_threshold).max(0.0))
        }
        Bar::Scaled | Bar::Flat | Bar::Value => config.quality_threshold,
    };
    let cheapest = RouterConfig {
        priority: Priority::Cost,
        quality_threshold: threshold,
        ..config.clone()
    };
    chosen_index(dataset, &decide(&flat, views, &cheapest)).or_else(|| chosen_index(dataset, &best))
}

/// Among the ranked candidates of `decision`, the one with the most `quality − λ × cost`
/// (a model of unknown cost is not weighed; at equal value, the higher rank).
fn most_value(dataset: &Dataset, decision: &Decision, lambda: f64) -> Option<usize> {
    let mut best: Option<(f64, &str)> = None;
    for c in &decision.candidates {
        let (Verdict::Ranked { .. }, Some(cost)) = (&c.verdict, c.estimated_cost_usd) else {
            continue;
        };
        let value = c.quality - lambda * cost;
        if best.is_none_or(|(v, _)| value > v) {
            best = Some((value, c.model.as_str()));
        }
    }
    let (_, id) = best?;
    dataset.models.iter().position(|m| m.id == id)
}

/// The quality the router saw in the model it chose.
fn chosen_quality(decision: &Decision) -> Option<f64> {
    decision
        .candidates
        .iter()
        .find_map(|c| matches!(c.verdict, Verdict::Ranked { rank: 1, .. }).then_some(c.quality))
}

fn sim_point(
    cx: &Context<'_>,
    priority: Priority,
    knob: f64,
    cost_threshold: f64,
    r: Replayed,
) -> SimPoint {
    SimPoint {
        priority,
        knob,
        cost_threshold,
        quality: r.point.quality,
        cost_usd: r.point.cost,
        cost_pct_of_strongest: (cx.strong.cost > 0.0)
            .then(|| 100.0 * r.point.cost / cx.strong.cost),
        pgr: metrics::pgr(r.point.quality, cx.cheap, cx.strong),
        unrouted: r.unrouted,
        choices: r.choices,
    }
}
