//! What Fusion tracks of free models and provider catalogs, as the routing server's
//! `get_free_models`, `clear_openrouter_tracking` and catalog resources show it: the models that
//! cost nothing (local ones, zero-priced catalog and listed ones, configured free ones) with
//! their state now, each catalog provider's sync status, and forgetting every catalog to fetch
//! it again at once.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::catalog::is_catalog;
use super::registry::{ModelEntry, ModelSource, ModelTable, ProviderRegistry};
use crate::config::Tier;
use crate::router::Health;
use crate::store::{Ledger, SyncedModel, now_ms};
use crate::{ErrorKind, Result};

/// A model's state in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    /// Its provider answers and its last calls worked.
    Healthy,
    /// Out of routing for a while: its provider answered HTTP 429, its daily cap is used up,
    /// or failures in a row opened its circuit.
    CoolingDown,
    /// Its provider did not answer the last probe, or the cooldown after its failures is over
    /// and the next call is a trial.
    Unhealthy,
    /// Not called or probed yet.
    Unknown,
}

impl ModelState {
    pub fn of(health: Health) -> Self {
        match health {
            Health::Healthy => Self::Healthy,
            Health::Unknown => Self::Unknown,
            Health::RateLimited { .. }
            | Health::DailyCapReached { .. }
            | Health::CircuitOpen { .. } => Self::CoolingDown,
            Health::Unreachable | Health::HalfOpen => Self::Unhealthy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::CoolingDown => "cooling_down",
            Self::Unhealthy => "unhealthy",
            Self::Unknown => "unknown",
        }
    }
}

/// One model that costs nothing to call.
#[derive(Debug, Clone, Serialize)]
pub struct FreeModel {
    /// Fusion's id: what to pass as `model` to Fusion.
    pub id: String,
    pub provider: String,
    /// The name the provider knows it by.
    pub upstream_model: String,
    pub context_window: Option<u32>,
    /// `local` or `free`.
    pub tier: Tier,
    pub state: ModelState,
    /// The state in detail (with how long a cooldown lasts).
    pub health: Health,
    /// `catalog` (synced from its provider's catalog), `config` or `discovered`.
    pub source: ModelSource,
}

/// One catalog provider's sync status.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogStatus {
    pub provider: String,
    /// Why it counts as a catalog: `configured` (`catalog = true`), `detected` (its listing
    /// carried prices) or `synced` (only `fusion models sync` synced it).
    pub catalog: &'static str,
    /// When it was last synced (RFC 3339), if ever.
    pub last_sync: Option<String>,
    /// Models of its catalog in the store, and how many of them are free.
    pub models: usize,
    pub free: usize,
    /// Why the last sync failed (`None` after one that worked).
    pub last_error: Option<String>,
    /// How often it is synced again (`catalog_refresh`), when synced periodically.
    pub refresh_every_secs: Option<u64>,
    /// When the next periodic sync is due (RFC 3339); a sync that is due runs at the next
    /// health check.
    pub next_refresh: Option<String>,
    pub due: bool,
}

/// What `clear_openrouter_tracking` did for one catalog provider.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogRefetch {
    pub provider: String,
    /// Catalog models forgotten (rows the store held).
    pub cleared: usize,
    /// Priced models fetched and stored, when the fetch worked; how many of them are free;
    /// listed entries without a price (not stored).
    pub fetched: Option<usize>,
    pub free: Option<usize>,
    pub unpriced: Option<usize>,
    /// Why the fetch failed (the next health check tries again).
    pub error: Option<String>,
}

/// Milliseconds since the Unix epoch as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> Option<String> {
    let ms = u64::try_from(ms).ok()?;
    let at = UNIX_EPOCH.checked_add(Duration::from_millis(ms))?;
    Some(humantime::format_rfc3339_millis(at).to_string())
}

