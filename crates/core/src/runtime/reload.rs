//! `Runtime::reload`: read the file again and validate all of it (parse, `${ENV}`, every
//! cross-reference, a registry built from it), and only then swap the new snapshot in at once.
//! Anything wrong leaves the running configuration in place and answers the file, the dotted
//! key and the reason. After the swap, what follows the configuration is reconciled: the
//! health probes move to the new registry, the task engine's slot limits follow `[tasks]`,
//! and each attachment (the MCP hub) starts, stops or restarts the children that changed.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::{ReloadReport, Runtime, Snapshot, build_registry};
use crate::config::{self, ConfigError, LoadedConfig};
use crate::providers::ProviderRegistry;

/// Why a reload was refused (the running configuration stays).
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{}: {key}: {reason}", file.as_deref().map_or("(no config file)".into(), |f| f.display().to_string()))]
pub struct ReloadError {
    /// The file that was read; `None` when the process has no config file.
    pub file: Option<PathBuf>,
    /// Dotted path of the offending key (`providers[1].timeout`), or `-` for the whole file.
    pub key: String,
    pub reason: String,
}

impl From<ConfigError> for ReloadError {
    fn from(e: ConfigError) -> Self {
        Self {
            file: Some(e.file),
            key: e.key,
            reason: e.reason,
        }
    }
}

impl ReloadError {
    fn whole_file(file: &std::path::Path, reason: impl Into<String>) -> Self {
        Self {
            file: Some(file.to_owned()),
            key: "-".to_owned(),
            reason: reason.into(),
        }
    }
}

impl Runtime {
    /// Reloads the configuration file now. On success every front door sees the new
    /// configuration from its next request; requests in flight finish on the old one.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.reload_because("asked").await
    }

    /// [`Runtime::reload`], saying in the log `why` (`SIGHUP`, `reload_config`, ...).
    pub async fn reload_because(&self, why: &str) -> Result<ReloadReport, ReloadError> {
        let answer = self.reload_now(why).await;
        if let Err(rejected) = &answer {
            tracing::error!(
                "configuration reload ({why}) rejected, the running configuration stays: \
                 {rejected}"
            );
        }
        answer
    }

    async fn reload_now(&self, why: &str) -> Result<ReloadReport, ReloadError> {
        let Some(path) = self.source().map(std::path::Path::to_path_buf) else {
            return Err(ReloadError {
                file: None,
                key: "-".to_owned(),
                reason: "this process runs on discovered local model servers, with no config \
                         file to reload; start it with --config FILE (or ./fusion.toml)"
                    .to_owned(),
            });
        };
        let _one_at_a_time = self.inner.reloading.lock().await;
        let loaded = read(path.clone()).await?;
        for warning in &loaded.warnings {
            tracing::warn!("{}: {warning}", loaded.source.display());
        }
        let registry = match self.ledger() {
            Some(ledger) => build_registry(&loaded.config, ledger).await,
            None => ProviderRegistry::from_config(&loaded.config).map(Arc::new),
        }
        .map_err(|e| match e.kind() {
            crate::ErrorKind::Config(config) => ReloadError::from(config.clone()),
            _ => ReloadError::whole_file(&loaded.source, e.to_string()),
        })?;
        let old = self.snapshot();
        let next = Snapshot {
            config: Arc::new(loaded.config),
            registry,
            generation: old.generation + 1,
        };
        let mut report = ReloadReport::between(&old, &next, loaded.source.clone());
        report.warnings = loaded.warnings;
        if !report.changed {
            // The running registry keeps its health, latency and rate-limit state.
            report.generation = old.generation;
            tracing::warn!(
                "{}: configuration reloaded ({why}): nothing changed",
                path.display()
            );
            return Ok(report);
        }
        let next = Arc::new(next);
        self.inner.live.store(Arc::clone(&next));
        self.follow(&old, &next).await;
        self.inner.generation.send_replace(next.generation);
        tracing::warn!(
            "{}: configuration reloaded ({why}; generation {}): {}",
            path.display(),
            next.generation,
            report.summary()
        );
        Ok(report)
    }

    /// Moves what follows the configuration onto `next`.
    async fn follow(&self, old: &Snapshot, next: &Snapshot) {
        let probing = self
            .inner
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some();
        if probing {
            self.start_health();
        }
        if let Some(tasks) = self.tasks()
            && old.config.tasks != next.config.tasks
        {
            tasks.reconfigure(next.config.tasks.clone());
        }
        for attachment in self.attachments() {
            attachment
                .reconcile(Arc::clone(&old.config), Arc::clone(&next.config))
                .await;
        }
    }
}

/// Reads and validates the file off the async workers (it may be large; parsing is CPU work).
async fn read(path: PathBuf) -> Result<LoadedConfig, ReloadError> {
    let at = path.clone();
    match tokio::task::spawn_blocking(move || config::load_file(&path)).await {
        Ok(loaded) => loaded.map_err(ReloadError::from),
        Err(e) => Err(ReloadError::whole_file(
            &at,
            format!("reading the file failed: {e}"),
        )),
    }
}
