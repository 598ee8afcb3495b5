//! Routing of models whose price nobody states (a hosted model neither the config nor a catalog
//! prices) and of models their provider limits (HTTP 429 cooldown, daily cap).

use super::*;

fn model(id: &str, tier: Tier, price: Option<(f64, f64)>) -> ModelView {
    ModelView {
        id: id.to_owned(),
        provider: "or".to_owned(),
        tier,
        context_window: Some(128_000),
        price: price.map(|(input_per_mtok, output_per_mtok)| Price {
            input_per_mtok,
            output_per_mtok,
        }),
        price_unknown: false,
        quality: QualityPriors {
            default: Some(0.7),
            ..QualityPriors::default()
        },
        measured: MeasuredByCategory::default(),
        health: Health::Healthy,
        latency_p50_ms: None,
    }
}

/// A free model, a cheap paid one, and a hosted model of unknown price (fastest of all).
fn table() -> Vec<ModelView> {
    let mut free = model("free:free", Tier::Free, Some((0.0, 0.0)));
    free.latency_p50_ms = Some(900.0);
    let mut cheap = model("cheap", Tier::Paid, Some((0.1, 0.2)));
    cheap.latency_p50_ms = Some(500.0);
    let mut mystery = model("a-mystery", Tier::Paid, None);
    mystery.price_unknown = true;
    mystery.latency_p50_ms = Some(10.0);
    mystery.quality.default = Some(0.99);
    vec![free, cheap, mystery]
}

fn task(priority: Priority) -> RouteInput {
    RouteInput {
        text: "a task".into(),
        context_tokens: Some(800),
        expected_output_tokens: Some(400),
        complexity: Some(0.5),
        category: Some(Category::Chat),
        priority: Some(priority),
    }
}

fn verdict<'a>(d: &'a Decision, id: &str) -> &'a Verdict {
    match d.candidates.iter().find(|c| c.model == id) {
        Some(c) => &c.verdict,
        None => panic!("{id} missing from {:#?}", d.candidates),
    }
}

#[test]
fn under_free_only_an_unknown_price_is_rejected_and_says_why() {
    let config = RouterConfig {
        free_only: true,
        ..RouterConfig::default()
    };
    let d = decide(&task(Priority::Quality), &table(), &config);
    assert_eq!(d.chosen.as_deref(), Some("free:free"), "{}", d.summary);
    match verdict(&d, "a-mystery") {
        Verdict::Rejected { reason } => assert_eq!(
            reason,
            "price unknown (not in config or catalog), and router.free_only is set"
        ),
        other => panic!("{other:?}"),
    }
    match verdict(&d, "cheap") {
        Verdict::Rejected { reason } => assert!(reason.contains("paid model"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let only = decide(&task(Priority::Cost), &table()[2..], &config);
    assert!(
        only.summary.contains("of unknown price (free_only is set)"),
        "{}",
        only.summary
    );
}

#[test]
fn an_unknown_price_ranks_after_every_known_price_under_every_priority() {
    let config = RouterConfig {
        cost_threshold: 1.0,
        ..RouterConfig::default()
    };
    for priority in Priority::ALL {
        let d = decide(&task(priority), &table(), &config);
        let last = d
            .candidates
            .iter()
            .rfind(|c| matches!(c.verdict, Verdict::Ranked { .. }));
        assert_eq!(
            last.map(|c| c.model.as_str()),
            Some("a-mystery"),
            "{priority}: {:#?}",
            d.candidates
        );
        match verdict(&d, "a-mystery") {
            Verdict::Ranked { reason, .. } => {
                assert!(
                    reason.contains("price unknown (not in config or catalog)"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    let alone = decide(&task(Priority::Cost), &table()[2..], &config);
    assert_eq!(alone.chosen.as_deref(), Some("a-mystery"));
    assert!(
        alone.summary.contains("its price is unknown"),
        "{}",
        alone.summary
    );
}

#[test]
fn rate_limited_and_capped_models_are_skipped_until_they_may_be_called_again() {
    let mut models = table();
    models[0].health = Health::DailyCapReached {
        limit: Some(50),
        used: 50,
        resets_in_ms: 5 * 3_600_000,
    };
    models[1].health = Health::RateLimited { retry_in_ms: 3_000 };
    let d = decide(&task(Priority::Cost), &models, &RouterConfig::default());
    assert_eq!(d.chosen.as_deref(), Some("a-mystery"), "{}", d.summary);
    match verdict(&d, "free:free") {
        Verdict::Rejected { reason } => assert_eq!(
            reason,
            "daily request cap of its provider reached (50 of 50 requests today); resets in 5 h"
        ),
        other => panic!("{other:?}"),
    }
    match verdict(&d, "cheap") {
        Verdict::Rejected { reason } => assert_eq!(
            reason,
            "rate-limited by its provider (HTTP 429); retries in 3000 ms"
        ),
        other => panic!("{other:?}"),
    }
}
