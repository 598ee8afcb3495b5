//! A dataset from the bench history in the store: per task × model, the mean score over the
//! answered attempts and the mean cost, for the tasks every model has answered; the models as
//! the registry knows them (tier, price, context window).

use std::collections::{BTreeMap, BTreeSet};

use fusion_core::config::Category;
use fusion_core::router::ModelView;
use fusion_core::store::BenchResultRow;

use super::{Dataset, EvalError, EvalModel, EvalTask, MAX_MODELS, MAX_TASKS, Outcome, Source};

/// One task's category and its cells per model.
type TaskCells<'a> = (Category, BTreeMap<&'a str, Cell>);

/// What one model did on one task, summed over its attempts.
#[derive(Default)]
struct Cell {
    score: f64,
    answered: u32,
    cost: f64,
    attempts: u32,
    output_tokens: u64,
}

/// Builds the dataset of `rows` (every run) over the models of `views` that have results.
/// A task counts when every such model has a row for it; a model whose every attempt at a task
/// failed scores 0 there. History rows carry no input size or complexity: the router is told
/// the mean output tokens and estimates the rest (see the notes of the result).
pub fn from_history(rows: &[BenchResultRow], views: &[ModelView]) -> Result<Dataset, EvalError> {
    let mut notes = Vec::new();
    let known: BTreeMap<&str, &ModelView> = views.iter().map(|v| (v.id.as_str(), v)).collect();
    let mut unknown_models = BTreeSet::new();
    let mut bad_categories = BTreeSet::new();
    // (suite, task) → category and per-model cells.
    let mut tasks: BTreeMap<(&str, &str), TaskCells<'_>> = BTreeMap::new();
    for row in rows {
        if !known.contains_key(row.model.as_str()) {
            unknown_models.insert(row.model.as_str());
            continue;
        }
        let Some(category) = Category::parse(&row.category) else {
            bad_categories.insert(row.category.as_str());
            continue;
        };
        let entry = tasks
            .entry((row.suite.as_str(), row.task_id.as_str()))
            .or_insert_with(|| (category, BTreeMap::new()));
        let cell = entry.1.entry(row.model.as_str()).or_default();
        cell.attempts += 1;
        cell.cost += row.cost_usd.max(0.0);
        cell.output_tokens = cell.output_tokens.saturating_add(row.output_tokens);
        if row.error.is_none() {
            cell.score += row.score.clamp(0.0, 1.0);
            cell.answered += 1;
        }
    }
    if !unknown_models.is_empty() {
        notes.push(format!(
            "left out (no longer configured, so no tier or price): {}",
            unknown_models.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !bad_categories.is_empty() {
        notes.push(format!(
            "left out rows of categories the router does not know: {}",
            bad_categories.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let models: BTreeSet<&str> = tasks
        .values()
        .flat_map(|(_, cells)| cells.keys().copied())
        .collect();
    if models.len() < 2 {
        return Err(EvalError::NotEnoughHistory(format!(
            "{} configured model(s) have bench results; run `fusion bench` over two or more",
            models.len()
        )));
    }
    if models.len() > MAX_MODELS {
        return Err(EvalError::NotEnoughHistory(format!(
            "{} models have bench results; at most {MAX_MODELS} can be replayed",
            models.len()
        )));
    }
    let order: Vec<&str> = models.into_iter().collect();
    let mut out = Vec::new();
    let mut incomplete = 0usize;
    for ((suite, task), (category, cells)) in &tasks {
        if cells.len() < order.len() {
            incomplete += 1;
            continue;
        }
        let mut outcomes = Vec::with_capacity(order.len());
        let mut tokens = 0u64;
        let mut attempts = 0u64;
        for id in &order {
            let Some(cell) = cells.get(id) else { continue };
            let attempts_f = f64::from(cell.attempts.max(1));
            outcomes.push(Outcome {
                score: if cell.answered == 0 {
                    0.0
                } else {
                    cell.score / f64::from(cell.answered)
                },
                cost_usd: cell.cost / attempts_f,
                p_success: None,
            });
            tokens = tokens.saturating_add(cell.output_tokens);
            attempts += u64::from(cell.attempts);
        }
        out.push(EvalTask {
            id: format!("{suite}/{task}"),
            category: *category,
            complexity: None,
            input_tokens: None,
            output_tokens: Some(tokens / attempts.max(1)),
            outcomes,
        });
    }
    if incomplete > 0 {
        notes.push(format!(
            "left out {incomplete} task(s) that not every model has answered"
        ));
    }
    if out.len() > MAX_TASKS {
        return Err(EvalError::NotEnoughHistory(format!(
            "{} tasks; at most {MAX_TASKS} can be replayed",
            out.len()
        )));
    }
    let per_category_ok = Category::ALL
        .iter()
        .any(|c| out.iter().filter(|t| t.category == *c).count() >= 2);
    if !per_category_ok {
        return Err(EvalError::NotEnoughHistory(format!(
            "{} task(s) answered by every model; a category needs two or more (one trains the \
             router, one is scored)",
            out.len()
        )));
    }
    notes.push(
        "bench results record no input size or complexity: the router is told the category \
         and the mean output tokens, and estimates complexity (the category's base)"
            .to_owned(),
    );
    let models = order
        .iter()
        .filter_map(|id| known.get(id))
        .map(|v| EvalModel {
            id: v.id.clone(),
            provider: v.provider.clone(),
            tier: v.tier,
            context_window: v.context_window,
            price: v.price,
        })
        .collect();
    Ok(Dataset {
        source: Source::History,
        seed: None,
        models,
        tasks: out,
        notes,
    })
}
