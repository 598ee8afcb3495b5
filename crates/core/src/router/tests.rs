//! Table-driven tests of routing decisions over one fixed table of six models.

use super::*;
use fusion_types::Role;

fn model(id: &str, tier: Tier, quality: f64, price: Option<(f64, f64)>) -> ModelView {
    ModelView {
        id: id.to_owned(),
        provider: format!("{id}-provider"),
        tier,
        context_window: Some(128_000),
        price_unknown: false,
        price: price.map(|(input_per_mtok, output_per_mtok)| Price {
            input_per_mtok,
            output_per_mtok,
        }),
        quality: QualityPriors {
            default: Some(quality),
            ..QualityPriors::default()
        },
        measured: MeasuredByCategory::default(),
        health: Health::Healthy,
        latency_p50_ms: None,
    }
}

/// local weak, local good, free, cheap paid, expensive paid, paid without a price.
fn table() -> Vec<ModelView> {
    let mut weak = model("local-weak", Tier::Local, 0.45, None);
    weak.context_window = Some(8192);
    weak.latency_p50_ms = Some(900.0);
    let mut good = model("local-good", Tier::Local, 0.72, None);
    good.context_window = Some(32_768);
    good.latency_p50_ms = Some(1200.0);
    let mut free = model("free", Tier::Free, 0.0, None);
    free.quality = QualityPriors::default(); // the tier default, 0.6
    free.latency_p50_ms = Some(340.0);
    let mut cheap = model("cheap-paid", Tier::Paid, 0.9, Some((0.15, 0.6)));
    cheap.latency_p50_ms = Some(500.0);
    let mut dear = model("expensive-paid", Tier::Paid, 0.95, Some((15.0, 75.0)));
    dear.latency_p50_ms = Some(800.0);
    let unpriced = model("paid-no-price", Tier::Paid, 0.93, None);
    vec![weak, good, free, cheap, dear, unpriced]
}

/// A 800 + 400-token chat task of complexity 0.5 (required quality 0.35 by default).
fn task() -> RouteInput {
    RouteInput {
        text: "a task".into(),
        context_tokens: Some(800),
        expected_output_tokens: Some(400),
        complexity: Some(0.5),
        category: Some(Category::Chat),
        priority: None,
    }
}

/// Default thresholds, but a cost cap of $0.05 so that `expensive-paid` ($0.042) passes.
fn config() -> RouterConfig {
    RouterConfig {
        cost_threshold: 0.05,
        ..RouterConfig::default()
    }
}

fn ranked_ids(d: &Decision) -> Vec<&str> {
    d.candidates
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Ranked { .. }))
        .map(|c| c.model.as_str())
        .collect()
}

fn verdict<'a>(d: &'a Decision, id: &str) -> &'a Verdict {
    match d.candidates.iter().find(|c| c.model == id) {
        Some(c) => &c.verdict,
        None => panic!("{id} missing from {:#?}", d.candidates),
    }
}

fn rejection<'a>(d: &'a Decision, id: &str) -> &'a str {
    match verdict(d, id) {
        Verdict::Rejected { reason } => reason,
        other => panic!("{id} should be rejected: {other:?}"),
    }
}

fn ranked_reason<'a>(d: &'a Decision, id: &str) -> &'a str {
    match verdict(d, id) {
        Verdict::Ranked { reason, .. } => reason,
        other => panic!("{id} should be ranked: {other:?}"),
    }
}

