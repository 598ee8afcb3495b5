//! The replay: the train/test split, the router's view of the models (quality measured on the
//! training tasks only), the router run at every sweep point over the test tasks, and the
//! baselines beside it — assembled into a [`RoutingEval`].

use std::collections::BTreeMap;

use fusion_core::config::{Category, Price, Priority, QualityPriors, RouterConfig, Tier};
use fusion_core::router::{
    ComplexityFit, Decision, Health, Measured, MeasuredByCategory, ModelView, RouteInput, ScoredAt,
    decide, estimate,
};
use fusion_core::store::BenchResultRow;
use serde::Serialize;

use super::baselines::{self, PolicyResult, Relative, pick, single_model_points};
use super::metrics::{self, Point};
use super::proposal;
use super::rng::Rng;
use super::{Dataset, EvalError, EvalOptions, MAX_SWEEP_POINTS, Source};

/// Which tasks train (measure the quality the router is given) and which are scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Task indices, ascending.
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Per category, the tasks shuffled under `seed`: the first half (rounded down) trains, the
/// rest is scored. The two never share a task.
pub fn split(dataset: &Dataset, seed: u64) -> Split {
    let mut rng = Rng::stream(seed, "split");
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for category in Category::ALL {
        let mut of: Vec<usize> = (0..dataset.tasks.len())
            .filter(|&i| dataset.tasks[i].category == category)
            .collect();
        rng.shuffle(&mut of);
        let half = of.len() / 2;
        train.extend_from_slice(&of[..half]);
        test.extend_from_slice(&of[half..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Split { train, test }
}

/// Per model (dataset order), per category: what the training tasks measured, through
/// [`crate::stats::summarize`] — the numbers the store's measured quality would give.
pub(super) fn measure(dataset: &Dataset, train: &[usize]) -> Vec<BTreeMap<Category, Measured>> {
    let mut rows = Vec::with_capacity(train.len() * dataset.models.len());
    for &t in train {
        let task = &dataset.tasks[t];
        for (model, outcome) in dataset.models.iter().zip(&task.outcomes) {
            rows.push(BenchResultRow {
                run_id: "replay".to_owned(),
                task_id: task.id.clone(),
                model: model.id.clone(),
                attempt: 1,
                suite: "replay".to_owned(),
                category: task.category.as_str().to_owned(),
                score: outcome.score,
                latency_ms: 0,
                output_tokens: task.output_tokens.unwrap_or(0),
                cost_usd: outcome.cost_usd,
                error: None,
                detail: None,
                created_ms: 0,
            });
        }
    }
    let stats = crate::stats::summarize(&rows);
    dataset
        .models
        .iter()
        .map(|model| {
            stats
                .iter()
                .filter(|s| s.model == model.id)
                .filter_map(|s| {
                    let category = Category::parse(&s.category)?;
                    Some((
                        category,
                        Measured {
                            quality: s.quality,
                            n: s.n,
                        },
                    ))
                })
                .collect()
        })
        .collect()
}

/// Per model (dataset order), per category: the fit of the training tasks' scores against
/// the complexity the router estimates for each ([`ComplexityFit`], as the registry fits the
/// bench results' recorded complexities).
pub(super) fn fit_complexity(
    dataset: &Dataset,
    train: &[usize],
) -> Vec<BTreeMap<Category, ComplexityFit>> {
    let complexity: Vec<(usize, f64)> = train
        .iter()
        .map(|&t| (t, estimate(&route_input(dataset, t)).complexity))
        .collect();
    (0..dataset.models.len())
        .map(|m| {
            Category::ALL
                .iter()
                .filter_map(|&category| {
                    let points: Vec<ScoredAt> = complexity
                        .iter()
                        .filter(|(t, _)| dataset.tasks[*t].category == category)
                        .map(|&(t, c)| ScoredAt {
                            complexity: c,
                            score: dataset.tasks[t].outcomes[m].score,
                            n: 1,
                        })
                        .collect();
                    Some((category, ComplexityFit::fit(&points)?))
                })
                .collect()
        })
        .collect()
}

/// Every model as the router sees it — the one place the replay builds a [`ModelView`]: its
/// tier, price and window, healthy, no configured prior, and what the training tasks measured
/// (the router's `measured`, used as the store's would be): the mean per category with its
/// count, and the fit against complexity when `fits` has one.
pub(super) fn model_views(
    dataset: &Dataset,
    measured: &[BTreeMap<Category, Measured>],
    fits: &[BTreeMap<Category, ComplexityFit>],
) -> Vec<ModelView> {
    let none = BTreeMap::new();
    dataset
        .models
        .iter()
        .zip(measured)
        .enumerate()
        .map(|(m, (model, by_category))| ModelView {
            id: model.id.clone(),
            provider: model.provider.clone(),
            tier: model.tier,
            context_window: model.context_window,
            price: model.price,
            price_unknown: false,
            quality: QualityPriors::default(),
            measured: {
                let mut all = MeasuredByCategory::default();
                for (category, mean) in by_category {
                    all.set(*category, *mean);
                }
                for (category, fit) in fits.get(m).unwrap_or(&none) {
                    all.set_fit(*category, *fit);
                }
                all
            },
            health: Health::Healthy,
            latency_p50_ms: None,
        })
        .collect()
}

/// One router setting and what it did on the test tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub priority: Priority,
    pub quality_threshold: f64,
    pub cost_threshold: f64,
    /// Mean score over the test tasks.
    pub quality: f64,
    /// Total USD over the test tasks.
    pub cost_usd: f64,
    pub cost_pct_of_strongest: Option<f64>,
    pub pgr: Option<f64>,
    /// Test tasks for which no model qualified (scored 0 at no cost).
    pub unrouted: u32,
    /// Test tasks sent to each model, in the dataset's model order.
    pub choices: Vec<u32>,
}

/// A model of the dataset, with what the router was told and how it did on the test tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub id: String,
    pub tier: Tier,
    pub price: Option<Price>,
    pub context_window: Option<u32>,
    /// Measured on the training tasks: what the router was given.
    pub trained: BTreeMap<Category, Measured>,
    /// The training tasks' scores against complexity: what the router reads per task.
    pub fitted: BTreeMap<Category, ComplexityFit>,
    pub test_quality: f64,
    pub test_cost_usd: f64,
}

/// The cheapest sweep point reaching a quality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostAt {
    /// Index into [`RoutingEval::sweep`].
    pub point: usize,
    pub quality: f64,
    pub cost_usd: f64,
    pub pct_of_strongest: Option<f64>,
}

