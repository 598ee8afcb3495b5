//! Benchmark of the routing policy: one `decide` over 100 synthetic models, with the task's
//! tokens given by the caller and with a ~2 KB prompt whose tokens, category and complexity are
//! estimated. Run: `cargo bench -p fusion-core --bench route -- --quick`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fusion_core::config::{Category, Price, Priority, QualityPriors, RouterConfig, Tier};
use fusion_core::router::{Health, ModelView, RouteInput, decide, estimate};

/// 100 models spread over tiers, prices, priors, health states and latencies.
fn models() -> Vec<ModelView> {
    (0..100u32)
        .map(|i| {
            let tier = match i % 3 {
                0 => Tier::Local,
                1 => Tier::Free,
                _ => Tier::Paid,
            };
            let price = (tier == Tier::Paid && i % 7 != 0).then(|| Price {
                input_per_mtok: f64::from(i % 10) * 0.5,
                output_per_mtok: f64::from(i % 10) * 2.0,
            });
            let mut quality = QualityPriors {
                default: Some(0.4 + f64::from(i % 11) * 0.05),
                ..QualityPriors::default()
            };
            if i % 4 == 0 {
                quality
                    .by_category
                    .insert(Category::Code, 0.5 + f64::from(i % 5) * 0.1);
            }
            let health = match i % 10 {
                0 => Health::CircuitOpen { retry_in_ms: 5_000 },
                1 => Health::Unknown,
                2 => Health::HalfOpen,
                3 if i % 20 == 3 => Health::Unreachable,
                _ => Health::Healthy,
            };
            ModelView {
                id: format!("model-{i:03}"),
                provider: format!("provider-{}", i % 8),
                tier,
                context_window: Some(4096 << (i % 6)),
                price,
                price_unknown: false,
                quality,
                measured: Default::default(),
                health,
                latency_p50_ms: (i % 5 != 0).then(|| 150.0 + f64::from((i * 37) % 900)),
            }
        })
        .collect()
}

/// A ~2 KB coding request: prose, a list of requirements and a fenced snippet.
fn prompt() -> String {
    let mut text = String::from(
        "Please refactor the function below so that it streams results instead of collecting \
         them, and explain why the change is safe.\nRequirements:\n",
    );
    for i in 1..=6 {
        text.push_str(&format!(
            "{i}. It must keep the public signature, handle errors without panicking, and \
             log each retry.\n"
        ));
    }
    text.push_str("```rust\n");
    while text.len() < 2000 {
        text.push_str("    let total = items.iter().map(|x| x.len()).sum::<usize>();\n");
    }
    text.push_str("```\n");
    text
}

fn bench_route(c: &mut Criterion) {
    let models = models();
    let config = RouterConfig::default();
    let text = prompt();
    let given = RouteInput {
        text: text.clone(),
        context_tokens: Some(600),
        expected_output_tokens: Some(800),
        complexity: Some(0.6),
        category: Some(Category::Code),
        priority: None,
    };
    let counted = RouteInput {
        text,
        ..RouteInput::default()
    };
    // Load the tokenizer outside the measurement.
    black_box(estimate(&counted));

    let mut group = c.benchmark_group("route");
    for priority in [Priority::Balanced, Priority::Speed] {
        let input = RouteInput {
            priority: Some(priority),
            ..given.clone()
        };
        group.bench_function(format!("decide_100_models_given_tokens_{priority}"), |b| {
            b.iter(|| decide(black_box(&input), black_box(&models), &config))
        });
    }
    group.bench_function("decide_100_models_2kb_prompt_counted", |b| {
        b.iter(|| decide(black_box(&counted), black_box(&models), &config))
    });
    group.bench_function("estimate_2kb_prompt_counted", |b| {
        b.iter(|| estimate(black_box(&counted)))
    });
    let scanned = RouteInput {
        context_tokens: Some(600),
        ..counted.clone()
    };
    group.bench_function("estimate_2kb_prompt_heuristics_only", |b| {
        b.iter(|| estimate(black_box(&scanned)))
    });
    group.finish();
}

criterion_group!(benches, bench_route);
criterion_main!(benches);
