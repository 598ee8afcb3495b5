//! Where a model's price comes from, and how listed and catalog models join the model table. A
//! price comes only from the config or a catalog: a listed model of a provider that is not
//! `local` is free only when its listing says so (`pricing` of 0, or an id ending in `:free`),
//! paid at its price when it has one, and of unknown price otherwise — never $0 by default.
//! OpenRouter-style catalogs (`catalog = true`, or detected from a listing that carries prices)
//! are synced into the store at start and every `catalog_refresh`, the same way as
//! `fusion models sync NAME`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::listing::ListedModel;
use super::registry::{
    ModelEntry, ModelSlot, ModelSource, ModelTable, ProviderHandle, ProviderRegistry,
};
use crate::config::{Price, ProviderKind, Tier};
use crate::store::{Ledger, SyncedModel, now_ms};
use crate::{ErrorKind, Result};

/// What one catalog sync did.
#[derive(Debug, Clone)]
pub struct CatalogSync {
    /// Entries the provider listed.
    pub listed: usize,
    /// The rows stored (priced entries; only free ones with `free_only`).
    pub rows: Vec<SyncedModel>,
    /// Listed entries without a price (not imported).
    pub unpriced: usize,
}

/// The price a listing states for a model, per million tokens: OpenRouter's `pricing` (USD per
/// token; both prompt and completion, neither negative), else $0 for an id ending in `:free`.
pub fn listed_price(model: &ListedModel) -> Option<Price> {
    let stated = model.pricing.as_ref().and_then(|p| {
        let (prompt, completion) = (p.prompt?, p.completion?);
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        (valid(prompt) && valid(completion)).then_some(Price {
            input_per_mtok: prompt * 1e6,
            output_per_mtok: completion * 1e6,
        })
    });
    stated.or_else(|| model.id.ends_with(":free").then(Price::default))
}

/// The tier of a model of a provider of `provider_tier` at `price`: local stays local; otherwise
/// free only at a known price of zero, paid at any other price or an unknown one.
pub fn priced_tier(provider_tier: Tier, price: Option<Price>) -> Tier {
    match (provider_tier, price) {
        (Tier::Local, _) => Tier::Local,
        (_, Some(p)) if p.input_per_mtok == 0.0 && p.output_per_mtok == 0.0 => Tier::Free,
        _ => Tier::Paid,
    }
}

/// A provider's listed models as registry entries named `<provider>/<model>`, priced by the
/// listing (local providers' models are free whatever it says).
pub(super) fn listed_entries(
    provider: &str,
    tier: Tier,
    listed: &[ListedModel],
) -> Vec<ModelEntry> {
    listed
        .iter()
        .map(|m| {
            let price = (tier != Tier::Local).then(|| listed_price(m)).flatten();
            ModelEntry {
                id: format!("{provider}/{}", m.id),
                provider: provider.to_owned(),
                upstream_model: m.id.clone(),
                tier: priced_tier(tier, price),
                context_window: m.context_window(),
                price,
                quality: Default::default(),
                source: ModelSource::Discovered,
            }
        })
        .collect()
}

/// A configured model with what its config leaves out taken from a listing or catalog: the
/// context window, and (unless local) the price with the tier it implies. `None`: nothing new.
fn enriched(config: &ModelEntry, listed: &ModelEntry) -> Option<ModelEntry> {
    let mut entry = config.clone();
    if entry.context_window.is_none() {
        entry.context_window = listed.context_window;
    }
    if entry.price.is_none() && entry.tier != Tier::Local && listed.price.is_some() {
        entry.price = listed.price;
        entry.tier = listed.tier;
    }
    (entry != *config).then_some(entry)
}

/// Whether `new` should replace `old` (same id): never a configured model; a discovered entry
/// never replaces a catalog one; otherwise when anything changed.
fn replaces(old: &ModelEntry, new: &ModelEntry) -> bool {
    match (old.source, new.source) {
        (ModelSource::Config, _) | (ModelSource::Catalog, ModelSource::Discovered) => false,
        _ => old != new,
    }
}