/// The router over one priority's sweep points, or over all of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouterResult {
    /// `None`: every priority.
    pub priority: Option<Priority>,
    pub apgr: Option<f64>,
    /// Indices into [`RoutingEval::sweep`] of the Pareto front, cost ascending.
    pub pareto: Vec<usize>,
    pub best_quality: f64,
    /// The cheapest point reaching 95% of always-strongest's quality.
    pub cost_at_95: Option<CostAt>,
}

/// Whether the router met the aims.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aims {
    /// APGR above always-cheapest's, always-strongest's and random's.
    pub apgr_beats_baselines: bool,
    /// The baselines among those (and the single-model ones) whose APGR it does not beat.
    pub not_beaten: Vec<String>,
    /// 95% of always-strongest's quality at no more than 25% of its cost.
    pub cost_at_95_within_25_pct: bool,
}

/// Everything `fusion eval routing` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingEval {
    pub source: Source,
    /// The synthetic set's seed.
    pub dataset_seed: Option<u64>,
    /// The split's and random baseline's seed.
    pub seed: u64,
    pub tasks: usize,
    pub train_tasks: usize,
    pub test_tasks: usize,
    pub models: Vec<ModelSummary>,
    pub cheapest: String,
    pub strongest: String,
    pub baselines: Vec<PolicyResult>,
    /// Over every sweep point.
    pub router: RouterResult,
    pub by_priority: Vec<RouterResult>,
    pub aims: Aims,
    pub sweep: Vec<SweepPoint>,
    /// Policy changes simulated on the same replay (not the router as it is); empty unless
    /// [`EvalOptions::simulate`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub simulated: Vec<proposal::SimulatedPolicy>,
    pub notes: Vec<String>,
}

