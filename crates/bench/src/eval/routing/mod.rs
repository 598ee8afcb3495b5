//! What the router's choices are worth: per-task, per-model outcomes (a labelled synthetic set,
//! or the bench history in the store) replayed through [`fusion_core::router::decide`] at a
//! sweep of priorities and thresholds, scored against always-one-model, random and oracle
//! baselines. This module owns the data model and the entry point ([`evaluate`]); `synthetic`
//! generates the synthetic set, `history` reads bench results, `replay` runs the router,
//! `baselines` the policies it is compared with, `proposal` weighs each part of the policy (the
//! quality it is given, the rule) through the same `decide`, `metrics` holds the curve arithmetic (APGR, the oracle, cost of 95%) and
//! `render` the tables.
//!
//! # Method
//!
//! - **Split.** Per category, the tasks are shuffled (seeded) and the first half trains: the
//!   router is given each model's measured quality per category on the training tasks only
//!   ([`fusion_bench::stats::summarize`](crate::stats::summarize) of their rows) and the fit of
//!   their scores against the complexity it estimates for each
//!   ([`fusion_core::router::ComplexityFit`], as the registry fits what `fusion bench`
//!   records); every number reported is on the other half, the test tasks.
//! - **Sweep.** Priorities `cost`, `balanced`, `quality` × `quality_threshold` 0, 0.1 … 1 ×
//!   `cost_threshold` from $0.0001 to $1 per call (log steps); the other settings are
//!   `RouterConfig::default()`. Each point routes every test task once; a task the router finds
//!   no model for scores 0 at no cost (the request would fail).
//! - **Baselines.** Always one model (each of them), always-cheapest (the least total cost on
//!   the test tasks; at equal cost the better one), always-strongest (the best test quality; at
//!   equal quality the cheaper one), random (a uniform model per task, averaged over
//!   [`EvalOptions::random_repeats`] seeded draws) and the oracle (per task the best score, at the
//!   least cost that reaches it: "the cheapest model that succeeds, else the cheapest" — a
//!   failure costs as little as it can). On the synthetic set, also the expected-value oracle:
//!   it knows each task's success chances (not its outcomes) and takes the model with the most
//!   `chance − λ × cost`, λ swept — the best a router that sees only the task can do on
//!   average. The aims compare the router with always-cheapest, always-strongest and random.
//! - **APGR** follows RouteLLM's "average performance gap recovered": a policy's quality as a
//!   function of its cost budget is the upper concave envelope of its points and the
//!   always-cheapest point (two configurations can be mixed per request; beyond its dearest
//!   point the quality stays flat), the performance gap recovered at a budget is
//!   `(quality − cheapest quality) / (strongest quality − cheapest quality)`, and APGR is its
//!   mean over budgets uniform in [cheapest cost, strongest cost]. Always-cheapest scores 0;
//!   always-strongest scores 0.5 — its envelope is the random mix of the cheapest and the
//!   strongest, RouteLLM's random router — while its PGR at its own point is 1. The oracle's
//!   envelope is the exact optimum at every budget (see [`metrics::oracle_curve`]), so no
//!   policy's APGR exceeds it.
//! - **Cost of 95%**: the cheapest sweep point whose quality reaches 95% of always-strongest's,
//!   as a percentage of always-strongest's cost.

mod baselines;
mod history;
pub mod metrics;
pub mod proposal;
mod render;
mod replay;
mod rng;
pub mod synthetic;

use fusion_core::config::{Category, Price, Tier};
use serde::Serialize;

pub use baselines::PolicyResult;
pub use history::from_history;
pub use render::{markdown, table};
pub use replay::{RoutingEval, SweepPoint, evaluate, split};

/// Most models a dataset may hold.
pub const MAX_MODELS: usize = 64;
/// Most tasks a dataset may hold.
pub const MAX_TASKS: usize = 50_000;

/// What went wrong building or evaluating a dataset.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("the synthetic set's spec is invalid: {0}")]
    Spec(String),
    #[error("the dataset is invalid: {0}")]
    Dataset(String),
    #[error("not enough bench history to replay: {0}")]
    NotEnoughHistory(String),
}

/// Where a dataset came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Synthetic,
    History,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synthetic => "synthetic",
            Self::History => "history",
        }
    }
}

