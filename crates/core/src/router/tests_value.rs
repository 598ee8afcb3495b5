//! The `balanced` value rule and the order at equal cost: the most quality for its cost at
//! `quality_threshold` per `cost_threshold`, a cheaper model that is nearly as good preferred,
//! and quality (not tier) deciding between models of the same cost.

use super::*;

fn model(id: &str, tier: Tier, price: Option<(f64, f64)>) -> ModelView {
    ModelView {
        id: id.to_owned(),
        provider: format!("{id}-provider"),
        tier,
        context_window: Some(200_000),
        price: price.map(|(input_per_mtok, output_per_mtok)| Price {
            input_per_mtok,
            output_per_mtok,
        }),
        price_unknown: false,
        quality: QualityPriors::default(),
        measured: MeasuredByCategory::default(),
        health: Health::Healthy,
        latency_p50_ms: None,
    }
}

/// `view` with a fit in reasoning flat at `chance` over every complexity.
fn measured_at(mut view: ModelView, chance: f64) -> ModelView {
    view.measured.set_fit(
        Category::Reasoning,
        ComplexityFit {
            intercept: (chance / (1.0 - chance)).ln(),
            slope: 0.0,
            n: 60,
            min_complexity: 0.0,
            max_complexity: 1.0,
        },
    );
    view
}

/// A 1000 + 1000-token reasoning task of complexity 0.6.
fn task(priority: Priority) -> RouteInput {
    RouteInput {
        text: "a task".into(),
        context_tokens: Some(1000),
        expected_output_tokens: Some(1000),
        complexity: Some(0.6),
        category: Some(Category::Reasoning),
        priority: Some(priority),
    }
}

fn ranked_ids(d: &Decision) -> Vec<&str> {
    d.candidates
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Ranked { .. }))
        .map(|c| c.model.as_str())
        .collect()
}

#[test]
fn the_value_rule_picks_a_cheaper_model_that_is_nearly_as_good() {
    // mid: 0.90 for $0.0048; frontier: 0.93 for $0.018. At 0.7 per $0.02 (35 per USD) the
    // frontier's +0.03 is worth $0.00086, not the $0.0132 it costs more.
    let mid = measured_at(model("mid", Tier::Paid, Some((0.8, 4.0))), 0.90);
    let frontier = measured_at(model("frontier", Tier::Paid, Some((3.0, 15.0))), 0.93);
    let free = measured_at(model("free", Tier::Free, None), 0.55);
    let d = decide(
        &task(Priority::Balanced),
        &[frontier, mid, free],
        &RouterConfig::default(),
    );
    assert_eq!(ranked_ids(&d), ["mid", "free", "frontier"], "{}", d.summary);
    assert!(
        d.summary
            .contains("+0.35 quality over the cheaper free is worth its $0.0048 more"),
        "{}",
        d.summary
    );
    // `quality` priority still takes the best within the cost threshold.
    let d = decide(
        &task(Priority::Quality),
        &[
            measured_at(model("mid", Tier::Paid, Some((0.8, 4.0))), 0.90),
            measured_at(model("frontier", Tier::Paid, Some((3.0, 15.0))), 0.93),
        ],
        &RouterConfig::default(),
    );
    assert_eq!(d.chosen.as_deref(), Some("frontier"), "{}", d.summary);
}

#[test]
fn a_lower_rate_buys_the_better_model_and_the_summary_says_what_it_weighed() {
    let models = [
        measured_at(model("mid", Tier::Paid, Some((0.8, 4.0))), 0.90),
        measured_at(model("frontier", Tier::Paid, Some((3.0, 15.0))), 0.93),
    ];
    // 35 per USD: the frontier's +0.03 would have to cost under $0.00086 more.
    let d = decide(&task(Priority::Balanced), &models, &RouterConfig::default());
    assert_eq!(d.chosen.as_deref(), Some("mid"), "{}", d.summary);
    assert!(
        d.summary
            .contains("frontier's +0.03 quality is not worth its $0.0132 more"),
        "{}",
        d.summary
    );
    // 0.04 per $0.02 (2 per USD): +0.03 is worth $0.015, more than the $0.0132 it costs.
    let lavish = RouterConfig {
        quality_threshold: 0.04,
        ..RouterConfig::default()
    };
    let d = decide(&task(Priority::Balanced), &models, &lavish);
    assert_eq!(d.chosen.as_deref(), Some("frontier"), "{}", d.summary);
    assert!(
        d.summary
            .contains("+0.03 quality over the cheaper mid is worth its $0.0132 more"),
        "{}",
        d.summary
    );
}