/// Whether a model costs nothing: local, or free at a known price of zero (a configured model
/// of a free provider without a price counts as free, as its config says).
fn is_free(entry: &ModelEntry) -> bool {
    match entry.tier {
        Tier::Local => true,
        Tier::Free => entry
            .price
            .is_none_or(|p| p.input_per_mtok == 0.0 && p.output_per_mtok == 0.0),
        Tier::Paid => false,
    }
}

impl ProviderRegistry {
    /// The configured providers' names, sorted.
    pub fn provider_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.providers.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Every model that costs nothing, local ones first, then by id.
    pub fn free_models(&self) -> Vec<FreeModel> {
        let (_, models) = self.status();
        let mut free: Vec<FreeModel> = models
            .into_iter()
            .filter(|m| is_free(&m.entry))
            .map(|m| FreeModel {
                state: ModelState::of(m.health),
                health: m.health,
                id: m.entry.id,
                provider: m.entry.provider,
                upstream_model: m.entry.upstream_model,
                context_window: m.entry.context_window,
                tier: m.entry.tier,
                source: m.entry.source,
            })
            .collect();
        free.sort_by(|a, b| (a.tier, &a.id).cmp(&(b.tier, &b.id)));
        free
    }

    /// When a catalog was last synced, the latest of every provider (Unix ms), if ever.
    pub fn catalog_synced_ms(&self) -> Option<i64> {
        self.providers
            .values()
            .map(|h| h.catalog_synced_ms.load(Ordering::Relaxed))
            .max()
            .filter(|ms| *ms > 0)
    }

    /// Each catalog provider's sync status, by name; `rows` are the store's synced models.
    pub fn catalog_status(&self, rows: &[SyncedModel]) -> Vec<CatalogStatus> {
        let now = now_ms();
        let mut out: Vec<CatalogStatus> = self
            .providers
            .iter()
            .filter_map(|(name, handle)| {
                let mine: Vec<&SyncedModel> = rows.iter().filter(|r| &r.provider == name).collect();
                let periodic = is_catalog(handle);
                let catalog = match handle.config.catalog {
                    Some(true) => "configured",
                    _ if periodic => "detected",
                    _ if !mine.is_empty() => "synced",
                    _ => return None,
                };
                let synced = handle
                    .catalog_synced_ms
                    .load(Ordering::Relaxed)
                    .max(mine.iter().map(|r| r.synced_at_ms).max().unwrap_or(0));
                let refresh =
                    i64::try_from(handle.config.catalog_refresh.as_millis()).unwrap_or(i64::MAX);
                let next = (periodic && synced > 0).then(|| synced.saturating_add(refresh));
                Some(CatalogStatus {
                    provider: name.clone(),
                    catalog,
                    last_sync: (synced > 0).then(|| rfc3339(synced)).flatten(),
                    models: mine.len(),
                    free: mine.iter().filter(|r| r.free).count(),
                    last_error: handle.last_catalog_error(),
                    refresh_every_secs: periodic.then(|| handle.config.catalog_refresh.as_secs()),
                    next_refresh: next.and_then(rfc3339),
                    due: periodic && next.is_none_or(|at| at <= now),
                })
            })
            .collect();
        out.sort_by(|a, b| a.provider.cmp(&b.provider));
        out
    }

