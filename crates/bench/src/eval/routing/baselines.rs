//! The baselines the router is compared with on the test tasks: each model alone (and so
//! always-cheapest and always-strongest), random, the oracle (knows every outcome) and, on the
//! synthetic set, the expected-value oracle (knows every task's success chances, not its
//! outcomes — the best any router seeing only the task can do on average).

use serde::Serialize;

use super::metrics::{self, Point};
use super::rng::Rng;
use super::{Dataset, EvalOptions};

/// A baseline policy on the test tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// `always-cheapest`, `always-strongest`, `random`, `oracle`, `expected-oracle` or
    /// `always <model>`.
    pub name: String,
    pub quality: f64,
    pub cost_usd: f64,
    pub cost_pct_of_strongest: Option<f64>,
    pub pgr: Option<f64>,
    pub apgr: Option<f64>,
    /// Its cheapest point reaching 95% of always-strongest's quality, as % of its cost.
    pub cost_at_95_pct: Option<f64>,
}

/// Every baseline: always-cheapest, always-strongest, random, the oracle, the expected-value
/// oracle (labelled sets only), then each model alone.
pub(super) fn all(
    dataset: &Dataset,
    test: &[usize],
    options: &EvalOptions,
    singles: &[Point],
    cheap: Point,
    strong: Point,
) -> Vec<PolicyResult> {
    let mut named = vec![
        ("always-cheapest".to_owned(), vec![cheap]),
        ("always-strongest".to_owned(), vec![strong]),
        (
            "random".to_owned(),
            vec![random_point(dataset, test, options)],
        ),
        ("oracle".to_owned(), oracle(dataset, test)),
    ];
    if let Some(points) = expected_oracle(dataset, test) {
        named.push(("expected-oracle".to_owned(), points));
    }
    for (model, point) in dataset.models.iter().zip(singles) {
        named.push((format!("always {}", model.id), vec![*point]));
    }
    named
        .into_iter()
        .map(|(name, points)| policy(name, &points, cheap, strong))
        .collect()
}

/// Steps of the expected-value oracle's trade-off (score per dollar given up).
const LAMBDAS: [f64; 25] = [
    0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 12.0, 15.0, 18.0, 20.0, 25.0, 30.0, 40.0, 50.0, 70.0,
    100.0, 150.0, 200.0, 300.0, 500.0, 1e3, 1e4, 1e6,
];

/// The expected-value oracle: per task the model maximizing `chance − λ × cost`, over a sweep
/// of λ; `None` when the dataset has no success chances (bench history).
fn expected_oracle(dataset: &Dataset, test: &[usize]) -> Option<Vec<Point>> {
    let labelled = test.iter().all(|&t| {
        dataset.tasks[t]
            .outcomes
            .iter()
            .all(|o| o.p_success.is_some())
    });
    if !labelled {
        return None;
    }
    let n = test.len().max(1) as f64;
    let points = LAMBDAS
        .iter()
        .map(|&lambda| {
            let (mut cost, mut score) = (0.0, 0.0);
            for &t in test {
                let outcomes = &dataset.tasks[t].outcomes;
                let value =
                    |m: usize| outcomes[m].p_success.unwrap_or(0.0) - lambda * outcomes[m].cost_usd;
                let best = (0..outcomes.len())
                    .max_by(|&a, &b| value(a).total_cmp(&value(b)).then(b.cmp(&a)))
                    .unwrap_or(0);
                cost += outcomes[best].cost_usd;
                score += outcomes[best].score;
            }
            Point::new(cost, score / n)
        })
        .collect();
    Some(points)
}

/// Each model alone on the test tasks.
pub(super) fn single_model_points(dataset: &Dataset, test: &[usize]) -> Vec<Point> {
    (0..dataset.models.len())
        .map(|m| {
            let cost = test
                .iter()
                .map(|&t| dataset.tasks[t].outcomes[m].cost_usd)
                .sum();
            let score: f64 = test
                .iter()
                .map(|&t| dataset.tasks[t].outcomes[m].score)
                .sum();
            Point::new(cost, score / test.len() as f64)
        })
        .collect()
}

/// The index of the first point that orders least under `cmp`.
pub(super) fn pick(points: &[Point], cmp: impl Fn(&Point, &Point) -> std::cmp::Ordering) -> usize {
    (0..points.len())
        .min_by(|&a, &b| cmp(&points[a], &points[b]).then(a.cmp(&b)))
        .unwrap_or(0)
}

/// A uniform model per test task, averaged over `random_repeats` seeded draws.
fn random_point(dataset: &Dataset, test: &[usize], options: &EvalOptions) -> Point {
    let mut rng = Rng::stream(options.seed, "random baseline");
    let (mut cost, mut quality) = (0.0, 0.0);
    for _ in 0..options.random_repeats {
        let mut score = 0.0;
        for &t in test {
            let outcome = dataset.tasks[t].outcomes[rng.below(dataset.models.len())];
            cost += outcome.cost_usd;
            score += outcome.score;
        }
        quality += score / test.len() as f64;
    }
    let repeats = f64::from(options.random_repeats);
    Point::new(cost / repeats, quality / repeats)
}

/// The oracle's optimal curve over the test tasks (its last vertex is the full oracle).
fn oracle(dataset: &Dataset, test: &[usize]) -> Vec<Point> {
    let options: Vec<Vec<(f64, f64)>> = test
        .iter()
        .map(|&t| {
            dataset.tasks[t]
                .outcomes
                .iter()
                .map(|o| (o.cost_usd, o.score))
                .collect()
        })
        .collect();
    metrics::oracle_curve(&options)
}

/// A point's PGR and cost relative to always-strongest.
pub(super) struct Relative {
    pub pgr: Option<f64>,
    pub cost_pct: Option<f64>,
}

impl Relative {
    pub fn new(p: Point, cheap: Point, strong: Point) -> Self {
        Self {
            pgr: metrics::pgr(p.quality, cheap, strong),
            cost_pct: (strong.cost > 0.0).then(|| 100.0 * p.cost / strong.cost),
        }
    }
}

/// A baseline from its points (one, or a curve's): the best of them (the highest quality, at
/// the least cost) is reported, with the APGR of them all and the cheapest reaching 95%.
fn policy(name: String, points: &[Point], cheap: Point, strong: Point) -> PolicyResult {
    let best = metrics::envelope(points).last().copied().unwrap_or(cheap);
    let r = Relative::new(best, cheap, strong);
    let at_95 = metrics::cheapest_reaching(points, 0.95 * strong.quality)
        .and_then(|i| Relative::new(points[i], cheap, strong).cost_pct);
    PolicyResult {
        name,
        quality: best.quality,
        cost_usd: best.cost,
        cost_pct_of_strongest: r.cost_pct,
        pgr: r.pgr,
        apgr: metrics::apgr(points, cheap, strong),
        cost_at_95_pct: at_95,
    }
}
