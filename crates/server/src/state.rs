//! What every handler shares: the configuration, the provider registry, the accepted keys, the
//! metrics handle, the hub of child MCP servers and the token that ends MCP sessions (and
//! children) at shutdown. Cheap to clone (one `Arc`).

use std::sync::Arc;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    registry: Arc<ProviderRegistry>,
    keys: Vec<String>,
    metrics: Option<PrometheusHandle>,
    shutdown: CancellationToken,
    hub: fusion_mcp::hub::Hub,
}

impl AppState {
    /// Bearer keys are read now from the environment variables named in
    /// `server.api_keys_env`; unset or empty variables add no key.
    pub fn new(
        config: Config,
        registry: impl Into<Arc<ProviderRegistry>>,
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
        registry: impl Into<Arc<ProviderRegistry>>,
        keys: Vec<String>,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let hub = fusion_mcp::start_hub(&config, shutdown.clone());
        Self {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                registry: registry.into(),
                keys,
                metrics,
                shutdown,
                hub,
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn registry(&self) -> &Arc<ProviderRegistry> {
        &self.inner.registry
    }

    /// Accepted bearer keys; empty means no authentication.
    pub fn keys(&self) -> &[String] {
        &self.inner.keys
    }

    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }

    /// Configuration and registry for the MCP handler (shared, not copied).
    pub fn fusion(&self) -> fusion_mcp::Fusion {
        fusion_mcp::Fusion::new(
            Arc::clone(&self.inner.config),
            Arc::clone(&self.inner.registry),
        )
    }

    /// The child MCP servers behind `/mcp`.
    pub fn hub(&self) -> &fusion_mcp::hub::Hub {
        &self.inner.hub
    }

    /// Cancelled when the server shuts down: MCP sessions and their streams end.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }
}
