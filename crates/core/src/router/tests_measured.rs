//! Routing on measured quality: a model's benchmark record replaces its prior once it has
//! `reliable_after` answers in the category, is blended with it by count below that, its fit
//! against complexity is read at the task's complexity once the fit has `reliable_after`
//! answers, and every reason says which it used.

use super::*;

fn model(id: &str, tier: Tier, prior: f64) -> ModelView {
    ModelView {
        id: id.to_owned(),
        provider: format!("{id}-provider"),
        tier,
        context_window: Some(32_000),
        price: Some(Price {
            input_per_mtok: 0.0,
            output_per_mtok: 0.0,
        }),
        price_unknown: false,
        quality: QualityPriors {
            default: Some(prior),
            ..QualityPriors::default()
        },
        measured: MeasuredByCategory::default(),
        health: Health::Healthy,
        latency_p50_ms: None,
    }
}

fn code_task(complexity: f64) -> RouteInput {
    RouteInput {
        text: "write a parser".into(),
        context_tokens: Some(500),
        expected_output_tokens: Some(300),
        complexity: Some(complexity),
        category: Some(Category::Code),
        priority: None,
    }
}

fn measured(mut view: ModelView, category: Category, quality: f64, n: u64) -> ModelView {
    view.measured.set(category, Measured { quality, n });
    view
}

#[test]
fn enough_answers_replace_the_prior_and_the_reason_says_measured() {
    // The local model looks good on paper but fails code tasks in benchmarks.
    let local = measured(model("local", Tier::Local, 0.9), Category::Code, 0.1, 40);
    let free = model("free", Tier::Free, 0.7);
    let d = decide(&code_task(0.8), &[local, free], &RouterConfig::default());
    assert_eq!(d.chosen.as_deref(), Some("free"), "{}", d.summary);
    let Some(rejected) = d.candidates.iter().find(|c| c.model == "local") else {
        panic!("no candidate `local`: {d:?}");
    };
    assert_eq!(
        rejected.quality_source,
        QualitySource::Measured {
            n: 40,
            complexity: None
        }
    );
    let Verdict::Rejected { reason } = &rejected.verdict else {
        panic!("{rejected:?}");
    };
    assert!(reason.contains("quality 0.10 measured (n=40)"), "{reason}");
    assert!(d.summary.contains("quality 0.70 prior"), "{}", d.summary);
}

#[test]
fn few_answers_are_blended_with_the_prior_by_count() {
    let view = measured(model("m", Tier::Local, 0.8), Category::Code, 0.2, 1);
    let estimate = quality_estimate(&view, Category::Code, 3);
    // One answer of three: 1/3 measured, 2/3 prior.
    assert!((estimate.quality - (0.2 / 3.0 + 0.8 * 2.0 / 3.0)).abs() < 1e-9);
    assert_eq!(
        estimate.source,
        QualitySource::Blended {
            n: 1,
            measured: 0.2,
            prior: 0.8
        }
    );
    // Other categories keep the prior.
    let chat = quality_estimate(&view, Category::Chat, 3);
    assert_eq!((chat.quality, chat.source), (0.8, QualitySource::Prior));
    // reliable_after = 1: one answer is enough.
    let one = quality_estimate(&view, Category::Code, 1);
    assert_eq!(
        one.source,
        QualitySource::Measured {
            n: 1,
            complexity: None
        }
    );
    let text = QualityText(estimate.quality, estimate.source).to_string();
    assert_eq!(text, "0.60 blended (measured 0.20 over n=1, prior 0.80)");
}

#[test]
fn a_measured_model_that_passes_code_is_chosen_over_a_prior_that_would_not_reach_the_bar() {
    // Prior 0.5 (local by tier) is under the bar for a hard task; measured 0.95 is not.
    let mut local = model("local", Tier::Local, 0.5);
    local.quality = QualityPriors::default();
    let local = measured(local, Category::Code, 0.95, 12);
    let paid = ModelView {
        price: Some(Price {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
        }),
        ..model("paid", Tier::Paid, 0.9)
    };
    let d = decide(&code_task(1.0), &[local, paid], &RouterConfig::default());
    assert_eq!(d.chosen.as_deref(), Some("local"), "{}", d.summary);
    assert!(d.summary.contains("0.95 measured (n=12)"), "{}", d.summary);
}