#[test]
fn balanced_pays_for_quality_a_prior_credits_only_up_to_the_bar_plus_room_to_spare() {
    // Complexity 0.9 needs 0.63: local-good (0.72) passes, and cheap-paid's prior 0.90 counts
    // up to 0.78 (the bar + 0.15); +0.06 is worth its $0.00036 at 0.7 per $0.05.
    let input = RouteInput {
        complexity: Some(0.9),
        priority: Some(Priority::Balanced),
        ..task()
    };
    let d = decide(&input, &table(), &config());
    assert_eq!(d.chosen.as_deref(), Some("cheap-paid"), "{}", d.summary);
    assert_eq!(d.fallbacks[0], "local-good");
    assert!(
        d.summary.contains(
            "most quality for its cost at 0.7 quality per $0.05 (quality_threshold per \
             cost_threshold): +0.06 quality over the cheaper local-good is worth its $0.00036 more"
        ),
        "{}",
        d.summary
    );
    // On an easy task every prior counts only up to 0.29: no quality is worth paying for.
    let easy = RouteInput {
        complexity: Some(0.2),
        ..input
    };
    let d = decide(&easy, &table(), &config());
    assert_eq!(d.chosen.as_deref(), Some("local-good"), "{}", d.summary);
    assert!(
        d.summary.contains(
            "expensive-paid rates higher (0.95) but a quality not measured at this complexity \
             counts only up to 0.29 (the bar + 0.15)"
        ),
        "{}",
        d.summary
    );
    assert!(
        ranked_reason(&d, "cheap-paid").ends_with(
            "; value 0.28 (quality counted up to 0.29: not measured at this complexity)"
        ),
        "{}",
        ranked_reason(&d, "cheap-paid")
    );
}

#[test]
fn each_priority_picks_its_model_from_the_table() {
    let cases = [
        // At equal cost, the better quality first (local-weak's 0.45 after free's 0.60).
        (
            Priority::Cost,
            [
                "local-good",
                "free",
                "local-weak",
                "cheap-paid",
                "expensive-paid",
                "paid-no-price",
            ],
        ),
        // By value: every prior counts up to 0.50 (the 0.35 bar + 0.15), less the cost at 0.7
        // per $0.05 — cheap-paid 0.495 before local-weak 0.45, expensive-paid last of the
        // priced.
        (
            Priority::Balanced,
            [
                "local-good",
                "free",
                "cheap-paid",
                "local-weak",
                "expensive-paid",
                "paid-no-price",
            ],
        ),
        (
            Priority::Quality,
            [
                "expensive-paid",
                "cheap-paid",
                "local-good",
                "free",
                "local-weak",
                "paid-no-price",
            ],
        ),
        (
            Priority::Speed,
            [
                "free",
                "cheap-paid",
                "expensive-paid",
                "local-weak",
                "local-good",
                "paid-no-price",
            ],
        ),
    ];
    let models = table();
    for (priority, order) in cases {
        let input = RouteInput {
            priority: Some(priority),
            ..task()
        };
        let d = decide(&input, &models, &config());
        assert_eq!(d.priority, priority);
        assert_eq!(
            d.chosen.as_deref(),
            Some(order[0]),
            "{priority}: {}",
            d.summary
        );
        assert_eq!(ranked_ids(&d), order, "{priority}");
        assert_eq!(d.candidates.len(), models.len());
    }
}

#[test]
fn the_configured_priority_applies_when_the_input_names_none() {
    let hard = RouteInput {
        complexity: Some(0.9),
        ..task()
    };
    let d = decide(&hard, &table(), &config());
    assert_eq!(d.priority, Priority::Balanced);
    assert_eq!(d.chosen.as_deref(), Some("cheap-paid"));
    assert!(
        d.summary.contains("most quality for its cost"),
        "{}",
        d.summary
    );
    assert!(ranked_reason(&d, "cheap-paid").contains("; value 0.77 (quality counted up to 0.78"));
    assert!(ranked_reason(&d, "local-good").ends_with("; value 0.72"));
}

#[test]
fn summary_and_reasons_say_where_and_why() {
    let input = RouteInput {
        priority: Some(Priority::Cost),
        ..task()
    };
    let d = decide(&input, &table(), &config());
    assert!(
        d.summary.starts_with(
            "chose local-good (local, quality 0.72 prior ≥ 0.35, $0) — cheapest that meets the bar"
        ),
        "{}",
        d.summary
    );
    assert_eq!(
        ranked_reason(&d, "free"),
        "2nd: free, quality 0.60 prior, $0, p50 340 ms"
    );
    assert!(ranked_reason(&d, "cheap-paid").starts_with("4th: paid, quality 0.90 prior, $0.00036"));
}

