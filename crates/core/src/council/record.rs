//! A council run's entry in the dashboard's history: what its calls cost (summed per seat as
//! the run goes, each call priced on its own model) and, when it ends, the run handed to the
//! store's history writer with the caller it ran for — queued, never written on the run's path.

use fusion_types::{CouncilResult, Usage};

use crate::providers::{ProviderRegistry, call_cost, current_caller};
use crate::store::CouncilEnded;
use crate::store::councils::{MAX_QUESTION_CHARS, cut};

/// What a council's calls cost so far.
#[derive(Debug, Default)]
pub(super) struct Spend {
    usd: f64,
}

impl Spend {
    /// Adds a call of `model` that used `usage` (0 for a model the registry does not know, or a
    /// local or free one).
    pub(super) fn add(&mut self, registry: &ProviderRegistry, model: &str, usage: &Usage) {
        if let Some(entry) = registry.model(model) {
            self.usd += call_cost(&entry, usage.prompt_tokens, usage.completion_tokens);
        }
    }
}

/// Records the run that just ended, when the registry has a store.
pub(super) fn ended(
    registry: &ProviderRegistry,
    name: &str,
    prompt: &str,
    result: &CouncilResult,
    spend: &Spend,
) {
    let Some(ledger) = registry.ledger() else {
        return;
    };
    ledger.history().record_council(CouncilEnded {
        council: name.to_owned(),
        caller: current_caller(),
        question: cut(prompt, MAX_QUESTION_CHARS),
        result: result.clone(),
        cost_usd: spend.usd,
    });
}
