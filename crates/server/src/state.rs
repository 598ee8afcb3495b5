//! What every handler shares: the configuration, the provider registry, the accepted keys and
//! the metrics handle. Cheap to clone (one `Arc`).

use std::sync::Arc;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use metrics_exporter_prometheus::PrometheusHandle;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    registry: ProviderRegistry,
    keys: Vec<String>,
    metrics: Option<PrometheusHandle>,
}

impl AppState {
    /// Bearer keys are read now from the environment variables named in
    /// `server.api_keys_env`; unset or empty variables add no key.
    pub fn new(
        config: Config,
        registry: ProviderRegistry,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        let keys = config
            .server
            .api_keys_env
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .filter(|key| !key.is_empty())
            .collect();
        Self::with_keys(config, registry, keys, metrics)
    }

    /// Like `new`, with the accepted keys given directly.
    pub fn with_keys(
        config: Config,
        registry: ProviderRegistry,
        keys: Vec<String>,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                registry,
                keys,
                metrics,
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn registry(&self) -> &ProviderRegistry {
        &self.inner.registry
    }

    /// Accepted bearer keys; empty means no authentication.
    pub fn keys(&self) -> &[String] {
        &self.inner.keys
    }

    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }
}