    /// Forgets every catalog — the store's synced models of each catalog provider, and their
    /// models in the table with their cooldowns and circuits — then fetches each catalog again
    /// now, all at once. A provider that cannot be reached is reported in its entry (its models
    /// stay forgotten until a sync works; the next health check tries again). Daily caps a
    /// provider stated are kept: they are its count, not a cache. Fails only without a store.
    pub async fn refetch_catalogs(&self) -> Result<Vec<CatalogRefetch>> {
        let store = self.ledger().map(Ledger::store).ok_or_else(|| {
            ErrorKind::Invalid("no store holds the catalogs (this Fusion runs without one)".into())
        })?;
        let rows = store.synced_models().await?;
        let mut catalogs: Vec<(&String, usize)> = self
            .providers
            .iter()
            .map(|(name, handle)| {
                let held = rows.iter().filter(|r| &r.provider == name).count();
                (name, handle, held)
            })
            .filter(|(_, handle, held)| is_catalog(handle) || *held > 0)
            .map(|(name, _, held)| (name, held))
            .collect();
        catalogs.sort();
        for (name, _) in &catalogs {
            store.replace_synced_models(name, &[]).await?;
            self.forget_catalog(name);
        }
        let fetches = catalogs.into_iter().filter_map(|(name, cleared)| {
            let handle = self.providers.get(name)?;
            Some(async move {
                let sync = self.sync_bounded(name, handle).await;
                let (fetched, free, unpriced, error) = match sync {
                    Ok(sync) => (
                        Some(sync.rows.len()),
                        Some(sync.rows.iter().filter(|m| m.free).count()),
                        Some(sync.unpriced),
                        None,
                    ),
                    // What a client may be told, as the sync kept it.
                    Err(_) => (None, None, None, handle.last_catalog_error()),
                };
                CatalogRefetch {
                    provider: name.clone(),
                    cleared,
                    fetched,
                    free,
                    unpriced,
                    error,
                }
            })
        });
        Ok(futures::future::join_all(fetches).await)
    }

    /// Drops `provider`'s catalog models from the table (configured models stay) and marks its
    /// catalog never synced.
    fn forget_catalog(&self, provider: &str) {
        {
            let mut guard = self.models.write().unwrap_or_else(PoisonError::into_inner);
            let mut table = ModelTable::clone(&guard);
            table.retain(|_, slot| {
                !(slot.entry.provider == provider && slot.entry.source == ModelSource::Catalog)
            });
            *guard = Arc::new(table);
        }
        if let Some(handle) = self.providers.get(provider) {
            handle.catalog_synced_ms.store(0, Ordering::Relaxed);
            *handle
                .catalog_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn free_models_are_the_local_and_zero_priced_ones() {
        let config: Config = toml::from_str(
            r#"
[[providers]]
name = "ollama"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[providers]]
name = "or"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
tier = "free"

[[models]]
id = "coder"
provider = "ollama"

[[models]]
id = "priced"
provider = "or"
price = { input_per_mtok = 1.0, output_per_mtok = 2.0 }
"#,
        )
        .unwrap();
        let registry = ProviderRegistry::from_config(&config).unwrap();
        let row = |model: &str, price: f64| SyncedModel {
            provider: "or".into(),
            model: model.into(),
            context_window: Some(8192),
            input_per_mtok: price,
            output_per_mtok: price,
            free: price == 0.0,
            synced_at_ms: 1_000,
        };
        registry.add_synced(&[row("a/free:free", 0.0), row("b/paid", 3.0)]);
        let free = registry.free_models();
        let ids: Vec<&str> = free.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["coder", "or/a/free:free"]);
        assert_eq!(free[1].source, ModelSource::Catalog);
        assert_eq!(free[1].context_window, Some(8192));
        assert_eq!(free[0].state, ModelState::Unknown);
        assert_eq!(registry.catalog_synced_ms(), Some(1_000));

        let status = registry.catalog_status(&[row("a/free:free", 0.0), row("b/paid", 3.0)]);
        assert_eq!(status.len(), 1);
        assert_eq!(
            (status[0].catalog, status[0].models, status[0].free),
            ("synced", 2, 1)
        );
        assert_eq!(status[0].next_refresh, None, "not synced periodically");

        registry.forget_catalog("or");
        assert!(registry.model("or/a/free:free").is_none());
        assert!(registry.model("priced").is_some(), "configured models stay");
        assert_eq!(registry.catalog_synced_ms(), None);
    }

    #[test]
    fn states_group_the_router_health() {
        assert_eq!(
            ModelState::of(Health::RateLimited { retry_in_ms: 5 }),
            ModelState::CoolingDown
        );
        assert_eq!(ModelState::of(Health::Unreachable), ModelState::Unhealthy);
        assert_eq!(ModelState::CoolingDown.as_str(), "cooling_down");
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
    }
}
