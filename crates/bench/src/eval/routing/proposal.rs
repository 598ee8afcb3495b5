//! What each part of the router's policy is worth, simulated on the same replay: the router as
//! it is (`fit` × `router`, the variant marked current — it reproduces the eval's sweep
//! exactly) beside the same policy given a different quality, and beside a value rule whose
//! trade-off is swept on its own. Every variant decides through the real
//! [`fusion_core::router::decide`]; only what it is given changes:
//!
//! - **quality** `category` (one measured mean per model and category — the router before
//!   issue 17, item 6; under `balanced` it counts only up to the bar + 0.15, as it does not
//!   depend on complexity), `band` (the mean per model, category and complexity band — thirds
//!   of 0..1 of the router's own complexity estimate — as a measure at the task's complexity;
//!   the category's mean when a band has fewer than [`MIN_BAND_TASKS`] training tasks), `fit`
//!   (today: the logistic fit of the training scores against complexity, read at the task's)
//!   or `chance` (each model's true chance on the task, the synthetic set's label — the
//!   estimation gap closed; labelled sets only);
//! - **rule** `router` (today's policy over the eval's sweep of priorities and thresholds) or
//!   `value` (among the models the router ranks under `quality` priority with no bar — every
//!   filter but quality — the most `quality − λ × estimated cost`, λ swept 0 … 1000 per USD
//!   apart from the thresholds: what a separate trade-off knob would buy).

use fusion_core::config::{Category, Priority, RouterConfig};
use fusion_core::router::{ComplexityFit, Decision, ModelView, RouteInput, Verdict, decide};
use serde::Serialize;

use super::metrics::{self, Point};
use super::replay::{Replayed, chosen_index, measure, model_views, replay_with, route_input};
use super::{Dataset, Sweep};

/// Training tasks a complexity band needs before its own quality is used.
pub const MIN_BAND_TASKS: u64 = 5;
/// Complexity bands: thirds of 0..1.
const BANDS: usize = 3;
/// Score per USD given up, for the `value` rule.
const LAMBDAS: [f64; 12] = [
    0.0, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0, 200.0, 1000.0,
];

/// What the router is told a model's quality on a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QualitySource {
    Category,
    Band,
    Fit,
    Chance,
}

/// How the model is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    Router,
    Value,
}

/// One simulated setting and what it did on the test tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimPoint {
    pub priority: Priority,
    /// `quality_threshold` (router) or λ (value).
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
    pub rule: Rule,
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

/// What the simulations share: the router's views as the eval gives them, and the test inputs.
pub(super) struct Context<'a> {
    pub dataset: &'a Dataset,
    pub train: &'a [usize],
    pub test: &'a [usize],
    pub inputs: &'a [RouteInput],
    /// Today's: the training means and fits.
    pub views: &'a [ModelView],
    pub sweep: &'a Sweep,
    pub cheap: Point,
    pub strong: Point,
}

/// Every variant: each quality source × each rule (`chance` only on a labelled set).
pub(super) fn simulate(cx: &Context<'_>) -> Vec<SimulatedPolicy> {
    let category = measure(cx.dataset, cx.train);
    let category_views = model_views(cx.dataset, &category, &[]);
    let band_views = band_views(cx, &category);
    let test_bands: Vec<usize> = cx
        .inputs
        .iter()
        .map(|i| band_of(fusion_core::router::estimate(i).complexity))
        .collect();
    let chance_views = chance_views(cx);
    let mut sources = vec![
        QualitySource::Category,
        QualitySource::Band,
        QualitySource::Fit,
    ];
    if chance_views.is_some() {
        sources.push(QualitySource::Chance);
    }
    let mut out = Vec::new();
    for source in sources {
        let views = |k: usize| match source {
            QualitySource::Category => &category_views[..],
            QualitySource::Band => &band_views[test_bands[k]][..],
            QualitySource::Fit => cx.views,
            QualitySource::Chance => chance_views.as_ref().map_or(cx.views, |v| &v[k][..]),
        };
        for rule in [Rule::Router, Rule::Value] {
            out.push(variant(cx, source, rule, &views));
        }
    }
    out
}