impl ProviderRegistry {
    /// Adds listed or synced models to the table: new ids join; known discovered or catalog
    /// entries are updated (keeping their health and limits); a configured model serving the same
    /// upstream model takes only what its config leaves out. Returns how many joined.
    pub(super) fn merge_models(&self, entries: Vec<ModelEntry>) -> usize {
        let mut guard = match self.models.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut table = ModelTable::clone(&guard);
        let mut configured: HashMap<(String, String), Vec<String>> = HashMap::new();
        for slot in table
            .values()
            .filter(|s| s.entry.source == ModelSource::Config)
        {
            let key = (
                slot.entry.provider.clone(),
                slot.entry.upstream_model.clone(),
            );
            configured
                .entry(key)
                .or_default()
                .push(slot.entry.id.clone());
        }
        let (mut added, mut changed) = (0, false);
        for entry in entries {
            if !self.providers.contains_key(&entry.provider) {
                continue;
            }
            let key = (entry.provider.clone(), entry.upstream_model.clone());
            if let Some(ids) = configured.get(&key) {
                for id in ids {
                    let Some(slot) = table.get(id) else { continue };
                    if let Some(better) = enriched(&slot.entry, &entry) {
                        let slot = Arc::new(slot.updated(better));
                        table.insert(id.clone(), slot);
                        changed = true;
                    }
                }
                continue;
            }
            match table.get(&entry.id) {
                None => {
                    let slot = ModelSlot::new(entry);
                    self.restore_limits(&slot);
                    table.insert(slot.entry.id.clone(), Arc::new(slot));
                    added += 1;
                    changed = true;
                }
                Some(slot) if replaces(&slot.entry, &entry) => {
                    let slot = Arc::new(slot.updated(entry));
                    table.insert(slot.entry.id.clone(), slot);
                    changed = true;
                }
                Some(_) => {}
            }
        }
        if changed {
            *guard = Arc::new(table);
        }
        added
    }

    /// Catalog rows as the sync stores them: prices per million tokens, zero-priced models (and
    /// `:free` ids) marked free. Entries without a price are left out: an unknown price must not
    /// pass for a free model. With `free_only`, only the free rows.
    pub fn synced_rows(
        provider: &str,
        listed: &[ListedModel],
        free_only: bool,
    ) -> Vec<SyncedModel> {
        let now = now_ms();
        listed
            .iter()
            .filter_map(|m| {
                let price = listed_price(m)?;
                Some(SyncedModel {
                    provider: provider.to_owned(),
                    model: m.id.clone(),
                    context_window: m.context_window(),
                    input_per_mtok: price.input_per_mtok,
                    output_per_mtok: price.output_per_mtok,
                    free: price.input_per_mtok == 0.0 && price.output_per_mtok == 0.0,
                    synced_at_ms: now,
                })
            })
            .filter(|m| m.free || !free_only)
            .collect()
    }

    /// Adds (or updates) the models of synced catalog rows; a configured model keeps its config.
    /// Returns how many joined.
    pub fn add_synced(&self, synced: &[SyncedModel]) -> usize {
        let entries = synced
            .iter()
            .filter_map(|m| {
                let handle = self.providers.get(&m.provider)?;
                handle
                    .catalog_synced_ms
                    .fetch_max(m.synced_at_ms, Ordering::Relaxed);
                let price = Price {
                    input_per_mtok: m.input_per_mtok,
                    output_per_mtok: m.output_per_mtok,
                };
                Some(ModelEntry {
                    id: format!("{}/{}", m.provider, m.model),
                    provider: m.provider.clone(),
                    upstream_model: m.model.clone(),
                    tier: priced_tier(handle.config.tier, Some(price)),
                    context_window: m.context_window,
                    price: Some(price),
                    quality: Default::default(),
                    source: ModelSource::Catalog,
                })
            })
            .collect();
        self.merge_models(entries)
    }

