//! Hot reload for `fusion serve`: on SIGHUP, and when the config file's contents change (checked
//! every second), the file is loaded and validated whole and a new provider registry is built
//! from it; only then are both swapped in at once. An invalid file is rejected with its error
//! in the log and the running configuration stays. `[server]`, `[storage]` and `[mcp]` take
//! effect at the next start (the log says so when they changed).

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fusion_core::config::{self, Config};
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::Ledger;
use fusion_server::AppState;
use tokio::task::JoinHandle;

/// How often the file is looked at.
const POLL: Duration = Duration::from_secs(1);

pub struct Reloader {
    path: PathBuf,
    state: AppState,
    ledger: Ledger,
    /// The running registry's health checks; replaced with the registry.
    health: JoinHandle<()>,
    seen: Option<u64>,
}

impl Reloader {
    pub fn new(path: PathBuf, state: AppState, ledger: Ledger, health: JoinHandle<()>) -> Self {
        let seen = fingerprint(&path);
        Self {
            path,
            state,
            ledger,
            health,
            seen,
        }
    }

    /// Watches until the returned task is aborted; the health checks stop with it.
    pub fn spawn(mut self) -> anyhow::Result<JoinHandle<()>> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = hangup.recv() => {
                        self.seen = fingerprint(&self.path);
                        self.reload("SIGHUP").await;
                    }
                    _ = tick.tick() => {
                        let now = fingerprint(&self.path);
                        if now.is_some() && now != self.seen {
                            self.seen = now;
                            self.reload("the file changed").await;
                        }
                    }
                }
            }
        }))
    }

    async fn reload(&mut self, why: &str) {
        let path = self.path.display().to_string();
        match self.build().await {
            Ok((config, registry)) => {
                let old = self.state.config();
                for (section, same) in [
                    ("[server]", old.server == config.server),
                    ("[storage]", old.storage == config.storage),
                    ("[mcp]", old.mcp == config.mcp),
                    ("[tasks]", old.tasks == config.tasks),
                ] {
                    if !same {
                        tracing::warn!(
                            "{path}: {section} changed; it takes effect when fusion serve restarts"
                        );
                    }
                }
                let summary = format!(
                    "{} providers, {} models, {} councils",
                    config.providers.len(),
                    registry.models().len(),
                    config.councils.len()
                );
                self.health.abort();
                self.health = registry.spawn_health_checks();
                self.state.reload(config, registry);
                tracing::warn!("{path}: configuration reloaded ({why}): {summary}");
            }
            Err(e) => {
                tracing::error!(
                    "{path}: configuration reload ({why}) rejected, the running configuration \
                     stays: {e:#}"
                );
            }
        }
    }

    /// The new config and its registry, or why not.
    async fn build(&self) -> anyhow::Result<(Config, Arc<ProviderRegistry>)> {
        let loaded = config::load_file(&self.path)?;
        for warning in &loaded.warnings {
            tracing::warn!("{}: {warning}", loaded.source.display());
        }
        let registry =
            ProviderRegistry::from_config(&loaded.config)?.with_ledger(self.ledger.clone());
        registry
            .restore_from(self.ledger.store())
            .await
            .context("reading synced models and daily usage from the store")?;
        Ok((loaded.config, Arc::new(registry)))
    }
}

impl Drop for Reloader {
    /// The watcher is stopped with the server: the health checks of the last registry too.
    fn drop(&mut self) {
        self.health.abort();
    }
}

/// The file's contents, hashed (`None` when it cannot be read right now, e.g. mid-save).
fn fingerprint(path: &std::path::Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}
