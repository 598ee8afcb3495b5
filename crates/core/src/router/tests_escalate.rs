//! Escalation to a council (`[router.escalate]`): which tasks go to the council, how it is
//! priced and rated, and what the decision says.

use super::*;
use crate::config::EscalateConfig;

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

/// Two local models (0.6 and 0.7) and a paid one (0.78, $1 in / $2 out per Mtok).
fn models() -> Vec<ModelView> {
    vec![
        model("small", Tier::Local, 0.6, None),
        model("medium", Tier::Local, 0.7, None),
        model("paid", Tier::Paid, 0.78, Some((1.0, 2.0))),
    ]
}

fn seat(model: &str) -> SeatView {
    SeatView {
        model: model.to_owned(),
        max_tokens: None,
    }
}

/// `deep`: small, medium and paid on the panel, medium judges and synthesizes.
fn council() -> CouncilView {
    CouncilView {
        name: "deep".into(),
        panel: vec![seat("small"), seat("medium"), seat("paid")],
        judge: seat("medium"),
        synthesizer: seat("medium"),
        measured: MeasuredByCategory::default(),
        reviewed: None,
    }
}

/// Quality threshold 0.85 (a complexity-1 task needs 0.85), a $0.05 cost cap, escalation to
/// `deep` with a prior of 0.9.
fn config() -> RouterConfig {
    RouterConfig {
        quality_threshold: 0.85,
        cost_threshold: 0.05,
        escalate: Some(EscalateConfig {
            council: "deep".into(),
            when_unmet: true,
            above_complexity: None,
            prior: Some(0.9),
            max_cost_usd: None,
        }),
        ..RouterConfig::default()
    }
}

/// A 1000 + 500-token reasoning task of `complexity`.
fn task(complexity: f64) -> RouteInput {
    RouteInput {
        text: "a task".into(),
        context_tokens: Some(1000),
        expected_output_tokens: Some(500),
        complexity: Some(complexity),
        category: Some(Category::Reasoning),
        priority: None,
    }
}

fn escalation(d: &Decision) -> &Escalation {
    match &d.escalation {
        Some(e) => e,
        None => panic!("not escalated: {}", d.summary),
    }
}

#[test]
fn a_task_no_single_model_meets_goes_to_the_council_and_says_why() {
    let d = decide_with_council(&task(1.0), &models(), Some(&council()), &config());
    assert_eq!(d.chosen.as_deref(), Some("fusion/deep"));
    assert!(d.fallbacks.is_empty(), "{:?}", d.fallbacks);
    assert_eq!(d.retry_in_ms, None);
    let e = escalation(&d);
    assert_eq!(
        e.trigger,
        Trigger::UnmetQuality {
            best_model: "paid".into(),
            best_quality: 0.78
        }
    );
    assert_eq!(
        (e.quality, e.rated_by.clone()),
        (0.9, RatedBy::ConfiguredPrior)
    );
    assert!(
        d.summary.starts_with(
            "escalated to council deep: no single model meets the required quality 0.85 \
             (best: paid 0.78); council rated 0.90 prior (router.escalate.prior) ≥ 0.85, \
             expected cost $"
        ),
        "{}",
        d.summary
    );
    assert!(
        d.summary.ends_with("(3 members + judge + synthesizer)"),
        "{}",
        d.summary
    );
    // Every single model is still reported with why it was turned away.
    assert_eq!(d.candidates.len(), 3);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["escalation"]["council"], "deep");
    assert_eq!(json["escalation"]["trigger"]["kind"], "unmet_quality");
    assert_eq!(json["escalation"]["rated_by"]["by"], "configured_prior");
}

#[test]
fn an_easy_task_still_goes_to_the_cheapest_adequate_model() {
    let d = decide_with_council(&task(0.2), &models(), Some(&council()), &config());
    let chosen = d.chosen.as_deref().unwrap();
    assert!(["small", "medium"].contains(&chosen), "{}", d.summary);
    assert!(d.escalation.is_none());
    assert!(!d.summary.contains("council"), "{}", d.summary);
}