/// Replays `dataset` through the router (see the module doc of `routing` for the method).
/// CPU work: call it off the async workers.
pub fn evaluate(dataset: &Dataset, options: &EvalOptions) -> Result<RoutingEval, EvalError> {
    dataset.validate()?;
    let sweep = &options.sweep;
    if sweep.is_empty() || sweep.len() > MAX_SWEEP_POINTS {
        return Err(EvalError::Dataset(format!(
            "the sweep has {} points; between 1 and {MAX_SWEEP_POINTS} are allowed",
            sweep.len()
        )));
    }
    if options.random_repeats == 0 || options.random_repeats > 10_000 {
        return Err(EvalError::Dataset(format!(
            "random_repeats {} is not in 1..=10000",
            options.random_repeats
        )));
    }
    let Split { train, test } = split(dataset, options.seed);
    if train.is_empty() || test.is_empty() {
        return Err(EvalError::Dataset(format!(
            "{} training and {} test tasks: each category needs two tasks or more",
            train.len(),
            test.len()
        )));
    }
    let measured = measure(dataset, &train);
    let fits = fit_complexity(dataset, &train);
    let views = model_views(dataset, &measured, &fits);
    let singles = single_model_points(dataset, &test);
    let cheapest = pick(&singles, |a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(b.quality.total_cmp(&a.quality))
    });
    let strongest = pick(&singles, |a, b| {
        b.quality
            .total_cmp(&a.quality)
            .then(a.cost.total_cmp(&b.cost))
    });
    let (cheap, strong) = (singles[cheapest], singles[strongest]);
    let relative = |p: Point| Relative::new(p, cheap, strong);

    let mut points = Vec::with_capacity(sweep.len());
    let inputs: Vec<RouteInput> = test.iter().map(|&t| route_input(dataset, t)).collect();
    for &priority in &sweep.priorities {
        for &quality_threshold in &sweep.quality_thresholds {
            for &cost_threshold in &sweep.cost_thresholds {
                let config = RouterConfig {
                    priority,
                    quality_threshold,
                    cost_threshold,
                    ..RouterConfig::default()
                };
                let Replayed {
                    point,
                    unrouted,
                    choices,
                } = replay_point(dataset, &views, &test, &inputs, &config);
                let r = relative(point);
                points.push(SweepPoint {
                    priority,
                    quality_threshold,
                    cost_threshold,
                    quality: point.quality,
                    cost_usd: point.cost,
                    cost_pct_of_strongest: r.cost_pct,
                    pgr: r.pgr,
                    unrouted,
                    choices,
                });
            }
        }
    }

    let baselines = baselines::all(dataset, &test, options, &singles, cheap, strong);
    let simulated = if options.simulate {
        proposal::simulate(&proposal::Context {
            dataset,
            train: &train,
            test: &test,
            inputs: &inputs,
            views: &views,
            sweep,
            cheap,
            strong,
        })
    } else {
        Vec::new()
    };
    let router = router_result(None, &points, cheap, strong);
    let by_priority = sweep
        .priorities
        .iter()
        .map(|&p| router_result(Some(p), &points, cheap, strong))
        .collect();
    let aims = aims(&router, &baselines);
    let models = dataset
        .models
        .iter()
        .zip(measured)
        .zip(fits)
        .zip(&singles)
        .map(|(((m, trained), fitted), p)| ModelSummary {
            id: m.id.clone(),
            tier: m.tier,
            price: m.price,
            context_window: m.context_window,
            trained,
            fitted,
            test_quality: p.quality,
            test_cost_usd: p.cost,
        })
        .collect();
    Ok(RoutingEval {
        source: dataset.source,
        dataset_seed: dataset.seed,
        seed: options.seed,
        tasks: dataset.tasks.len(),
        train_tasks: train.len(),
        test_tasks: test.len(),
        models,
        cheapest: dataset.models[cheapest].id.clone(),
        strongest: dataset.models[strongest].id.clone(),
        baselines,
        router,
        by_priority,
        aims,
        sweep: points,
        simulated,
        notes: dataset.notes.clone(),
    })
}

