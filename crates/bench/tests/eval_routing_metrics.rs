//! The routing eval's curve arithmetic on hand-made cases: PGR and APGR of the reference
//! policies, the concave envelope, its exact mean, the oracle's optimal curve and the cheapest
//! point reaching a quality.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fusion_bench::eval::routing::metrics::{
    Point, apgr, budget_reaching, cheapest_reaching, envelope, mean_over, oracle_curve, pareto,
    pgr, value_at,
};

const CHEAP: Point = Point {
    cost: 0.0,
    quality: 0.4,
};
const STRONG: Point = Point {
    cost: 10.0,
    quality: 0.9,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn apgr_of_always_cheapest_is_zero() {
    assert_eq!(pgr(CHEAP.quality, CHEAP, STRONG), Some(0.0));
    let a = apgr(&[CHEAP], CHEAP, STRONG).unwrap();
    assert!(close(a, 0.0), "{a}");
}

#[test]
fn pgr_of_always_strongest_is_one_and_its_apgr_is_the_random_mix_half() {
    assert!(close(pgr(STRONG.quality, CHEAP, STRONG).unwrap(), 1.0));
    // Its envelope is the straight mix of the cheapest and the strongest: PGR rises from 0 to
    // 1 over the cost range, 0.5 on average.
    let a = apgr(&[STRONG], CHEAP, STRONG).unwrap();
    assert!(close(a, 0.5), "{a}");
}

#[test]
fn apgr_is_one_for_strongest_quality_at_the_cheapest_cost_and_above_one_beyond() {
    let free_and_strong = Point::new(0.0, 0.9);
    assert!(close(apgr(&[free_and_strong], CHEAP, STRONG).unwrap(), 1.0));
    let better = Point::new(0.0, 1.0);
    assert!(apgr(&[better], CHEAP, STRONG).unwrap() > 1.0);
}

#[test]
fn apgr_is_undefined_without_a_quality_gap_or_a_cost_range() {
    assert_eq!(apgr(&[CHEAP], CHEAP, Point::new(10.0, 0.4)), None);
    assert_eq!(apgr(&[CHEAP], CHEAP, Point::new(0.0, 0.9)), None);
    assert_eq!(pgr(0.5, CHEAP, Point::new(3.0, 0.4)), None);
}

#[test]
fn a_router_point_at_a_quarter_of_the_cost_with_most_of_the_gap_scores_high() {
    // 90% of the gap at 25% of the cost: the envelope climbs to 0.85 by cost 2.5, then flat.
    let router = Point::new(2.5, 0.85);
    let a = apgr(&[router], CHEAP, STRONG).unwrap();
    // PGR rises linearly to 0.9 at cost 2.5, then stays: mean 0.9 × (1.25 + 7.5) / 10.
    assert!(close(a, 0.9 * (1.25 + 7.5) / 10.0), "{a}");
    assert!(a > apgr(&[STRONG], CHEAP, STRONG).unwrap());
}

#[test]
fn pareto_keeps_only_points_nothing_beats() {
    let points = [
        Point::new(1.0, 0.5),
        Point::new(2.0, 0.4), // dearer and worse than the first
        Point::new(2.0, 0.7),
        Point::new(0.5, 0.5), // cheaper than the first at the same quality
        Point::new(3.0, 0.7), // dearer at the same quality
    ];
    assert_eq!(pareto(&points), vec![3, 2]);
}

#[test]
fn envelope_mixes_points_and_stays_flat_beyond_the_dearest() {
    // (1, 0.5) is under the segment (0, 0.4) → (2, 0.8): mixing the two beats it.
    let env = envelope(&[
        Point::new(0.0, 0.4),
        Point::new(1.0, 0.5),
        Point::new(2.0, 0.8),
    ]);
    assert_eq!(env, vec![Point::new(0.0, 0.4), Point::new(2.0, 0.8)]);
    assert!(close(value_at(&env, 1.0), 0.6));
    assert!(close(value_at(&env, 5.0), 0.8));
    assert!(close(value_at(&env, -1.0), 0.4));
}

#[test]
fn mean_over_integrates_the_envelope_exactly() {
    let env = [Point::new(0.0, 0.0), Point::new(2.0, 1.0)];
    // Over [0, 4]: a triangle of area 1 then a rectangle of area 2.
    assert!(close(mean_over(&env, 0.0, 4.0), 0.75));
    assert!(close(mean_over(&env, 1.0, 1.0), 0.5));
}

#[test]
fn oracle_takes_upgrades_by_score_per_dollar_and_ends_at_the_cheapest_success() {
    // Task A: the free model fails, a $1 model succeeds, a $5 one too.
    // Task B: the free model succeeds.
    // Task C: only the $4 model succeeds.
    let tasks = vec![
        vec![(0.0, 0.0), (1.0, 1.0), (5.0, 1.0)],
        vec![(0.0, 1.0), (1.0, 1.0), (5.0, 1.0)],
        vec![(0.0, 0.0), (4.0, 1.0), (5.0, 0.0)],
    ];
    let curve = oracle_curve(&tasks);
    assert_eq!(
        curve,
        vec![
            Point::new(0.0, 1.0 / 3.0),
            Point::new(1.0, 2.0 / 3.0),
            Point::new(5.0, 1.0),
        ]
    );
}

#[test]
fn oracle_is_at_least_every_policy_at_every_budget() {
    let tasks = vec![
        vec![(0.0, 0.0), (1.0, 1.0), (3.0, 1.0)],
        vec![(0.0, 1.0), (1.0, 0.0), (3.0, 1.0)],
        vec![(0.0, 0.0), (1.0, 0.0), (3.0, 1.0)],
        vec![(0.0, 0.5), (1.0, 0.75), (3.0, 0.25)],
    ];
    let oracle = oracle_curve(&tasks);
    // Every deterministic assignment of a model to each task (3^4 of them).
    let mut policies = Vec::new();
    for code in 0..81u32 {
        let (mut cost, mut score, mut c) = (0.0, 0.0, code);
        for options in &tasks {
            let (oc, os) = options[(c % 3) as usize];
            cost += oc;
            score += os;
            c /= 3;
        }
        policies.push(Point::new(cost, score / 4.0));
    }
    for p in &policies {
        assert!(
            value_at(&oracle, p.cost) + 1e-12 >= p.quality,
            "{p:?} beats the oracle"
        );
    }
    let cheap = Point::new(0.0, 1.5 / 4.0);
    let strong = Point::new(12.0, 3.25 / 4.0);
    let best = apgr(&oracle, cheap, strong).unwrap();
    for p in &policies {
        assert!(apgr(&[*p], cheap, strong).unwrap() <= best + 1e-12);
    }
    assert!(apgr(&policies, cheap, strong).unwrap() <= best + 1e-12);
}

#[test]
fn cheapest_reaching_picks_the_least_cost_at_or_above_the_target() {
    let points = [
        Point::new(3.0, 0.95),
        Point::new(1.0, 0.90),
        Point::new(2.0, 0.96),
        Point::new(1.0, 0.80),
    ];
    assert_eq!(cheapest_reaching(&points, 0.9), Some(1));
    assert_eq!(cheapest_reaching(&points, 0.95), Some(2));
    assert_eq!(cheapest_reaching(&points, 0.99), None);
    let env = envelope(&[Point::new(0.0, 0.5), Point::new(4.0, 1.0)]);
    assert!(close(budget_reaching(&env, 0.75).unwrap(), 2.0));
    assert_eq!(budget_reaching(&env, 1.1), None);
}
