//! The live side of the model table: models discovered from providers (`/v1/models`, Ollama's
//! `/api/tags`), priced by their listing (see `catalog`) and, for local servers, given the
//! context window the server states (see `local_context`); the periodic health check (active
//! probes, rediscovery, catalog syncs that are due); and the views built from it — `fusion
//! models` status and the router's `ModelView`s.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::catalog::listed_entries;
use super::health::{HealthStats, Probe};
use super::limits::Block;
use super::listing::ListedModel;
use super::registry::{ModelEntry, ModelSlot, ProviderHandle, ProviderRegistry};
use super::{Backend, local_context};
use crate::config::{ProviderKind, Tier};
use crate::router::{Health, ModelView};
use crate::store::{Store, now_ms};
use crate::{ErrorKind, Result};

/// Longest a single probe or listing may take during the health check.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// One model with its health, for `fusion models` and `/api/models`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    #[serde(flatten)]
    pub entry: ModelEntry,
    /// Neither the config nor a catalog gives its price (and it is not local).
    pub price_unknown: bool,
    pub health: Health,
    #[serde(flatten)]
    pub stats: HealthStats,
    /// What benchmarks measured, by category (`fusion bench`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub measured: std::collections::BTreeMap<&'static str, crate::router::Measured>,
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
    /// Asks every OpenAI-compatible provider of tier local or free for the models it serves;
    /// the ones not known yet join as `<provider>/<model>`, priced by the listing (a hosted
    /// model without a stated price has an unknown one), local ones with the context window
    /// their server states. Paid providers are left out: their models come from the config or a
    /// catalog, which brings prices. Per provider (sorted): how many models joined, or why
    /// listing failed.
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
                let outcome = match listed {
                    Ok(models) => Ok(self.take_listing(handle, &models).await),
                    Err(e) => Err(e),
                };
                (name.clone(), outcome)
            });
        let mut results = futures::future::join_all(listings).await;
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    /// Adds what one provider listed; a listing with prices marks the provider a catalog.
    async fn take_listing(&self, handle: &ProviderHandle, listed: &[ListedModel]) -> usize {
        let config = &handle.config;
        if config.tier != Tier::Local && listed.iter().any(|m| m.pricing.is_some()) {
            handle
                .catalog_detected
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut entries = listed_entries(&config.name, config.tier, listed);
        if config.tier == Tier::Local {
            self.ask_context_windows(handle, &mut entries).await;
        }
        let added = self.merge_models(entries);
        if added > 0 {
            tracing::info!(provider = %config.name, added, "discovered models");
        }
        added
    }

    /// Fills the context windows a local server's listing left out (for its listed models and
    /// the configured ones without a window) by asking the server, once per model.
    async fn ask_context_windows(&self, handle: &ProviderHandle, entries: &mut [ModelEntry]) {
        let Backend::OpenAi(backend) = &handle.backend else {
            return;
        };
        let table = self.table();
        let known = |upstream: &str| {
            table.values().any(|s| {
                s.entry.provider == handle.config.name
                    && s.entry.upstream_model == upstream
                    && s.entry.context_window.is_some()
            })
        };
        let ask: Vec<String> = {
            let mut asked = handle
                .context_asked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            entries
                .iter()
                .filter(|e| e.context_window.is_none() && !known(&e.upstream_model))
                .map(|e| e.upstream_model.clone())
                .filter(|m| asked.insert(m.clone()))
                .collect()
        };
        if ask.is_empty() {
            return;
        }
        let windows = local_context::context_windows(backend, &ask).await;
        tracing::debug!(provider = %handle.config.name, asked = ask.len(), found = windows.len(),
            "asked the local server for context windows");
        for entry in entries.iter_mut() {
            if let Some(window) = windows.get(&entry.upstream_model) {
                entry.context_window = Some(*window);
            }
        }
    }

    /// Takes back what the store keeps for the model table: the synced catalogs, the daily
    /// usage of models whose provider states a daily cap, the prompting strategies set
    /// through MCP, and what benchmarks measured.
    pub async fn restore_from(&self, store: &Store) -> Result<()> {
        let synced = store.synced_models().await?;
        self.add_synced(&synced);
        self.restore_daily_usage(&store.model_daily_usage(now_ms()).await?);
        self.prompting
            .replace_stored(store.prompting_strategies().await?);
        self.reload_measured(store).await?;
        Ok(())
    }

    /// Every model as the router sees it.
    pub fn model_views(&self) -> Vec<ModelView> {
        let now = now_ms();
        let measured = self.measured_table();
        self.table()
            .values()
            .map(|slot| {
                let e = &slot.entry;
                ModelView {
                    measured: measured.get(&e.id).copied().unwrap_or_default(),
                    id: e.id.clone(),
                    provider: e.provider.clone(),
                    tier: e.tier,
                    context_window: e.context_window,
                    price: e.price,
                    price_unknown: e.price_unknown(),
                    quality: e.quality.clone(),
                    health: self.health_of(slot, now),
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
        let now = now_ms();
        let measured = self.measured_table();
        let models = table
            .values()
            .map(|slot| ModelStatus {
                entry: slot.entry.clone(),
                price_unknown: slot.entry.price_unknown(),
                health: self.health_of(slot, now),
                stats: slot.health.stats(),
                measured: measured
                    .get(&slot.entry.id)
                    .map(|m| m.iter().map(|(c, q)| (c.as_str(), q)).collect())
                    .unwrap_or_default(),
            })
            .collect();
        (providers, models)
    }

    /// A model's health for routing: limits its provider stated (a 429 cooldown, a used-up
    /// daily cap), then its circuit, then its provider's last probe.
    fn health_of(&self, slot: &ModelSlot, now_ms: i64) -> Health {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match slot.limits.blocked(now_ms) {
            Some(Block::RateLimited { retry_in }) => {
                return Health::RateLimited {
                    retry_in_ms: ms(retry_in),
                };
            }
            Some(Block::DailyCap {
                limit,
                used,
                resets_in,
            }) => {
                return Health::DailyCapReached {
                    limit,
                    used,
                    resets_in_ms: ms(resets_in),
                };
            }
            None => {}
        }
        let reachable = self
            .providers
            .get(&slot.entry.provider)
            .and_then(|p| p.health.reachable());
        slot.health.view(self.router.cooldown, reachable)
    }

    /// Probes every provider, rediscovers models (when `router.discover`), syncs the
    /// catalogs that are due and rereads what benchmarks measured, now and then every
    /// `router.health_interval`, until the returned task is aborted.
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
                registry.sync_due_catalogs().await;
                // A bench run by another process (`fusion bench`) reaches this one's router.
                if let Some(ledger) = registry.ledger()
                    && let Err(e) = registry.reload_measured(ledger.store()).await
                {
                    tracing::debug!("reading measured quality failed: {e}");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::providers::ModelSource;

    #[test]
    fn discovery_enriches_the_configured_model_instead_of_repeating_it() {
        let config: Config = toml::from_str(
            r#"
[[providers]]
name = "ollama"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "coder"
provider = "ollama"
model = "qwen:7b"
"#,
        )
        .unwrap();
        let registry = ProviderRegistry::from_config(&config).unwrap();
        let listed = [
            ListedModel {
                id: "qwen:7b".into(),
                max_model_len: Some(32_768),
                ..ListedModel::default()
            },
            ListedModel {
                id: "llama3:8b".into(),
                ..ListedModel::default()
            },
        ];
        let entries = listed_entries("ollama", Tier::Local, &listed);
        assert_eq!(registry.merge_models(entries), 1);
        let ids: Vec<String> = registry.models().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["coder", "ollama/llama3:8b"]);
        let coder = registry.model("coder").unwrap();
        assert_eq!(coder.context_window, Some(32_768));
        assert_eq!(coder.source, ModelSource::Config);
        assert_eq!(
            registry.model("ollama/llama3:8b").unwrap().source,
            ModelSource::Discovered
        );
    }
}