#[test]
fn without_escalate_the_router_never_picks_a_council() {
    let config = RouterConfig {
        escalate: None,
        ..config()
    };
    let d = decide_with_council(&task(1.0), &models(), Some(&council()), &config);
    assert_eq!(d.chosen, None);
    assert!(d.escalation.is_none());
    assert!(d.summary.starts_with("no model qualifies"), "{}", d.summary);
    // And `decide` alone never sees a council.
    let plain = decide(&task(1.0), &models(), &self::config());
    assert_eq!(plain.chosen, None);
}

#[test]
fn the_council_is_priced_as_the_sum_of_its_members_judge_and_synthesizer_calls() {
    let mut council = council();
    // The paid model also judges (with a short analysis) and synthesizes.
    council.judge = SeatView {
        model: "paid".into(),
        max_tokens: Some(200),
    };
    council.synthesizer = seat("paid");
    let d = decide_with_council(&task(1.0), &models(), Some(&council), &config());
    let e = escalation(&d);
    let calls: Vec<(&str, &str, u64, u64)> = e
        .calls
        .iter()
        .map(|c| (c.seat, c.model.as_str(), c.input_tokens, c.output_tokens))
        .collect();
    // Three answers of 500 tokens; the judge reads them with the task and its instructions.
    let read = 1000 + 3 * 500;
    assert_eq!(
        calls,
        [
            ("member", "small", 1000, 500),
            ("member", "medium", 1000, 500),
            ("member", "paid", 1000, 500),
            ("judge", "paid", read + escalate::JUDGE_PROMPT_TOKENS, 200),
            (
                "synthesizer",
                "paid",
                read + 200 + escalate::SYNTHESIS_PROMPT_TOKENS,
                500
            ),
        ]
    );
    // Each call priced like a single model's: $1 in, $2 out per million tokens; local ones free.
    let paid = |input: u64, output: u64| (input as f64 + 2.0 * output as f64) / 1e6;
    let want = paid(1000, 500)
        + paid(read + escalate::JUDGE_PROMPT_TOKENS, 200)
        + paid(read + 200 + escalate::SYNTHESIS_PROMPT_TOKENS, 500);
    let sum: f64 = e.calls.iter().map(|c| c.cost_usd.unwrap()).sum();
    assert!((sum - want).abs() < 1e-12, "{sum} vs {want}");
    assert!((e.expected_cost_usd.unwrap() - want).abs() < 1e-12);
    assert_eq!(e.calls[0].cost_usd, Some(0.0), "local members cost nothing");
}

#[test]
fn a_council_over_the_cost_cap_is_not_taken_and_the_summary_says_why() {
    let mut config = config();
    if let Some(e) = config.escalate.as_mut() {
        e.max_cost_usd = Some(0.0001);
    }
    let d = decide_with_council(&task(1.0), &models(), Some(&council()), &config);
    assert_eq!(d.chosen, None);
    assert!(d.escalation.is_none());
    assert!(
        d.summary.contains(
            "; not escalated to council deep: its expected cost $0.002 > \
             router.escalate.max_cost_usd $0.0001"
        ),
        "{}",
        d.summary
    );
}

#[test]
fn measured_council_quality_beats_the_prior() {
    // Benchmarked as `fusion/deep` below the bar: the prior of 0.9 no longer counts.
    let mut weak = council();
    weak.measured.set(
        Category::Reasoning,
        Measured {
            quality: 0.6,
            n: 10,
        },
    );
    let d = decide_with_council(&task(1.0), &models(), Some(&weak), &config());
    assert_eq!(d.chosen, None);
    assert!(
        d.summary.contains(
            "not escalated to council deep: it is rated 0.60 measured (n=10) by fusion bench \
             < required 0.85"
        ),
        "{}",
        d.summary
    );
    // Benchmarked above it with a low prior: escalated on the measurement.
    let mut strong = council();
    strong.measured.set(
        Category::Reasoning,
        Measured {
            quality: 0.95,
            n: 10,
        },
    );
    let mut low_prior = config();
    if let Some(e) = low_prior.escalate.as_mut() {
        e.prior = Some(0.5);
    }
    let d = decide_with_council(&task(1.0), &models(), Some(&strong), &low_prior);
    let e = escalation(&d);
    assert_eq!((e.quality, e.rated_by.clone()), (0.95, RatedBy::Bench));
    assert!(
        d.summary
            .contains("council rated 0.95 measured (n=10) by fusion bench ≥ 0.85"),
        "{}",
        d.summary
    );
    // Only `fusion eval council` measured it: its score stands for the council.
    let mut reviewed = council();
    reviewed.reviewed = Some(Measured {
        quality: 0.92,
        n: 8,
    });
    let d = decide_with_council(&task(1.0), &models(), Some(&reviewed), &low_prior);
    let e = escalation(&d);
    assert_eq!(
        (e.quality, e.rated_by.clone()),
        (0.92, RatedBy::EvalCouncil)
    );
    assert!(
        d.summary
            .contains("rated 0.92 measured (n=8) by fusion eval council"),
        "{}",
        d.summary
    );
}