/// The band (0, 1 or 2) of a complexity.
fn band_of(complexity: f64) -> usize {
    ((complexity.clamp(0.0, 1.0) * BANDS as f64) as usize).min(BANDS - 1)
}

/// A quality measured at a range of complexity, flat over it (the router reads it there as it
/// reads a fit; [`ComplexityFit::chance_at`] gives back `quality`).
fn flat(quality: f64, n: u64, min_complexity: f64, max_complexity: f64) -> ComplexityFit {
    let q = quality.clamp(1e-4, 1.0 - 1e-4);
    ComplexityFit {
        intercept: (q / (1.0 - q)).ln(),
        slope: 0.0,
        n,
        min_complexity,
        max_complexity,
    }
}

/// Per band, every model's view: the band's mean as a measure at its complexities where the
/// band has [`MIN_BAND_TASKS`] training tasks, else the category's mean.
fn band_views(
    cx: &Context<'_>,
    category: &[std::collections::BTreeMap<Category, fusion_core::router::Measured>],
) -> Vec<Vec<ModelView>> {
    (0..BANDS)
        .map(|b| {
            let in_band: Vec<usize> = cx
                .train
                .iter()
                .copied()
                .filter(|&t| {
                    band_of(fusion_core::router::estimate(&route_input(cx.dataset, t)).complexity)
                        == b
                })
                .collect();
            let measured = measure(cx.dataset, &in_band);
            let (lo, hi) = (b as f64 / BANDS as f64, (b + 1) as f64 / BANDS as f64);
            let fits: Vec<_> = measured
                .iter()
                .map(|by_category| {
                    by_category
                        .iter()
                        .filter(|(_, m)| m.n >= MIN_BAND_TASKS)
                        .map(|(c, m)| (*c, flat(m.quality, m.n, lo, hi)))
                        .collect()
                })
                .collect();
            model_views(cx.dataset, category, &fits)
        })
        .collect()
}

/// Per test task, every model's view with its true chance on the task as a measure at its
/// complexity; `None` when the set has no chances (bench history).
fn chance_views(cx: &Context<'_>) -> Option<Vec<Vec<ModelView>>> {
    cx.test
        .iter()
        .zip(cx.inputs)
        .map(|(&t, input)| {
            let task = &cx.dataset.tasks[t];
            let c = fusion_core::router::estimate(input).complexity;
            let mut views = cx.views.to_vec();
            for (view, outcome) in views.iter_mut().zip(&task.outcomes) {
                let chance = outcome.p_success?;
                let mut measured = fusion_core::router::MeasuredByCategory::default();
                measured.set_fit(task.category, flat(chance, 1_000_000, c, c));
                view.measured = measured;
            }
            Some(views)
        })
        .collect()
}

fn variant<'v>(
    cx: &Context<'_>,
    quality: QualitySource,
    rule: Rule,
    views: &dyn Fn(usize) -> &'v [ModelView],
) -> SimulatedPolicy {
    let priorities: &[Priority] = match rule {
        Rule::Router => &cx.sweep.priorities,
        Rule::Value => &[Priority::Quality],
    };
    let knobs: &[f64] = match rule {
        Rule::Router => &cx.sweep.quality_thresholds,
        Rule::Value => &LAMBDAS,
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
                    choose(cx.dataset, &cx.inputs[k], views(k), &config, rule)
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
        rule,
        is_current: quality == QualitySource::Fit && rule == Rule::Router,
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
    rule: Rule,
) -> Option<usize> {
    match rule {
        Rule::Router => chosen_index(dataset, &decide(input, views, config)),
        Rule::Value => {
            // No bar: every candidate the other filters pass, ranked by quality.
            let unbarred = RouterConfig {
                quality_threshold: 0.0,
                ..config.clone()
            };
            most_value(
                dataset,
                &decide(input, views, &unbarred),
                config.quality_threshold,
            )
        }
    }
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