#[test]
fn context_overflow_is_rejected_when_the_window_is_known() {
    let input = RouteInput {
        context_tokens: Some(10_000),
        ..task()
    };
    let d = decide(&input, &table(), &config());
    assert_eq!(
        rejection(&d, "local-weak"),
        "context does not fit: 10400 tokens (input + expected output) > its 8192-token window"
    );
    assert!(matches!(verdict(&d, "local-good"), Verdict::Ranked { .. }));
    let mut models = table();
    models[0].context_window = None; // unknown window: assumed to fit
    let d = decide(&input, &models, &config());
    assert!(matches!(verdict(&d, "local-weak"), Verdict::Ranked { .. }));
}

#[test]
fn unhealthy_models_are_rejected_and_half_open_ones_are_routable() {
    let cases = [
        (
            Health::CircuitOpen {
                retry_in_ms: 12_500,
            },
            Some("circuit open after repeated failures; retries in 12.5 s"),
        ),
        (
            Health::Unreachable,
            Some("unreachable: its last health probe failed"),
        ),
        (Health::HalfOpen, None),
        (Health::Unknown, None),
    ];
    for (health, rejected) in cases {
        let mut models = table();
        models[1].health = health; // local-good
        let input = RouteInput {
            priority: Some(Priority::Cost),
            ..task()
        };
        let d = decide(&input, &models, &config());
        match rejected {
            Some(reason) => {
                assert_eq!(rejection(&d, "local-good"), reason);
                assert_eq!(d.chosen.as_deref(), Some("free"), "the next best at $0");
            }
            None => assert_eq!(d.chosen.as_deref(), Some("local-good"), "{health:?}"),
        }
    }
}

#[test]
fn healthy_beats_half_open_at_equal_keys_and_ids_break_the_rest() {
    let mut a = model("a", Tier::Local, 0.7, None);
    a.health = Health::HalfOpen;
    let b = model("b", Tier::Local, 0.7, None);
    let c = model("c", Tier::Local, 0.7, None);
    let d = decide(&task(), &[c, a, b], &config());
    assert_eq!(ranked_ids(&d), ["b", "c", "a"]);
    assert!(ranked_reason(&d, "a").contains("half-open"));
}

#[test]
fn quality_gate_rejects_a_weak_model_for_a_complex_task_only() {
    let cases = [(1.0, 0.7, true), (0.5, 0.35, false), (0.05, 0.14, false)];
    for (complexity, required, weak_rejected) in cases {
        let input = RouteInput {
            complexity: Some(complexity),
            ..task()
        };
        let d = decide(&input, &table(), &config());
        assert!((d.required_quality - required).abs() < 1e-9, "{complexity}");
        let rejected = matches!(verdict(&d, "local-weak"), Verdict::Rejected { .. });
        assert_eq!(rejected, weak_rejected, "complexity {complexity}");
        if weak_rejected {
            assert_eq!(
                rejection(&d, "local-weak"),
                "quality 0.45 prior for chat < required 0.70"
            );
        }
    }
}

#[test]
fn category_priors_override_the_default_quality() {
    let mut models = table();
    models[0].quality.by_category.insert(Category::Code, 0.95);
    let input = RouteInput {
        category: Some(Category::Code),
        complexity: Some(1.0),
        priority: Some(Priority::Cost),
        ..task()
    };
    let d = decide(&input, &models, &config());
    assert_eq!(d.chosen.as_deref(), Some("local-weak"), "{}", d.summary);
}

#[test]
fn cost_threshold_rejects_an_expensive_model_except_under_speed() {
    let default = RouterConfig::default(); // $0.02
    for priority in [Priority::Cost, Priority::Balanced, Priority::Quality] {
        let input = RouteInput {
            priority: Some(priority),
            ..task()
        };
        let d = decide(&input, &table(), &default);
        assert_eq!(
            rejection(&d, "expensive-paid"),
            "estimated cost $0.042 > cost threshold $0.02",
            "{priority}"
        );
    }
    let input = RouteInput {
        priority: Some(Priority::Speed),
        ..task()
    };
    let d = decide(&input, &table(), &default);
    assert!(matches!(
        verdict(&d, "expensive-paid"),
        Verdict::Ranked { .. }
    ));
}

