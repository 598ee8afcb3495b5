//! Subcommand implementations, and the configuration resolution they share: a config file
//! when there is one, otherwise zero-config discovery of local model servers.

pub mod ask;
pub mod config;
pub mod index;
pub mod looped;
pub mod mcp;
pub mod models;
pub mod reload;
pub mod route;
pub mod search;
pub mod serve;
pub mod tasks;
pub mod usage;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fusion_core::config::{self as cfg, Config, DiscoveredServer};
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{Ledger, Store};

/// How long zero-config discovery waits for local model servers.
const DISCOVERY_TIMEOUT: Duration = Duration::from_millis(800);

/// A configuration and where it came from.
pub struct Resolved {
    pub config: Config,
    pub origin: Origin,
}

pub enum Origin {
    File(PathBuf),
    Discovered(Vec<DiscoveredServer>),
}

/// Loads the config file, or discovers local model servers when there is none.
pub async fn resolve(path: Option<&Path>) -> anyhow::Result<Resolved> {
    if let Some(loaded) = cfg::load(path)? {
        for warning in &loaded.warnings {
            tracing::warn!("{}: {warning}", loaded.source.display());
        }
        return Ok(Resolved {
            config: loaded.config,
            origin: Origin::File(loaded.source),
        });
    }
    let discovery = cfg::discover(&cfg::default_probe_targets(), DISCOVERY_TIMEOUT)
        .await
        .context("no config file (looked for ./fusion.toml and the user config dir)")?;
    Ok(Resolved {
        config: discovery.config,
        origin: Origin::Discovered(discovery.servers),
    })
}

/// The provider registry over the store: every model call it makes goes to the usage ledger,
/// and the models synced into the store join the configured ones.
pub struct Engine {
    pub registry: Arc<ProviderRegistry>,
    pub ledger: Ledger,
}

impl Engine {
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        let ledger = Ledger::start(store);
        let registry = ProviderRegistry::from_config(config)?.with_ledger(ledger.clone());
        registry
            .restore_from(ledger.store())
            .await
            .context("reading synced models and daily usage from the store")?;
        Ok(Self {
            registry: Arc::new(registry),
            ledger,
        })
    }

    pub fn store(&self) -> &Store {
        self.ledger.store()
    }

    /// Writes every usage row still queued, then closes the store.
    pub async fn close(&self) {
        if let Err(e) = self.ledger.shutdown().await {
            tracing::error!("usage ledger: {e}");
        }
        self.ledger.store().close().await;
    }
}

/// Where code-search indexes live: `code-index/` in Fusion's data dir (beside the default store).
pub fn code_index_home() -> anyhow::Result<fusion_codesearch::IndexHome> {
    let data = fusion_core::store::Store::data_dir().context("cannot place the code index")?;
    Ok(fusion_codesearch::IndexHome::in_data_dir(&data))
}

/// The store named by `storage.url` (default: SQLite in the user data dir).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::open(config.storage.url.as_deref())
        .await
        .context("cannot open the store (storage.url)")
}
