//! The live side of the model table: models discovered from providers (`/v1/models`, Ollama's
//! `/api/tags`) and synced from catalogs, the periodic health check (active probes plus
//! rediscovery), and the views built from it — `fusion models` status and the router's
//! `ModelView`s.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::health::{HealthStats, Probe};
use super::openai::ListedModel;
use super::registry::{ModelEntry, ModelSlot, ModelSource, ProviderRegistry};
use crate::config::{Price, ProviderKind, Tier};
use crate::router::{Health, ModelView};
use crate::store::SyncedModel;
use crate::{ErrorKind, Result};

/// Longest a single probe or listing may take during the health check.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// One model with its health, for `fusion models` and `/api/models`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    #[serde(flatten)]
    pub entry: ModelEntry,
    pub health: Health,
    #[serde(flatten)]
    pub stats: HealthStats,
}

/// One provider with its last probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderStatus {
    pub name: String,
    pub kind: ProviderKind,
    pub tier: Tier,
    pub models: usize,
    pub last_probe: Option<Probe>,
}

impl ProviderRegistry {
    /// Asks every OpenAI-compatible provider of tier local or free for the models it serves
    /// and adds the ones not known yet as `<provider>/<model>`. Paid providers are left out:
    /// their models come from the config or from `fusion models sync`, which brings prices.
    /// Per provider (sorted): how many models were added, or why listing failed.
    pub async fn discover(&self) -> Vec<(String, Result<usize>)> {
        let listings = self
            .providers
            .iter()
            .filter(|(_, h)| h.config.kind == ProviderKind::Openai && h.config.tier != Tier::Paid)
            .map(|(name, handle)| async move {
                let listed =
                    match tokio::time::timeout(PROBE_TIMEOUT, handle.backend.list_models()).await {
                        Ok(listed) => listed,
                        Err(_) => Err(ErrorKind::Timeout {
                            provider: name.clone(),
                            after: PROBE_TIMEOUT,
                        }
                        .into()),
                    };
                (name.clone(), handle.config.tier, listed)
            });
        let mut results = Vec::new();
        for (name, tier, listed) in futures::future::join_all(listings).await {
            let outcome = listed.map(|models| {
                let entries = discovered_entries(&self.models(), &name, tier, &models);
                let added = self.add_models(entries);
                if added > 0 {
                    tracing::info!(provider = %name, added, "discovered models");
                }
                added
            });
            results.push((name, outcome));
        }
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    /// The catalog a provider lists, prices and context lengths included (OpenRouter's
    /// `/api/v1/models`), for `fusion models sync`.
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

    /// Catalog rows as the sync stores them: prices per million tokens, zero-priced models
    /// marked free. Entries without both prices are left out: an unknown price must not pass
    /// for a free model.
    pub fn synced_rows(
        provider: &str,
        listed: &[ListedModel],
        free_only: bool,
    ) -> Vec<SyncedModel> {
        let now = crate::store::now_ms();
        listed
            .iter()
            .filter_map(|m| {
                let pricing = m.pricing.as_ref()?;
                let input = pricing.prompt? * 1e6;
                let output = pricing.completion? * 1e6;
                Some(SyncedModel {
                    provider: provider.to_owned(),
                    model: m.id.clone(),
                    context_window: m.context_length,
                    input_per_mtok: input,
                    output_per_mtok: output,
                    free: input == 0.0 && output == 0.0,
                    synced_at_ms: now,
                })
            })
            .filter(|m| m.free || !free_only)
            .collect()
    }

    /// Adds models synced into the store; a model already configured keeps its config.
    pub fn add_synced(&self, synced: &[SyncedModel]) -> usize {
        let entries = synced
            .iter()
            .filter_map(|m| {
                let provider = self.providers.get(&m.provider)?;
                let tier = if m.free {
                    Tier::Free
                } else {
                    provider.config.tier
                };
                Some(ModelEntry {
                    id: format!("{}/{}", m.provider, m.model),
                    provider: m.provider.clone(),
                    upstream_model: m.model.clone(),
                    tier,
                    context_window: m.context_window,
                    price: Some(Price {
                        input_per_mtok: m.input_per_mtok,
                        output_per_mtok: m.output_per_mtok,
                    }),
                    quality: Default::default(),
                    source: ModelSource::Catalog,
                })
            })
            .collect();
        self.add_models(entries)
    }

    /// Every model as the router sees it.
    pub fn model_views(&self) -> Vec<ModelView> {
        self.table()
            .values()
            .map(|slot| {
                let e = &slot.entry;
                ModelView {
                    id: e.id.clone(),
                    provider: e.provider.clone(),
                    tier: e.tier,
                    context_window: e.context_window,
                    price: e.price,
                    quality: e.quality.clone(),
                    health: self.health_of(slot),
                    latency_p50_ms: slot.health.latency_p50_ms(),
                }
            })
            .collect()
    }

    /// Providers and models with their health, for `fusion models`.
    pub fn status(&self) -> (Vec<ProviderStatus>, Vec<ModelStatus>) {
        let table = self.table();
        let mut providers: Vec<ProviderStatus> = self
            .providers
            .values()
            .map(|h| ProviderStatus {
                name: h.config.name.clone(),
                kind: h.config.kind,
                tier: h.config.tier,
                models: table
                    .values()
                    .filter(|s| s.entry.provider == h.config.name)
                    .count(),
                last_probe: h.health.last(),
            })
            .collect();
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        let models = table
            .values()
            .map(|slot| ModelStatus {
                entry: slot.entry.clone(),
                health: self.health_of(slot),
                stats: slot.health.stats(),
            })
            .collect();
        (providers, models)
    }

    /// A model's health for routing: its circuit, then its provider's last probe.
    fn health_of(&self, slot: &ModelSlot) -> Health {
        let reachable = self
            .providers
            .get(&slot.entry.provider)
            .and_then(|p| p.health.reachable());
        slot.health.view(self.router.cooldown, reachable)
    }

    /// Probes every provider (and rediscovers models, when `router.discover`) now and then
    /// every `router.health_interval`, until the returned task is aborted.
    pub fn spawn_health_checks(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let registry = Arc::downgrade(self);
        let interval = self.router.health_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(registry) = registry.upgrade() else {
                    return;
                };
                for (name, outcome) in registry.probe_all(PROBE_TIMEOUT.min(interval)).await {
                    if let Err(e) = outcome {
                        tracing::debug!(provider = %name, "probe failed: {e}");
                    }
                }
                if registry.router.discover {
                    for (name, outcome) in registry.discover().await {
                        if let Err(e) = outcome {
                            tracing::debug!(provider = %name, "model listing failed: {e}");
                        }
                    }
                }
            }
        })
    }
}