#[test]
fn a_paid_model_without_a_price_is_kept_but_ranked_after_priced_ones() {
    let cap_zero = RouterConfig {
        cost_threshold: 0.0,
        ..RouterConfig::default()
    };
    let input = RouteInput {
        priority: Some(Priority::Quality),
        ..task()
    };
    let d = decide(&input, &table(), &cap_zero);
    assert!(matches!(
        verdict(&d, "cheap-paid"),
        Verdict::Rejected { .. }
    ));
    assert_eq!(ranked_ids(&d).last(), Some(&"paid-no-price"));
    assert!(ranked_reason(&d, "paid-no-price").contains("no price configured"));
    let report = d.candidates.iter().find(|c| c.model == "paid-no-price");
    assert_eq!(report.map(|c| c.estimated_cost_usd), Some(None));
}

#[test]
fn over_the_token_threshold_local_and_free_rank_ahead_of_paid_under_cost_and_speed() {
    let big = RouteInput {
        context_tokens: Some(3000),
        expected_output_tokens: Some(1000),
        priority: Some(Priority::Cost),
        ..task()
    };
    let d = decide(&big, &table(), &config());
    assert_eq!(d.chosen.as_deref(), Some("local-good"), "{}", d.summary);
    assert!(
        d.summary.contains("4000 tokens > token_threshold 1500"),
        "{}",
        d.summary
    );
    assert!(ranked_reason(&d, "cheap-paid").contains("after local and free models"));

    let speed = RouteInput {
        priority: Some(Priority::Speed),
        ..big.clone()
    };
    let d = decide(&speed, &table(), &config());
    assert_eq!(
        ranked_ids(&d),
        [
            "free",
            "local-weak",
            "local-good",
            "cheap-paid",
            "expensive-paid",
            "paid-no-price"
        ]
    );

    // `quality` ignores it, and `balanced` weighs each model's cost of the big task instead.
    for priority in [Priority::Quality, Priority::Balanced] {
        let d = decide(
            &RouteInput {
                priority: Some(priority),
                complexity: Some(0.9),
                ..big.clone()
            },
            &table(),
            &config(),
        );
        assert_eq!(d.chosen.as_deref(), Some("cheap-paid"), "{priority}");
        assert!(!d.summary.contains("token_threshold"), "{}", d.summary);
    }

    let strict = RouterConfig {
        quality_threshold: 0.85,
        ..config()
    };
    let hard = RouteInput {
        complexity: Some(1.0),
        ..big
    };
    let d = decide(&hard, &table(), &strict);
    assert_eq!(
        d.chosen.as_deref(),
        Some("cheap-paid"),
        "paid when nothing cheaper passes"
    );
    assert!(
        d.summary.contains("no local or free model qualifies"),
        "{}",
        d.summary
    );
}

#[test]
fn free_only_rejects_every_paid_model() {
    let free_only = RouterConfig {
        free_only: true,
        ..config()
    };
    let d = decide(&task(), &table(), &free_only);
    assert_eq!(d.chosen.as_deref(), Some("local-good"));
    for id in ["cheap-paid", "expensive-paid", "paid-no-price"] {
        assert_eq!(rejection(&d, id), "paid model, and router.free_only is set");
    }
}

#[test]
fn fallbacks_are_the_next_ranked_up_to_the_retry_budget() {
    let input = RouteInput {
        priority: Some(Priority::Cost),
        ..task()
    };
    let cases: [(u32, &[&str]); 3] = [
        (0, &[]),
        (2, &["free", "local-weak"]),
        (
            10,
            &[
                "free",
                "local-weak",
                "cheap-paid",
                "expensive-paid",
                "paid-no-price",
            ],
        ),
    ];
    for (budget, want) in cases {
        let cfg = RouterConfig {
            retry_budget: budget,
            ..config()
        };
        let d = decide(&input, &table(), &cfg);
        assert_eq!(d.fallbacks, want, "budget {budget}");
    }
}

