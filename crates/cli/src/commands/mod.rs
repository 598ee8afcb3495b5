//! Subcommand implementations, and the configuration resolution they share: a config file
//! when there is one, otherwise zero-config discovery of local model servers.

pub mod ask;
pub mod config;
pub mod mcp;
pub mod serve;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fusion_core::config::{self as cfg, Config, DiscoveredServer};

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