/// What the router is told about task `t`: its category, complexity and tokens; no text.
pub(super) fn route_input(dataset: &Dataset, t: usize) -> RouteInput {
    let task = &dataset.tasks[t];
    RouteInput {
        text: String::new(),
        context_tokens: Some(task.input_tokens.unwrap_or(0)),
        expected_output_tokens: task.output_tokens,
        complexity: task.complexity,
        category: Some(task.category),
        priority: None,
    }
}

/// The router under `config` over the test tasks.
fn replay_point(
    dataset: &Dataset,
    views: &[ModelView],
    test: &[usize],
    inputs: &[RouteInput],
    config: &RouterConfig,
) -> Replayed {
    replay_with(dataset, test, |k, _| {
        chosen_index(dataset, &decide(&inputs[k], views, config))
    })
}

/// What a policy did on the test tasks.
pub(super) struct Replayed {
    pub point: Point,
    /// Tasks no model was chosen for (scored 0 at no cost).
    pub unrouted: u32,
    /// Tasks per model, in the dataset's model order.
    pub choices: Vec<u32>,
}

/// Scores the model `choose` picks for each test task (given its position in `test` and its
/// index in the dataset) — only test tasks are ever scored.
pub(super) fn replay_with(
    dataset: &Dataset,
    test: &[usize],
    mut choose: impl FnMut(usize, usize) -> Option<usize>,
) -> Replayed {
    let mut choices = vec![0u32; dataset.models.len()];
    let (mut cost, mut score, mut unrouted) = (0.0, 0.0, 0u32);
    for (k, &t) in test.iter().enumerate() {
        match choose(k, t) {
            Some(m) => {
                let outcome = dataset.tasks[t].outcomes[m];
                cost += outcome.cost_usd;
                score += outcome.score;
                choices[m] += 1;
            }
            None => unrouted += 1,
        }
    }
    Replayed {
        point: Point::new(cost, score / test.len().max(1) as f64),
        unrouted,
        choices,
    }
}

/// The dataset index of the model a decision chose.
pub(super) fn chosen_index(dataset: &Dataset, decision: &Decision) -> Option<usize> {
    let id = decision.chosen.as_deref()?;
    dataset.models.iter().position(|m| m.id == id)
}

fn router_result(
    priority: Option<Priority>,
    points: &[SweepPoint],
    cheap: Point,
    strong: Point,
) -> RouterResult {
    let index: Vec<usize> = (0..points.len())
        .filter(|&i| priority.is_none_or(|p| points[i].priority == p))
        .collect();
    let xy: Vec<Point> = index
        .iter()
        .map(|&i| Point::new(points[i].cost_usd, points[i].quality))
        .collect();
    let cost_at_95 = metrics::cheapest_reaching(&xy, 0.95 * strong.quality).map(|j| CostAt {
        point: index[j],
        quality: xy[j].quality,
        cost_usd: xy[j].cost,
        pct_of_strongest: Relative::new(xy[j], cheap, strong).cost_pct,
    });
    RouterResult {
        priority,
        apgr: metrics::apgr(&xy, cheap, strong),
        pareto: metrics::pareto(&xy).into_iter().map(|j| index[j]).collect(),
        best_quality: xy.iter().map(|p| p.quality).fold(0.0, f64::max),
        cost_at_95,
    }
}

fn aims(router: &RouterResult, baselines: &[PolicyResult]) -> Aims {
    let ours = router.apgr.unwrap_or(f64::NEG_INFINITY);
    let not_beaten: Vec<String> = baselines
        .iter()
        .filter(|b| b.name != "oracle" && b.name != "expected-oracle")
        .filter(|b| b.apgr.is_some_and(|a| a >= ours))
        .map(|b| b.name.clone())
        .collect();
    let named = ["always-cheapest", "always-strongest", "random"];
    Aims {
        apgr_beats_baselines: router.apgr.is_some()
            && !not_beaten.iter().any(|n| named.contains(&n.as_str())),
        not_beaten,
        cost_at_95_within_25_pct: router
            .cost_at_95
            .as_ref()
            .and_then(|c| c.pct_of_strongest)
            .is_some_and(|pct| pct <= 25.0),
    }
}
