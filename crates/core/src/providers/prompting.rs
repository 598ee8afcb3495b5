//! The registry's side of prompting strategies: finding the model a strategy is for, storing a
//! strategy set through MCP and taking it into the in-memory table the calls read (see
//! `crate::prompting` for what a strategy does to a request).

use super::ProviderRegistry;
use crate::prompting::{ModelStrategy, PromptingStrategy, StoredStrategy};
use crate::store::{Store, now_ms};
use crate::{ErrorKind, Result};

/// How many known model ids an unknown-model message names.
const NAMED_MODELS: usize = 20;

impl ProviderRegistry {
    /// Fusion's id of the model `wanted` names: its id, else the upstream name of exactly one
    /// model (`meta-llama/llama-3.3-70b-instruct:free` for `openrouter/meta-llama/...`). The
    /// error says why none fits, naming known ids.
    pub fn model_named(&self, wanted: &str) -> std::result::Result<String, String> {
        let table = self.table();
        if table.contains_key(wanted) {
            return Ok(wanted.to_owned());
        }
        let upstream: Vec<&String> = table
            .values()
            .filter(|s| s.entry.upstream_model == wanted)
            .map(|s| &s.entry.id)
            .collect();
        match upstream.as_slice() {
            [only] => Ok((*only).clone()),
            [] => {
                let mut known: Vec<&str> = table.keys().map(String::as_str).collect();
                let more = known.len().saturating_sub(NAMED_MODELS);
                known.truncate(NAMED_MODELS);
                let listed = if known.is_empty() {
                    "none".to_owned()
                } else if more > 0 {
                    format!("{} and {more} more (fusion://catalog)", known.join(", "))
                } else {
                    known.join(", ")
                };
                Err(format!("no model `{wanted}`; known models: {listed}"))
            }
            several => Err(format!(
                "`{wanted}` is the upstream name of several models ({}); give Fusion's id",
                several
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The strategy in force for model `id`, if any.
    pub fn prompting_strategy(&self, id: &str) -> Option<ModelStrategy> {
        self.prompting.describe(id)
    }

    /// Stores `strategy` for model `id` (a Fusion id, see [`Self::model_named`]) in `store`;
    /// every call from now on is rewritten by it, over the configured one if there is one.
    pub async fn set_prompting_strategy(
        &self,
        store: &Store,
        id: &str,
        strategy: PromptingStrategy,
    ) -> Result<ModelStrategy> {
        if let Err((field, problem)) = strategy.check() {
            return Err(ErrorKind::Invalid(format!("`{field}` {problem}")).into());
        }
        let row = StoredStrategy {
            model: id.to_owned(),
            strategy,
            updated_ms: now_ms(),
        };
        store.put_prompting_strategy(&row).await?;
        self.prompting.put_stored(row);
        self.prompting
            .describe(id)
            .ok_or_else(|| ErrorKind::Invalid(format!("no strategy held for `{id}`")).into())
    }
}
