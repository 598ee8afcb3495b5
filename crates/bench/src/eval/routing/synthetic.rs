//! The labelled synthetic set: models across tiers with prices and context windows, and tasks
//! across the router's categories and complexities, each with every model's chance of success
//! and a sampled outcome — generated deterministically from
//! `crates/bench/data/routing/synthetic.toml` (written by us) and a seed.
//!
//! # Assumptions
//!
//! - A model's chance on a task is `floor + (ceiling − floor) × logistic(sharpness × (skill −
//!   complexity))`, with `skill` per model and category (the complexity at which it is right
//!   half the time): harder tasks are less often right, for every model, smoothly.
//! - A task whose input + output tokens exceed a model's context window fails on it (chance 0).
//! - Outcomes are correlated across models: with probability `shared_draw` a model's outcome
//!   uses the task's shared uniform draw, else its own; its success rate is exactly its chance.
//! - Complexity is uniform in its category's range; input and output tokens are log-uniform
//!   in theirs. The router is told the category, the tokens and the complexity plus Gaussian
//!   noise (`complexity_noise`, clamped to 0..1), as its estimate from text is not exact.
//! - Cost is the price × tokens for paid models and 0 for local and free ones — what the router
//!   itself estimates; every model's output length is the task's (no model is more verbose).
//! - Draws happen in a fixed order (category, task, then model), so a seed fixes the set.

use std::collections::BTreeMap;

use fusion_core::config::{Category, Price, Tier};
use serde::{Deserialize, Serialize};

use super::rng::Rng;
use super::{Dataset, EvalError, EvalModel, EvalTask, MAX_MODELS, Outcome, Source};

/// The spec of the set shipped in the repository.
pub const BUILTIN_SPEC: &str = include_str!("../../../data/routing/synthetic.toml");

/// Most tasks per category.
pub const MAX_TASKS_PER_CATEGORY: u32 = 2_000;

/// How the synthetic set is generated (`synthetic.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub seed: u64,
    pub tasks_per_category: u32,
    pub floor: f64,
    pub ceiling: f64,
    pub sharpness: f64,
    pub shared_draw: f64,
    pub complexity_noise: f64,
    pub categories: BTreeMap<Category, CategorySpec>,
    pub models: Vec<ModelSpec>,
}

/// The tasks of one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySpec {
    /// Uniform in [lo, hi].
    pub complexity: [f64; 2],
    /// Log-uniform in [lo, hi].
    pub input_tokens: [u64; 2],
    pub output_tokens: [u64; 2],
}

/// One model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    pub tier: Tier,
    pub context_window: Option<u32>,
    #[serde(default)]
    pub price: Option<Price>,
    /// Per category: the complexity at which it is right half the time.
    pub skill: BTreeMap<Category, f64>,
}

/// The shipped spec, parsed and checked.
pub fn builtin_spec() -> Result<Spec, EvalError> {
    parse_spec(BUILTIN_SPEC)
}

/// Parses and checks a spec (every field, every category and every model's skill in range).
pub fn parse_spec(text: &str) -> Result<Spec, EvalError> {
    let spec: Spec = toml::from_str(text).map_err(|e| EvalError::Spec(e.to_string()))?;
    spec.validate()?;
    Ok(spec)
}

