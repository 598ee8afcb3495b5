//! The routing eval's replay: the synthetic set and its labels, the train/test split (never
//! scored on what trained), determinism, the reference baselines, the router routing on
//! measured quality, the bench history as a dataset, and bad input refused with its name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fusion_bench::eval::routing::{
    Dataset, EvalModel, EvalOptions, EvalTask, Outcome, Source, Sweep, evaluate, from_history,
    split, synthetic,
};
use fusion_core::config::{Category, Price, Priority, QualityPriors, Tier};
use fusion_core::router::{Health, MeasuredByCategory, ModelView};
use fusion_core::store::BenchResultRow;

fn small_sweep() -> EvalOptions {
    EvalOptions {
        sweep: Sweep {
            priorities: vec![Priority::Cost, Priority::Balanced, Priority::Quality],
            quality_thresholds: vec![0.0, 0.5, 0.9],
            cost_thresholds: vec![0.001, 0.03, 1.0],
        },
        ..EvalOptions::default()
    }
}

fn builtin(seed: u64) -> Dataset {
    synthetic::generate(&synthetic::builtin_spec().unwrap(), seed)
}

fn baseline<'a>(
    eval: &'a fusion_bench::eval::routing::RoutingEval,
    name: &str,
) -> &'a fusion_bench::eval::routing::PolicyResult {
    eval.baselines
        .iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("no baseline {name}"))
}

#[test]
fn synthetic_set_spans_the_tiers_and_categories_with_labelled_outcomes() {
    let spec = synthetic::builtin_spec().unwrap();
    let set = synthetic::generate(&spec, spec.seed);
    set.validate().unwrap();
    assert!(set.models.len() >= 5);
    for tier in [Tier::Local, Tier::Free, Tier::Paid] {
        assert!(set.models.iter().any(|m| m.tier == tier), "{tier:?}");
    }
    assert!(set.models.iter().all(|m| m.context_window.is_some()));
    let paid: Vec<&EvalModel> = set.models.iter().filter(|m| m.tier == Tier::Paid).collect();
    assert!(paid.len() >= 3 && paid.iter().all(|m| m.price.is_some()));
    assert!(set.tasks.len() >= 500);
    for category in Category::ALL {
        assert!(set.tasks.iter().filter(|t| t.category == category).count() >= 100);
    }
    // Each model's success rate is its mean labelled chance, within four standard errors.
    for m in 0..set.models.len() {
        let n = set.tasks.len() as f64;
        let p: f64 = set
            .tasks
            .iter()
            .map(|t| t.outcomes[m].p_success.unwrap())
            .sum::<f64>()
            / n;
        let rate: f64 = set.tasks.iter().map(|t| t.outcomes[m].score).sum::<f64>() / n;
        let se = (p * (1.0 - p) / n).sqrt().max(1e-3);
        assert!(
            (rate - p).abs() < 4.0 * se,
            "{}: {rate} vs {p}",
            set.models[m].id
        );
    }
    // Stronger tiers are stronger on average: the frontier model beats the local one.
    let mean = |m: usize| set.tasks.iter().map(|t| t.outcomes[m].score).sum::<f64>();
    assert!(mean(set.models.len() - 1) > mean(0));
}