#[test]
fn at_equal_cost_quality_beats_tier() {
    // Cause 3 of the routing eval: local-3b was chosen over free-70b, also $0 and far better.
    let local = measured_at(model("local-3b", Tier::Local, None), 0.40);
    let free = measured_at(model("free-70b", Tier::Free, None), 0.80);
    let config = RouterConfig {
        quality_threshold: 0.3,
        ..RouterConfig::default()
    };
    for priority in [Priority::Cost, Priority::Balanced] {
        let d = decide(&task(priority), &[local.clone(), free.clone()], &config);
        assert_eq!(ranked_ids(&d), ["free-70b", "local-3b"], "{priority}");
    }
}

#[test]
fn at_equal_cost_tier_defaults_keep_local_before_free() {
    // Nothing configured or measured: the tiers' 0.5 and 0.6 say nothing about these two.
    let local = model("local", Tier::Local, None);
    let free = model("free", Tier::Free, None);
    let models = [free.clone(), local.clone()];
    let d = decide(&task(Priority::Cost), &models, &RouterConfig::default());
    assert_eq!(d.chosen.as_deref(), Some("local"), "{}", d.summary);
    // `balanced`, on an easy task: both count up to the bar + 0.15 (0.29), a tie.
    let easy = RouteInput {
        complexity: Some(0.2),
        ..task(Priority::Balanced)
    };
    let d = decide(&easy, &models, &RouterConfig::default());
    assert_eq!(d.chosen.as_deref(), Some("local"), "{}", d.summary);
    // A configured quality is evidence.
    let mut rated = free;
    rated.quality.default = Some(0.6);
    let d = decide(
        &task(Priority::Cost),
        &[local, rated],
        &RouterConfig::default(),
    );
    assert_eq!(d.chosen.as_deref(), Some("free"), "{}", d.summary);
}

#[test]
fn a_quality_measured_at_the_tasks_complexity_counts_in_full_and_a_prior_only_near_the_bar() {
    // Complexity 0.6 at 0.7: the bar is 0.42; a prior counts up to 0.57.
    let prior = ModelView {
        quality: QualityPriors {
            default: Some(0.95),
            ..QualityPriors::default()
        },
        ..model("rated", Tier::Paid, Some((0.1, 0.1)))
    };
    let free = measured_at(model("free", Tier::Free, None), 0.60);
    let d = decide(
        &task(Priority::Balanced),
        &[prior.clone(), free.clone()],
        &RouterConfig::default(),
    );
    assert_eq!(d.chosen.as_deref(), Some("free"), "{}", d.summary);
    let measured = measured_at(prior, 0.95);
    let d = decide(
        &task(Priority::Balanced),
        &[measured, free],
        &RouterConfig::default(),
    );
    assert_eq!(d.chosen.as_deref(), Some("rated"), "{}", d.summary);
}

#[test]
fn a_fit_read_far_from_the_tasks_complexity_counts_only_near_the_bar() {
    // Benched only on easy tasks (0.1–0.3): on this 0.6 task its 0.95 is read at 0.3.
    let mut easy_only = model("rated", Tier::Paid, Some((0.1, 0.1)));
    easy_only.measured.set_fit(
        Category::Reasoning,
        ComplexityFit {
            intercept: (0.95f64 / 0.05).ln(),
            slope: 0.0,
            n: 60,
            min_complexity: 0.1,
            max_complexity: 0.3,
        },
    );
    let free = measured_at(model("free", Tier::Free, None), 0.60);
    let d = decide(
        &task(Priority::Balanced),
        &[easy_only, free],
        &RouterConfig::default(),
    );
    assert_eq!(d.chosen.as_deref(), Some("free"), "{}", d.summary);
    let Some(rated) = d.candidates.iter().find(|c| c.model == "rated") else {
        panic!("{d:?}");
    };
    let Verdict::Ranked { reason, .. } = &rated.verdict else {
        panic!("{rated:?}");
    };
    assert!(
        reason.contains("quality 0.95 measured (n=60) at complexity 0.30")
            && reason.ends_with("(quality counted up to 0.57: not measured at this complexity)"),
        "{reason}"
    );
}