/// One model of a dataset, as the router is told about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalModel {
    pub id: String,
    pub provider: String,
    pub tier: Tier,
    pub context_window: Option<u32>,
    pub price: Option<Price>,
}

/// What one model did on one task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    /// 0 to 1 (mean over attempts).
    pub score: f64,
    /// USD.
    pub cost_usd: f64,
    /// The synthetic set's label: the chance the model had of answering it right.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_success: Option<f64>,
}

/// One task with every model's outcome (in the dataset's model order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalTask {
    pub id: String,
    pub category: Category,
    /// What the router is told (0–1); `None`: it estimates it from the (empty) text.
    pub complexity: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub outcomes: Vec<Outcome>,
}

/// Per-task, per-model outcomes to replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    pub source: Source,
    /// The generator's seed (synthetic set).
    pub seed: Option<u64>,
    pub models: Vec<EvalModel>,
    pub tasks: Vec<EvalTask>,
    /// What was left out or assumed while building it.
    pub notes: Vec<String>,
}

impl Dataset {
    /// Checks sizes and values: 2..=[`MAX_MODELS`] models with distinct ids,
    /// 2..=[`MAX_TASKS`] tasks, one outcome per model, scores in 0..1, costs finite and ≥ 0.
    pub fn validate(&self) -> Result<(), EvalError> {
        let bad = |why: String| Err(EvalError::Dataset(why));
        if self.models.len() < 2 || self.models.len() > MAX_MODELS {
            return bad(format!(
                "{} models; between 2 and {MAX_MODELS} are needed",
                self.models.len()
            ));
        }
        if self.tasks.len() < 2 || self.tasks.len() > MAX_TASKS {
            return bad(format!(
                "{} tasks; between 2 and {MAX_TASKS} are needed",
                self.tasks.len()
            ));
        }
        let mut ids: Vec<&str> = self.models.iter().map(|m| m.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
            return bad(format!("model {} is listed twice", pair[0]));
        }
        for task in &self.tasks {
            if task.outcomes.len() != self.models.len() {
                return bad(format!(
                    "task {} has {} outcomes for {} models",
                    task.id,
                    task.outcomes.len(),
                    self.models.len()
                ));
            }
            if let Some(c) = task.complexity
                && !(0.0..=1.0).contains(&c)
            {
                return bad(format!("task {}: complexity {c} is not in 0..1", task.id));
            }
            for (model, o) in self.models.iter().zip(&task.outcomes) {
                if !(0.0..=1.0).contains(&o.score) {
                    return bad(format!(
                        "task {} × {}: score {} is not in 0..1",
                        task.id, model.id, o.score
                    ));
                }
                if !o.cost_usd.is_finite() || o.cost_usd < 0.0 {
                    return bad(format!(
                        "task {} × {}: cost {} is not a finite amount ≥ 0",
                        task.id, model.id, o.cost_usd
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How an evaluation runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalOptions {
    /// Seeds the train/test split and the random baseline.
    pub seed: u64,
    /// Draws of the random baseline averaged.
    pub random_repeats: u32,
    pub sweep: Sweep,
    /// Also simulate policy changes (`proposal`): about four times the work.
    pub simulate: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            seed: 17,
            random_repeats: 32,
            sweep: Sweep::default(),
            simulate: false,
        }
    }
}

/// The router settings tried: every priority × quality threshold × cost threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sweep {
    pub priorities: Vec<fusion_core::config::Priority>,
    pub quality_thresholds: Vec<f64>,
    /// USD per call.
    pub cost_thresholds: Vec<f64>,
}

/// Most sweep points an evaluation runs.
pub const MAX_SWEEP_POINTS: usize = 10_000;

impl Default for Sweep {
    fn default() -> Self {
        use fusion_core::config::Priority;
        Self {
            priorities: vec![Priority::Cost, Priority::Balanced, Priority::Quality],
            quality_thresholds: (0..=10).map(|i| f64::from(i) / 10.0).collect(),
            cost_thresholds: vec![0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0],
        }
    }
}

impl Sweep {
    /// How many router settings it tries.
    pub fn len(&self) -> usize {
        self.priorities.len() * self.quality_thresholds.len() * self.cost_thresholds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