#[test]
fn no_candidates_chooses_nothing_and_says_why() {
    let d = decide(&task(), &[], &config());
    assert_eq!(d.chosen, None);
    assert!(d.summary.contains("no models"), "{}", d.summary);

    let mut models = table();
    for m in &mut models {
        m.health = Health::Unreachable;
    }
    models[0].context_window = Some(100);
    models[1].quality.default = Some(0.1);
    let d = decide(&task(), &models, &RouterConfig::default());
    assert_eq!(d.chosen, None);
    assert!(d.fallbacks.is_empty());
    assert_eq!(
        d.summary,
        "no model qualifies: all 6 models were rejected — 1 with a context window too small \
         for 1200 tokens, 1 below the required quality 0.35 for chat, 1 over the cost \
         threshold, 3 unreachable"
    );
}

#[test]
fn cost_is_zero_for_local_and_free_and_priced_for_paid() {
    let local = model("l", Tier::Local, 0.5, Some((5.0, 5.0)));
    let free = model("f", Tier::Free, 0.5, Some((1.0, 1.0)));
    let paid = model("p", Tier::Paid, 0.5, Some((3.0, 15.0)));
    let unpriced = model("u", Tier::Paid, 0.5, None);
    let cases = [
        (&local, Some(0.0)),
        (&free, Some(0.0)),
        (&paid, Some((3.0 * 1000.0 + 15.0 * 500.0) / 1e6)),
        (&unpriced, None),
    ];
    for (m, want) in cases {
        assert_eq!(cost_usd(m, 1000, 500), want, "{}", m.id);
    }
}

#[test]
fn quality_comes_from_the_category_then_the_default_then_the_tier() {
    let mut m = model("m", Tier::Free, 0.65, None);
    m.quality.by_category.insert(Category::Code, 0.9);
    assert_eq!(quality_for(&m, Category::Code), 0.9);
    assert_eq!(quality_for(&m, Category::Chat), 0.65);
    for (tier, want) in [(Tier::Local, 0.5), (Tier::Free, 0.6), (Tier::Paid, 0.8)] {
        let mut bare = model("b", tier, 0.0, None);
        bare.quality = QualityPriors::default();
        assert_eq!(quality_for(&bare, Category::Reasoning), want);
    }
}

#[test]
fn from_messages_joins_text_and_counts_tokens() {
    let messages = [
        ChatMessage::text(Role::System, "You are terse."),
        ChatMessage::text(Role::User, "Fix the bug in this function"),
    ];
    let input = RouteInput::from_messages(&messages);
    assert_eq!(input.text, "You are terse.\nFix the bug in this function");
    assert_eq!(
        input.context_tokens,
        Some(crate::tokens::estimate_messages(&messages))
    );
    let d = decide(&input, &table(), &config());
    assert_eq!(d.estimate.category, Category::Code);
    assert!(!d.estimate.input_tokens_estimated);
}

#[test]
fn a_decision_serializes_with_flat_verdicts_and_tagged_health() {
    let mut models = table();
    models[1].health = Health::CircuitOpen { retry_in_ms: 500 };
    let d = decide(&task(), &models, &config());
    let json = serde_json::to_value(&d).unwrap();
    let first = &json["candidates"][0];
    assert_eq!(first["verdict"], "ranked");
    assert_eq!(first["rank"], 1);
    assert_eq!(first["health"]["state"], "healthy");
    let open = json["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "local-good")
        .unwrap();
    assert_eq!(open["verdict"], "rejected");
    assert_eq!(open["health"]["state"], "circuit_open");
    assert_eq!(open["health"]["retry_in_ms"], 500);
    assert_eq!(json["priority"], "balanced");
    assert_eq!(json["estimate"]["category"], "chat");
}