    /// The catalog a provider lists, prices and context lengths included (OpenRouter's
    /// `/api/v1/models`).
    pub async fn list_catalog(&self, provider: &str) -> Result<Vec<ListedModel>> {
        let handle = self.providers.get(provider).ok_or_else(|| {
            let mut known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
            known.sort_unstable();
            ErrorKind::Invalid(format!(
                "no provider named `{provider}`; configured providers: {}",
                known.join(", ")
            ))
        })?;
        if handle.config.kind != ProviderKind::Openai {
            return Err(ErrorKind::Invalid(format!(
                "provider `{provider}` is kind {:?}; only OpenAI-compatible providers list a catalog",
                handle.config.kind
            ))
            .into());
        }
        handle.backend.list_models().await
    }

    /// Lists `provider`'s catalog, replaces its rows in the store and updates the model table
    /// (`fusion models sync`, and the periodic sync).
    pub async fn sync_catalog(&self, provider: &str, free_only: bool) -> Result<CatalogSync> {
        let listed = self.list_catalog(provider).await?;
        let rows = Self::synced_rows(provider, &listed, free_only);
        let store = self
            .ledger()
            .map(Ledger::store)
            .ok_or_else(|| ErrorKind::Invalid("no store to sync the catalog into".to_owned()))?;
        store.replace_synced_models(provider, &rows).await?;
        self.add_synced(&rows);
        if let Some(handle) = self.providers.get(provider) {
            handle
                .catalog_synced_ms
                .fetch_max(now_ms(), Ordering::Relaxed);
        }
        Ok(CatalogSync {
            listed: listed.len(),
            unpriced: listed.iter().filter(|m| listed_price(m).is_none()).count(),
            rows,
        })
    }

    /// Syncs every catalog provider whose last sync is `catalog_refresh` old (or that was never
    /// synced): those with `catalog = true`, and those whose listing carried prices.
    pub(super) async fn sync_due_catalogs(&self) {
        let mut due: Vec<(&String, &Arc<ProviderHandle>)> = self
            .providers
            .iter()
            .filter(|(_, h)| is_catalog(h) && catalog_due(h, now_ms()))
            .collect();
        due.sort_by(|a, b| a.0.cmp(b.0));
        for (name, handle) in due {
            // The outcome is logged and kept on the provider (fusion://catalog/status).
            let _ = self.sync_bounded(name, handle).await;
        }
    }

    /// Syncs one provider's whole catalog within its timeout; the outcome is logged and its
    /// error (or none; what a client may be told) kept as the provider's last catalog error.
    pub(super) async fn sync_bounded(
        &self,
        name: &str,
        handle: &ProviderHandle,
    ) -> Result<CatalogSync> {
        let timeout = handle.config.timeout;
        let outcome = match tokio::time::timeout(timeout, self.sync_catalog(name, false)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ErrorKind::Timeout {
                provider: name.to_owned(),
                after: timeout,
            }
            .into()),
        };
        match &outcome {
            Ok(sync) => {
                let free = sync.rows.iter().filter(|m| m.free).count();
                tracing::info!(provider = %name, models = sync.rows.len(), free,
                    unpriced = sync.unpriced, "catalog synced");
            }
            Err(e) => tracing::warn!(provider = %name, "catalog sync failed: {e}"),
        }
        *handle
            .catalog_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            outcome.as_ref().err().map(|e| e.for_client().message);
        outcome
    }
}