/// A fit of `n` answers: right on easy tasks, wrong on hard ones (half at 0.5), benched over
/// complexities 0.1–0.9.
fn falls_with_complexity(n: u64) -> ComplexityFit {
    ComplexityFit {
        intercept: 0.0,
        slope: -8.0,
        n,
        min_complexity: 0.1,
        max_complexity: 0.9,
    }
}

#[test]
fn a_fit_with_enough_answers_is_read_at_the_tasks_complexity_and_the_reason_says_where() {
    let mut local = measured(model("local", Tier::Local, 0.9), Category::Code, 0.5, 40);
    local
        .measured
        .set_fit(Category::Code, falls_with_complexity(40));
    let easy = quality_at(&local, Category::Code, 0.25, 3);
    assert!((easy.quality - 0.881).abs() < 1e-3, "{easy:?}");
    assert_eq!(
        easy.source,
        QualitySource::Measured {
            n: 40,
            complexity: Some(0.25)
        }
    );
    // Beyond what was benched, at the nearest complexity benched.
    let hard = quality_at(&local, Category::Code, 1.0, 3);
    assert_eq!(
        hard.source,
        QualitySource::Measured {
            n: 40,
            complexity: Some(0.9)
        }
    );
    let d = decide(&code_task(0.25), &[local], &RouterConfig::default());
    assert!(
        d.summary
            .contains("quality 0.88 measured (n=40) at complexity 0.25"),
        "{}",
        d.summary
    );
    let json = serde_json::json!(d.candidates[0].quality_source);
    assert_eq!(json["source"], "measured");
    assert_eq!(json["complexity"], 0.25);
}

#[test]
fn a_fit_with_too_few_answers_falls_back_to_the_category_mean_then_the_prior() {
    let mut local = measured(model("local", Tier::Local, 0.9), Category::Code, 0.5, 40);
    local
        .measured
        .set_fit(Category::Code, falls_with_complexity(2));
    let q = quality_at(&local, Category::Code, 0.25, 3);
    assert_eq!(
        (q.quality, q.source),
        (
            0.5,
            QualitySource::Measured {
                n: 40,
                complexity: None
            }
        ),
        "the category's mean"
    );
    let mut bare = model("bare", Tier::Local, 0.9);
    bare.measured
        .set_fit(Category::Code, falls_with_complexity(2));
    let q = quality_at(&bare, Category::Code, 0.25, 3);
    assert_eq!((q.quality, q.source), (0.9, QualitySource::Prior));
    // reliable_after = 2: two answers are enough.
    assert!(
        quality_at(&bare, Category::Code, 0.25, 2)
            .source
            .is_at_complexity(0.25)
    );
}

#[test]
fn the_same_model_is_chosen_for_easy_code_and_passed_over_for_hard_code() {
    // `local` is right on easy code and wrong on hard code; `paid` is right on both.
    let mut local = model("local", Tier::Local, 0.5);
    local
        .measured
        .set_fit(Category::Code, falls_with_complexity(40));
    let mut paid = ModelView {
        price: Some(Price {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
        }),
        ..model("paid", Tier::Paid, 0.5)
    };
    paid.measured.set_fit(
        Category::Code,
        ComplexityFit {
            intercept: 4.0,
            ..falls_with_complexity(40)
        },
    );
    // $0.006 a call at 0.2 quality per $0.012: worth 0.1 of quality.
    let config = RouterConfig {
        quality_threshold: 0.2,
        cost_threshold: 0.012,
        ..RouterConfig::default()
    };
    let models = [local, paid];
    // 0.96 against 0.9993: +0.04 is not worth $0.006.
    let easy = decide(&code_task(0.1), &models, &config);
    assert_eq!(easy.chosen.as_deref(), Some("local"), "{}", easy.summary);
    assert!(
        easy.summary
            .contains("paid's +0.04 quality is not worth its $0.006 more"),
        "{}",
        easy.summary
    );
    // 0.17 against 0.92: +0.75 is.
    let hard = decide(&code_task(0.7), &models, &config);
    assert_eq!(hard.chosen.as_deref(), Some("paid"), "{}", hard.summary);
}
