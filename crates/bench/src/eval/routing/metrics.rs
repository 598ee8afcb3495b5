//! The arithmetic of cost–quality curves: Pareto fronts, the upper concave envelope a policy
//! reaches by mixing its configurations, its mean over a cost range, the performance gap
//! recovered (PGR) and its average (APGR), the oracle's optimal curve and the cheapest point
//! reaching a quality. Pure functions over [`Point`]s, tested on hand-made cases.

use serde::Serialize;

/// A policy's result on the test tasks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Total USD over the tasks.
    pub cost: f64,
    /// Mean score over the tasks, 0 to 1.
    pub quality: f64,
}

impl Point {
    pub fn new(cost: f64, quality: f64) -> Self {
        Self { cost, quality }
    }
}

/// Indices of the points no other point beats (at most the cost and at least the quality, one
/// of them strictly), by cost ascending.
pub fn pareto(points: &[Point]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .cost
            .total_cmp(&points[b].cost)
            .then(points[b].quality.total_cmp(&points[a].quality))
            .then(a.cmp(&b))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        if points[i].quality > best {
            best = points[i].quality;
            front.push(i);
        }
    }
    front
}

/// The upper concave envelope of `points`: the best quality reachable at each budget by
/// mixing two of them per request, as its vertices by cost ascending (quality rising). Beyond
/// the last vertex the quality stays flat.
pub fn envelope(points: &[Point]) -> Vec<Point> {
    let front: Vec<Point> = pareto(points).into_iter().map(|i| points[i]).collect();
    let mut hull: Vec<Point> = Vec::with_capacity(front.len());
    for p in front {
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // b is on or under the segment a→p: drop it.
            let cross = (b.cost - a.cost) * (p.quality - a.quality)
                - (b.quality - a.quality) * (p.cost - a.cost);
            if cross >= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    hull
}

/// The envelope's quality at budget `cost` (the first vertex's quality below it, the last's
/// beyond it).
pub fn value_at(envelope: &[Point], cost: f64) -> f64 {
    let Some(first) = envelope.first() else {
        return 0.0;
    };
    if cost <= first.cost {
        return first.quality;
    }
    for w in envelope.windows(2) {
        let (a, b) = (w[0], w[1]);
        if cost <= b.cost {
            let t = (cost - a.cost) / (b.cost - a.cost);
            return a.quality + t * (b.quality - a.quality);
        }
    }
    envelope.last().map_or(0.0, |p| p.quality)
}

/// The envelope's mean quality over budgets uniform in [lo, hi] (exact: it is piecewise
/// linear); its value at `lo` when the range is empty.
pub fn mean_over(envelope: &[Point], lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        return value_at(envelope, lo);
    }
    // Breakpoints inside the range, with both ends.
    let mut xs = vec![lo];
    xs.extend(
        envelope
            .iter()
            .map(|p| p.cost)
            .filter(|&c| c > lo && c < hi),
    );
    xs.push(hi);
    let area: f64 = xs
        .windows(2)
        .map(|w| (w[1] - w[0]) * (value_at(envelope, w[0]) + value_at(envelope, w[1])) / 2.0)
        .sum();
    area / (hi - lo)
}

/// `(quality − cheapest) / (strongest − cheapest)`; `None` when the two are equal.
pub fn pgr(quality: f64, cheapest: Point, strongest: Point) -> Option<f64> {
    let gap = strongest.quality - cheapest.quality;
    (gap.abs() > 1e-12).then(|| (quality - cheapest.quality) / gap)
}

/// RouteLLM's average performance gap recovered: the PGR of the upper concave envelope of
/// `points` and the cheapest point, averaged over budgets uniform in [cheapest cost, strongest
/// cost]. `None` when the cheapest and the strongest have the same quality or the strongest
/// costs no more than the cheapest (no range to average over).
pub fn apgr(points: &[Point], cheapest: Point, strongest: Point) -> Option<f64> {
    if strongest.cost <= cheapest.cost {
        return None;
    }
    let mut all = Vec::with_capacity(points.len() + 1);
    all.push(cheapest);
    all.extend_from_slice(points);
    let curve = envelope(&all);
    pgr(
        mean_over(&curve, cheapest.cost, strongest.cost),
        cheapest,
        strongest,
    )
}

/// The oracle's curve: the most total score any routing reaches at each budget, mixing
/// allowed (the fractional multiple-choice knapsack, solved exactly by taking every task's
/// upgrades in order of score gained per dollar). `tasks[i]` lists task i's options as
/// (cost, score); quality is the mean over tasks. It starts where every task takes its
/// cheapest option (the best score at that cost) and ends where every task takes its best
/// score at the least cost that reaches it.
pub fn oracle_curve(tasks: &[Vec<(f64, f64)>]) -> Vec<Point> {
    let n = tasks.len().max(1) as f64;
    let mut cost = 0.0;
    let mut score = 0.0;
    let mut upgrades: Vec<(f64, f64)> = Vec::new();
    for options in tasks {
        let mut sorted = options.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let Some(&base) = sorted.first() else {
            continue;
        };
        cost += base.0;
        score += base.1;
        let points: Vec<Point> = sorted.iter().map(|&(c, s)| Point::new(c, s)).collect();
        let hull = envelope(&points);
        upgrades.extend(
            hull.windows(2)
                .map(|w| (w[1].cost - w[0].cost, w[1].quality - w[0].quality)),
        );
    }
    // Steepest first; a free upgrade (no added cost) is infinitely steep.
    upgrades.sort_by(|a, b| slope(*b).total_cmp(&slope(*a)));
    let mut curve = vec![Point::new(cost, score / n)];
    for (dc, ds) in upgrades {
        cost += dc;
        score += ds;
        curve.push(Point::new(cost, score / n));
    }
    envelope(&curve)
}

fn slope((dc, ds): (f64, f64)) -> f64 {
    if dc <= 0.0 { f64::INFINITY } else { ds / dc }
}

/// The index of the cheapest point whose quality reaches `target` (at equal cost, the better).
pub fn cheapest_reaching(points: &[Point], target: f64) -> Option<usize> {
    (0..points.len())
        .filter(|&i| points[i].quality + 1e-12 >= target)
        .min_by(|&a, &b| {
            points[a]
                .cost
                .total_cmp(&points[b].cost)
                .then(points[b].quality.total_cmp(&points[a].quality))
                .then(a.cmp(&b))
        })
}

/// The least budget at which the envelope reaches `target`, if it does.
pub fn budget_reaching(envelope: &[Point], target: f64) -> Option<f64> {
    let first = envelope.first()?;
    if first.quality + 1e-12 >= target {
        return Some(first.cost);
    }
    envelope.windows(2).find_map(|w| {
        let (a, b) = (w[0], w[1]);
        (b.quality + 1e-12 >= target).then(|| {
            let t = (target - a.quality) / (b.quality - a.quality);
            a.cost + t * (b.cost - a.cost)
        })
    })
}