impl ProviderHandle {
    /// Why its last catalog sync failed, if it did.
    pub(super) fn last_catalog_error(&self) -> Option<String> {
        self.catalog_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Whether the provider's listing is a catalog to sync: `catalog` when set, else detected.
pub(super) fn is_catalog(handle: &ProviderHandle) -> bool {
    handle.config.kind == ProviderKind::Openai
        && handle
            .config
            .catalog
            .unwrap_or_else(|| handle.catalog_detected.load(Ordering::Relaxed))
}

fn catalog_due(handle: &ProviderHandle, now_ms: i64) -> bool {
    let refresh = i64::try_from(handle.config.catalog_refresh.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(handle.catalog_synced_ms.load(Ordering::Relaxed)) >= refresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ListedPricing;

    fn listed(id: &str, prompt: Option<f64>, completion: Option<f64>) -> ListedModel {
        ListedModel {
            id: id.into(),
            context_length: Some(8192),
            pricing: Some(ListedPricing { prompt, completion }),
            ..ListedModel::default()
        }
    }

    #[test]
    fn catalog_rows_mark_zero_priced_models_free_and_the_switch_keeps_only_those() {
        let catalog = [
            listed("a/free", Some(0.0), Some(0.0)),
            listed("b/paid", Some(0.000_003), Some(0.000_015)),
            listed("c/unpriced", None, None),
            listed("d/router", Some(-1.0), Some(-1.0)),
        ];
        let rows = ProviderRegistry::synced_rows("or", &catalog, false);
        assert_eq!(rows.len(), 2, "entries without a valid price are left out");
        assert!(rows[0].free);
        assert!(!rows[1].free);
        assert!((rows[1].input_per_mtok - 3.0).abs() < 1e-9);
        assert!((rows[1].output_per_mtok - 15.0).abs() < 1e-9);
        let free = ProviderRegistry::synced_rows("or", &catalog, true);
        assert_eq!(free.len(), 1);
        assert_eq!(free[0].model, "a/free");
    }

    #[test]
    fn a_listed_model_is_free_only_when_the_listing_says_so() {
        let plain = |id: &str| ListedModel {
            id: id.into(),
            ..ListedModel::default()
        };
        let listing = [
            listed("anthropic/claude-opus-4", Some(0.000_015), Some(0.000_075)),
            listed("meta/llama", Some(0.0), Some(0.0)),
            plain("qwen/qwen3:free"),
            plain("mystery/model"),
        ];
        let hosted = listed_entries("or", Tier::Free, &listing);
        let opus = &hosted[0];
        assert_eq!(opus.tier, Tier::Paid);
        assert_eq!(opus.price.map(|p| p.output_per_mtok), Some(75.0));
        assert!(!opus.price_unknown());
        assert_eq!((hosted[1].tier, hosted[2].tier), (Tier::Free, Tier::Free));
        assert_eq!(hosted[2].price, Some(Price::default()));
        let mystery = &hosted[3];
        assert_eq!((mystery.tier, mystery.price), (Tier::Paid, None));
        assert!(mystery.price_unknown(), "an unknown price is not $0");

        let local = listed_entries("ollama", Tier::Local, &listing);
        assert!(
            local
                .iter()
                .all(|e| e.tier == Tier::Local && !e.price_unknown())
        );
        assert_eq!(local[0].context_window, Some(8192));
    }

    #[test]
    fn a_configured_model_takes_only_what_its_config_leaves_out() {
        let config = ModelEntry {
            id: "opus".into(),
            provider: "or".into(),
            upstream_model: "anthropic/claude-opus-4".into(),
            tier: Tier::Free,
            context_window: None,
            price: None,
            quality: Default::default(),
            source: ModelSource::Config,
        };
        let listing = [listed(
            "anthropic/claude-opus-4",
            Some(0.000_015),
            Some(0.000_075),
        )];
        let listed = &listed_entries("or", Tier::Free, &listing)[0];
        let better = enriched(&config, listed).unwrap();
        assert_eq!(better.tier, Tier::Paid);
        assert_eq!(better.context_window, Some(8192));
        assert_eq!(better.id, "opus");
        let priced = ModelEntry {
            price: Some(Price::default()),
            context_window: Some(4096),
            ..config
        };
        assert_eq!(enriched(&priced, listed), None, "the config wins");
        assert!(!replaces(&priced, listed));
        let catalog = ModelEntry {
            source: ModelSource::Catalog,
            ..listed.clone()
        };
        assert!(!replaces(&catalog, listed));
        assert!(replaces(listed, &catalog));
    }
}
