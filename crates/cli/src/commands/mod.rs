//! Subcommand implementations, and the configuration resolution they share: a config file
//! when there is one, otherwise zero-config discovery of local model servers.

pub mod act;
pub mod ask;
pub mod bench;
pub mod config;
pub mod eval;
pub mod index;
pub mod looped;
pub mod mcp;
pub mod models;
pub mod route;
pub mod search;
pub mod serve;
pub mod tasks;
pub mod usage;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fusion_core::config::{self as cfg, Config, DiscoveredServer};
use fusion_core::runtime::Runtime;

/// How long zero-config discovery waits for local model servers.
const DISCOVERY_TIMEOUT: Duration = Duration::from_millis(800);

/// A configuration and where it came from.
pub struct Resolved {
    pub config: Config,
    pub origin: Origin,
}

pub enum Origin {
    File(PathBuf),
    /// The routing server's variables in the environment (the names read).
    Environment(Vec<String>),
    Discovered(Vec<DiscoveredServer>),
}

/// Loads the config file; without one, takes the routing server's settings from the
/// environment when they are there, else discovers local model servers.
pub async fn resolve(path: Option<&Path>) -> anyhow::Result<Resolved> {
    resolve_with(cfg::load(path)?).await
}

/// Whether a command is one of the loop's, which prefer the council project's loop file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFor {
    Any,
    Loop,
}

async fn resolve_with(loaded: Option<cfg::LoadedConfig>) -> anyhow::Result<Resolved> {
    if let Some(loaded) = loaded {
        for warning in &loaded.warnings {
            tracing::warn!("{}: {warning}", loaded.source.display());
        }
        return Ok(Resolved {
            config: loaded.config,
            origin: Origin::File(loaded.source),
        });
    }
    // Started the way the routing server was, with its settings in the environment.
    let lookup = |name: &str| std::env::var(name).ok();
    if let Some(imported) = cfg::import_router_process_env(&lookup) {
        let imported = imported.context("the routing server's variables in the environment")?;
        let names: Vec<String> = cfg::ROUTER_ENDPOINT_VARS
            .iter()
            .filter(|name| lookup(name).is_some())
            .map(|name| (*name).to_owned())
            .collect();
        tracing::warn!(
            "no config file: using the routing server's settings from the environment ({}); \
             `fusion config import .env` writes them as fusion.toml",
            names.join(", ")
        );
        for note in &imported.notes {
            tracing::info!("environment: {note}");
        }
        return Ok(Resolved {
            config: imported.config,
            origin: Origin::Environment(names),
        });
    }
    let discovery = cfg::discover(&cfg::default_probe_targets(), DISCOVERY_TIMEOUT)
        .await
        .context(
            "no config file (looked for ./fusion.toml, ./local-fusion.config.json, \
             ./looped-fusion.config.json and the user config dir)",
        )?;
    Ok(Resolved {
        config: discovery.config,
        origin: Origin::Discovered(discovery.servers),
    })
}

/// Resolves the configuration (see [`resolve`]) and starts the runtime over it: the store,
/// its usage ledger (every model call is recorded) and the provider registry, which the models
/// synced into the store join. Every command works through it; `shutdown` writes the queued
/// usage rows and closes the store.
pub async fn start(path: Option<&Path>) -> anyhow::Result<Runtime> {
    start_for(path, ConfigFor::Any).await
}

/// [`start`], looking for the file `purpose` prefers.
pub async fn start_for(path: Option<&Path>, purpose: ConfigFor) -> anyhow::Result<Runtime> {
    let loaded = match purpose {
        ConfigFor::Any => cfg::load(path)?,
        ConfigFor::Loop => cfg::load_for_loop(path)?,
    };
    start_resolved(resolve_with(loaded).await?).await
}

/// [`start`] over a configuration already resolved.
pub async fn start_resolved(resolved: Resolved) -> anyhow::Result<Runtime> {
    let source = match resolved.origin {
        Origin::File(path) => Some(path),
        Origin::Environment(_) | Origin::Discovered(_) => None,
    };
    Runtime::start(resolved.config, source)
        .await
        .context("cannot start Fusion over this configuration (storage.url, synced models)")
}

/// Where code-search indexes live: `code-index/` in Fusion's data dir (beside the default store).
pub fn code_index_home() -> anyhow::Result<fusion_codesearch::IndexHome> {
    let data = fusion_core::store::Store::data_dir().context("cannot place the code index")?;
    Ok(fusion_codesearch::IndexHome::in_data_dir(&data))
}