impl Spec {
    fn validate(&self) -> Result<(), EvalError> {
        let bad = |why: String| Err(EvalError::Spec(why));
        if self.tasks_per_category == 0 || self.tasks_per_category > MAX_TASKS_PER_CATEGORY {
            return bad(format!(
                "tasks_per_category {} is not in 1..={MAX_TASKS_PER_CATEGORY}",
                self.tasks_per_category
            ));
        }
        if !(0.0..1.0).contains(&self.floor)
            || !(0.0..=1.0).contains(&self.ceiling)
            || self.floor >= self.ceiling
        {
            return bad(format!(
                "floor {} and ceiling {} must satisfy 0 ≤ floor < ceiling ≤ 1",
                self.floor, self.ceiling
            ));
        }
        for (name, value, hi) in [
            ("sharpness", self.sharpness, 100.0),
            ("shared_draw", self.shared_draw, 1.0),
            ("complexity_noise", self.complexity_noise, 1.0),
        ] {
            if !(0.0..=hi).contains(&value) {
                return bad(format!("{name} {value} is not in 0..={hi}"));
            }
        }
        for category in Category::ALL {
            let Some(c) = self.categories.get(&category) else {
                return bad(format!("categories.{category} is missing"));
            };
            let [lo, hi] = c.complexity;
            if !(0.0..=1.0).contains(&lo) || !(0.0..=1.0).contains(&hi) || lo > hi {
                return bad(format!(
                    "categories.{category}.complexity [{lo}, {hi}] is not a range in 0..1"
                ));
            }
            for (name, [lo, hi]) in [
                ("input_tokens", c.input_tokens),
                ("output_tokens", c.output_tokens),
            ] {
                if lo == 0 || lo > hi || hi > 10_000_000 {
                    return bad(format!(
                        "categories.{category}.{name} [{lo}, {hi}] is not a range in \
                         1..=10000000"
                    ));
                }
            }
        }
        if self.models.len() < 2 || self.models.len() > MAX_MODELS {
            return bad(format!(
                "{} models; between 2 and {MAX_MODELS} are needed",
                self.models.len()
            ));
        }
        for m in &self.models {
            if m.id.trim().is_empty() || m.id.len() > 128 {
                return bad(format!("model id {:?} must be 1 to 128 bytes", m.id));
            }
            if m.tier == Tier::Paid && m.price.is_none() {
                return bad(format!("model {}: a paid model needs a price", m.id));
            }
            if let Some(p) = m.price
                && !(p.input_per_mtok >= 0.0 && p.output_per_mtok >= 0.0)
            {
                return bad(format!("model {}: prices must be ≥ 0", m.id));
            }
            for category in Category::ALL {
                match m.skill.get(&category) {
                    Some(s) if (-1.0..=3.0).contains(s) => {}
                    Some(s) => {
                        return bad(format!(
                            "model {}: skill.{category} {s} is not in -1..=3",
                            m.id
                        ));
                    }
                    None => return bad(format!("model {}: skill.{category} is missing", m.id)),
                }
            }
        }
        Ok(())
    }

    /// A model's chance of answering a task of this category, complexity and size right.
    pub fn p_success(
        &self,
        model: &ModelSpec,
        category: Category,
        complexity: f64,
        tokens: u64,
    ) -> f64 {
        if model.context_window.is_some_and(|w| tokens > u64::from(w)) {
            return 0.0;
        }
        let skill = model.skill.get(&category).copied().unwrap_or(0.0);
        let logistic = 1.0 / (1.0 + (-self.sharpness * (skill - complexity)).exp());
        self.floor + (self.ceiling - self.floor) * logistic
    }
}

/// Generates the set of `spec` under `seed` (see the module doc for the assumptions).
pub fn generate(spec: &Spec, seed: u64) -> Dataset {
    let mut rng = Rng::stream(seed, "synthetic");
    let models: Vec<EvalModel> = spec
        .models
        .iter()
        .map(|m| EvalModel {
            id: m.id.clone(),
            provider: "synthetic".to_owned(),
            tier: m.tier,
            context_window: m.context_window,
            price: m.price,
        })
        .collect();
    let per = spec.tasks_per_category as usize;
    let mut tasks = Vec::with_capacity(per * Category::ALL.len());
    for category in Category::ALL {
        let Some(c) = spec.categories.get(&category) else {
            continue;
        };
        for i in 0..per {
            let complexity = rng.uniform(c.complexity[0], c.complexity[1]);
            let told = (complexity + spec.complexity_noise * rng.normal()).clamp(0.0, 1.0);
            let input = log_uniform(&mut rng, c.input_tokens);
            let output = log_uniform(&mut rng, c.output_tokens);
            let shared = rng.f64();
            let outcomes = spec
                .models
                .iter()
                .map(|m| {
                    let own = rng.f64();
                    let use_shared = rng.f64() < spec.shared_draw;
                    let draw = if use_shared { shared } else { own };
                    let p = spec.p_success(m, category, complexity, input + output);
                    Outcome {
                        score: if draw < p { 1.0 } else { 0.0 },
                        cost_usd: cost(m, input, output),
                        p_success: Some(p),
                    }
                })
                .collect();
            tasks.push(EvalTask {
                id: format!("{category}-{i:04}"),
                category,
                complexity: Some(told),
                input_tokens: Some(input),
                output_tokens: Some(output),
                outcomes,
            });
        }
    }
    Dataset {
        source: Source::Synthetic,
        seed: Some(seed),
        models,
        tasks,
        notes: Vec::new(),
    }
}

/// USD of one call, as the router estimates it: 0 for local and free models.
fn cost(model: &ModelSpec, input: u64, output: u64) -> f64 {
    match (model.tier, model.price) {
        (Tier::Paid, Some(p)) => {
            (p.input_per_mtok * input as f64 + p.output_per_mtok * output as f64) / 1e6
        }
        _ => 0.0,
    }
}

fn log_uniform(rng: &mut Rng, [lo, hi]: [u64; 2]) -> u64 {
    let (lo, hi) = ((lo.max(1)) as f64, (hi.max(lo.max(1))) as f64);
    rng.uniform(lo.ln(), hi.ln()).exp().round() as u64
}