#[test]
fn same_seed_gives_the_same_set_and_the_same_numbers() {
    let a = builtin(17);
    assert_eq!(a, builtin(17));
    assert_ne!(a, builtin(18));
    let options = small_sweep();
    let first = evaluate(&a, &options).unwrap();
    let again = evaluate(&builtin(17), &options).unwrap();
    assert_eq!(first, again);
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

#[test]
fn split_never_shares_a_task_and_covers_every_task_by_category_halves() {
    let set = builtin(17);
    let s = split(&set, 17);
    assert!(s.train.iter().all(|t| s.test.binary_search(t).is_err()));
    assert_eq!(s.train.len() + s.test.len(), set.tasks.len());
    for category in Category::ALL {
        let train = s
            .train
            .iter()
            .filter(|&&t| set.tasks[t].category == category)
            .count();
        let test = s
            .test
            .iter()
            .filter(|&&t| set.tasks[t].category == category)
            .count();
        assert!(
            test >= train && test - train <= 1,
            "{category}: {train}/{test}"
        );
    }
    assert_ne!(split(&set, 18), s);
}

#[test]
fn replay_never_scores_training_tasks() {
    let set = builtin(17);
    let options = EvalOptions {
        simulate: true,
        ..small_sweep()
    };
    let before = evaluate(&set, &options).unwrap();
    // The router never sees outcome costs (it estimates from prices), so poisoning the
    // training tasks' costs changes nothing — unless a training task were scored.
    let mut poisoned = set.clone();
    for &t in &split(&set, options.seed).train {
        for o in &mut poisoned.tasks[t].outcomes {
            o.cost_usd = 1e6;
        }
    }
    let after = evaluate(&poisoned, &options).unwrap();
    assert_eq!(before.sweep, after.sweep);
    assert_eq!(before.baselines, after.baselines);
    assert_eq!(before.simulated, after.simulated);
    assert_eq!(before.test_tasks + before.train_tasks, set.tasks.len());
    // What trains is what the router is told: flipping training scores changes it.
    let mut flipped = set.clone();
    for &t in &split(&set, options.seed).train {
        for o in &mut flipped.tasks[t].outcomes {
            o.score = 1.0 - o.score;
        }
    }
    let told = evaluate(&flipped, &options).unwrap();
    assert_ne!(before.models[0].trained, told.models[0].trained);
    assert_eq!(
        before.models[0].test_quality, told.models[0].test_quality,
        "test scores are untouched"
    );
}

#[test]
fn reference_baselines_score_as_defined_and_the_oracle_bounds_everyone() {
    let options = EvalOptions {
        simulate: true,
        ..small_sweep()
    };
    let eval = evaluate(&builtin(17), &options).unwrap();
    let cheapest = baseline(&eval, "always-cheapest");
    let strongest = baseline(&eval, "always-strongest");
    assert!(cheapest.apgr.unwrap().abs() < 1e-9);
    assert!(cheapest.pgr.unwrap().abs() < 1e-9);
    assert!((strongest.pgr.unwrap() - 1.0).abs() < 1e-9);
    assert!((strongest.apgr.unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(strongest.cost_pct_of_strongest, Some(100.0));
    let random = baseline(&eval, "random");
    assert!(random.quality > 0.0 && random.quality < 1.0);
    let oracle = baseline(&eval, "oracle").apgr.unwrap();
    for b in &eval.baselines {
        assert!(
            b.apgr.unwrap() <= oracle + 1e-9,
            "{} above the oracle",
            b.name
        );
        assert!((0.0..=1.0).contains(&b.quality));
    }
    assert!(eval.router.apgr.unwrap() <= oracle + 1e-9);
    for s in &eval.simulated {
        assert!(s.apgr.unwrap() <= oracle + 1e-9);
    }
    assert_eq!(eval.simulated.len(), 8);
    let current = eval.simulated.iter().find(|s| s.is_current).unwrap();
    assert_eq!(
        current.apgr, eval.router.apgr,
        "the simulation reproduces the router"
    );
    for p in &eval.sweep {
        assert!((0.0..=1.0).contains(&p.quality) && p.cost_usd >= 0.0);
        assert_eq!(
            p.choices.iter().sum::<u32>() + p.unrouted,
            u32::try_from(eval.test_tasks).unwrap()
        );
    }
}

fn task(id: &str, category: Category, weak: f64, strong: f64) -> EvalTask {
    let outcome = |score, cost_usd| Outcome {
        score,
        cost_usd,
        p_success: None,
    };
    EvalTask {
        id: id.to_owned(),
        category,
        complexity: Some(0.5),
        input_tokens: Some(500),
        output_tokens: Some(500),
        outcomes: vec![outcome(weak, 0.0), outcome(strong, 0.001)],
    }
}

fn two_models() -> Vec<EvalModel> {
    vec![
        EvalModel {
            id: "weak".into(),
            provider: "p".into(),
            tier: Tier::Local,
            context_window: Some(8192),
            price: None,
        },
        EvalModel {
            id: "strong".into(),
            provider: "p".into(),
            tier: Tier::Paid,
            context_window: Some(8192),
            price: Some(Price {
                input_per_mtok: 1.0,
                output_per_mtok: 1.0,
            }),
        },
    ]
}

#[test]
fn router_given_measured_quality_sends_each_category_to_the_model_that_passed_it() {
    // The weak model answers chat right and code wrong; the strong one answers both.
    let mut tasks = Vec::new();
    for i in 0..20 {
        tasks.push(task(&format!("chat-{i}"), Category::Chat, 1.0, 1.0));
        tasks.push(task(&format!("code-{i}"), Category::Code, 0.0, 1.0));
    }
    let set = Dataset {
        source: Source::Synthetic,
        seed: None,
        models: two_models(),
        tasks,
        notes: vec![],
    };
    let eval = evaluate(&set, &small_sweep()).unwrap();
    assert_eq!(eval.cheapest, "weak");
    assert_eq!(eval.strongest, "strong");
    let at_95 = eval.router.cost_at_95.as_ref().unwrap();
    assert_eq!(at_95.quality, 1.0);
    assert!((at_95.pct_of_strongest.unwrap() - 50.0).abs() < 1e-9);
    let point = &eval.sweep[at_95.point];
    assert_eq!(point.choices, vec![10, 10], "chat to weak, code to strong");
    assert!(eval.router.apgr.unwrap() > 0.7);
    assert!(eval.aims.apgr_beats_baselines);
    assert!(!eval.aims.cost_at_95_within_25_pct);
}

#[test]
fn bad_input_is_refused_with_its_name() {
    let mut set = builtin(17);
    set.tasks[3].outcomes[1].score = 1.5;
    let err = evaluate(&set, &small_sweep()).unwrap_err().to_string();
    assert!(
        err.contains(&set.tasks[3].id) && err.contains("score 1.5"),
        "{err}"
    );

    let spec = synthetic::BUILTIN_SPEC.replacen("code = 0.30, ", "", 1);
    let err = synthetic::parse_spec(&spec).unwrap_err().to_string();
    assert!(
        err.contains("local-3b") && err.contains("skill.code"),
        "{err}"
    );

    let spec =
        synthetic::BUILTIN_SPEC.replace("tasks_per_category = 120", "tasks_per_category = 0");
    let err = synthetic::parse_spec(&spec).unwrap_err().to_string();
    assert!(err.contains("tasks_per_category"), "{err}");

    let mut options = small_sweep();
    options.sweep.cost_thresholds.clear();
    let err = evaluate(&builtin(17), &options).unwrap_err().to_string();
    assert!(err.contains("sweep"), "{err}");
}

fn row(task: &str, model: &str, attempt: u32, score: f64, error: Option<&str>) -> BenchResultRow {
    BenchResultRow {
        run_id: "r1".into(),
        task_id: task.into(),
        model: model.into(),
        attempt,
        suite: "builtin".into(),
        category: if task.starts_with("code") {
            "code"
        } else {
            "chat"
        }
        .into(),
        score,
        latency_ms: 100,
        output_tokens: 200,
        cost_usd: if model == "strong" { 0.002 } else { 0.0 },
        error: error.map(str::to_owned),
        detail: None,
        created_ms: 0,
    }
}

fn view(id: &str, tier: Tier) -> ModelView {
    ModelView {
        id: id.into(),
        provider: "p".into(),
        tier,
        context_window: Some(8192),
        price: (tier == Tier::Paid).then_some(Price {
            input_per_mtok: 1.0,
            output_per_mtok: 10.0,
        }),
        price_unknown: false,
        quality: QualityPriors::default(),
        measured: MeasuredByCategory::default(),
        health: Health::Healthy,
        latency_p50_ms: None,
    }
}

#[test]
fn history_becomes_the_tasks_every_configured_model_answered() {
    let mut rows = Vec::new();
    for task in ["code-1", "code-2", "chat-1", "chat-2"] {
        rows.push(row(task, "weak", 1, 0.0, None));
        rows.push(row(task, "weak", 2, 1.0, None));
        rows.push(row(task, "strong", 1, 1.0, None));
        rows.push(row(task, "gone", 1, 1.0, None));
    }
    // A call that failed counts for cost, not for the score.
    rows.push(row("code-1", "strong", 2, 0.0, Some("timeout")));
    // Only one model answered this one.
    rows.push(row("chat-3", "weak", 1, 1.0, None));
    let views = [view("weak", Tier::Local), view("strong", Tier::Paid)];
    let set = from_history(&rows, &views).unwrap();
    assert_eq!(set.source, Source::History);
    let ids: Vec<&str> = set.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["strong", "weak"]);
    assert_eq!(set.tasks.len(), 4);
    let code1 = set.tasks.iter().find(|t| t.id == "builtin/code-1").unwrap();
    assert_eq!(code1.category, Category::Code);
    assert_eq!(
        code1.outcomes[0].score, 1.0,
        "the failed attempt is not scored"
    );
    assert!((code1.outcomes[0].cost_usd - 0.002).abs() < 1e-12);
    assert_eq!(code1.outcomes[1].score, 0.5, "mean over attempts");
    let notes = set.notes.join("\n");
    assert!(
        notes.contains("gone") && notes.contains("1 task(s)"),
        "{notes}"
    );
    let eval = evaluate(&set, &small_sweep()).unwrap();
    assert_eq!(eval.test_tasks, 2);
    assert!(eval.baselines.iter().all(|b| b.name != "expected-oracle"));

    let err = from_history(&rows, &views[..1]).unwrap_err().to_string();
    assert!(err.contains("two or more"), "{err}");
}