/// The listed models not known yet, as registry entries named `<provider>/<model>`.
fn discovered_entries(
    known: &[ModelEntry],
    provider: &str,
    tier: Tier,
    listed: &[ListedModel],
) -> Vec<ModelEntry> {
    let served: HashSet<&str> = known
        .iter()
        .filter(|m| m.provider == provider)
        .map(|m| m.upstream_model.as_str())
        .collect();
    listed
        .iter()
        .filter(|m| !served.contains(m.id.as_str()))
        .map(|m| ModelEntry {
            id: format!("{provider}/{}", m.id),
            provider: provider.to_owned(),
            upstream_model: m.id.clone(),
            tier,
            context_window: m.context_length,
            price: None,
            quality: Default::default(),
            source: ModelSource::Discovered,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::openai::ListedPricing;

    fn listed(id: &str, prompt: Option<f64>, completion: Option<f64>) -> ListedModel {
        ListedModel {
            id: id.into(),
            context_length: Some(8192),
            pricing: Some(ListedPricing { prompt, completion }),
        }
    }

    #[test]
    fn catalog_rows_mark_zero_priced_models_free_and_the_switch_keeps_only_those() {
        let catalog = [
            listed("a/free:free", Some(0.0), Some(0.0)),
            listed("b/paid", Some(0.000_003), Some(0.000_015)),
            listed("c/unpriced", None, None),
        ];
        let rows = ProviderRegistry::synced_rows("or", &catalog, false);
        assert_eq!(rows.len(), 2, "an entry without prices is left out");
        assert!(rows[0].free);
        assert!(!rows[1].free);
        assert!((rows[1].input_per_mtok - 3.0).abs() < 1e-9);
        assert!((rows[1].output_per_mtok - 15.0).abs() < 1e-9);
        let free = ProviderRegistry::synced_rows("or", &catalog, true);
        assert_eq!(free.len(), 1);
        assert_eq!(free[0].model, "a/free:free");
    }

    #[test]
    fn discovery_skips_models_the_config_already_serves() {
        let known = [ModelEntry {
            id: "coder".into(),
            provider: "ollama".into(),
            upstream_model: "qwen:7b".into(),
            tier: Tier::Local,
            context_window: None,
            price: None,
            quality: Default::default(),
            source: ModelSource::Config,
        }];
        let listed = [
            ListedModel {
                id: "qwen:7b".into(),
                context_length: None,
                pricing: None,
            },
            ListedModel {
                id: "llama3:8b".into(),
                context_length: None,
                pricing: None,
            },
        ];
        let found = discovered_entries(&known, "ollama", Tier::Local, &listed);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "ollama/llama3:8b");
        assert_eq!(found[0].source, ModelSource::Discovered);
    }
}