#[test]
fn without_a_configured_prior_the_council_rates_its_best_member_plus_the_lift() {
    let mut config = config();
    if let Some(e) = config.escalate.as_mut() {
        e.prior = None;
    }
    // Required 0.85 × 0.95 ≈ 0.81: paid (0.78) misses it, 0.78 + 0.1 meets it.
    let d = decide_with_council(&task(0.95), &models(), Some(&council()), &config);
    let e = escalation(&d);
    assert!((e.quality - 0.88).abs() < 1e-9, "{}", e.quality);
    assert_eq!(
        e.rated_by,
        RatedBy::BestMemberPrior {
            model: "paid".into(),
            quality: 0.78
        }
    );
    assert!(
        d.summary
            .contains("council rated 0.88 prior (best member paid 0.78 + 0.10)"),
        "{}",
        d.summary
    );
    // A bar 0.1 above the best member is beyond what the lift promises.
    let far = RouterConfig {
        quality_threshold: 0.95,
        ..config
    };
    let d = decide_with_council(&task(1.0), &models(), Some(&council()), &far);
    assert_eq!(d.chosen, None);
    assert!(d.summary.contains("< required 0.95"), "{}", d.summary);
}

#[test]
fn a_task_above_the_complexity_threshold_escalates_with_the_single_model_as_fallback() {
    let mut config = config();
    config.quality_threshold = 0.7;
    if let Some(e) = config.escalate.as_mut() {
        e.above_complexity = Some(0.8);
    }
    // Required 0.63: medium and paid meet it, but the task is above 0.8.
    let d = decide_with_council(&task(0.9), &models(), Some(&council()), &config);
    let e = escalation(&d);
    assert_eq!(
        e.trigger,
        Trigger::Complexity {
            complexity: 0.9,
            above: 0.8
        }
    );
    assert_eq!(d.chosen.as_deref(), Some("fusion/deep"));
    let single = d.fallbacks.first().cloned().unwrap();
    assert!(
        d.summary.starts_with(
            "escalated to council deep: complexity 0.90 > router.escalate.above_complexity 0.80"
        ),
        "{}",
        d.summary
    );
    assert!(
        d.summary.ends_with(&format!(
            "; {single} (the single-model choice) is the fallback"
        )),
        "{}",
        d.summary
    );
    assert!(d.fallbacks.len() <= config.retry_budget as usize);
    // At 0.7 it is not: the cheapest adequate model takes it.
    let d = decide_with_council(&task(0.7), &models(), Some(&council()), &config);
    assert!(d.escalation.is_none(), "{}", d.summary);
}

#[test]
fn a_council_whose_panel_cannot_be_reached_is_not_taken() {
    let mut down = models();
    for m in &mut down {
        if m.id != "paid" {
            m.health = Health::Unreachable;
        }
    }
    let mut local_panel = council();
    local_panel.panel = vec![seat("small"), seat("medium")];
    let d = decide_with_council(&task(1.0), &down, Some(&local_panel), &config());
    assert_eq!(d.chosen, None);
    assert!(
        d.summary
            .ends_with("; not escalated to council deep: none of its panel members is routable"),
        "{}",
        d.summary
    );
    let free_only = RouterConfig {
        free_only: true,
        ..config()
    };
    let d = decide_with_council(&task(1.0), &models(), Some(&council()), &free_only);
    assert!(
        d.summary.contains(
            "not escalated to council deep: router.free_only is set and its seat paid is paid"
        ),
        "{}",
        d.summary
    );
}
