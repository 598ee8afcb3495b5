//! What every handler shares: the runtime (the live configuration and provider registry —
//! swapped whole by a reload, a request keeps the snapshot it started with — the store and the
//! task engine), the accepted keys, the metrics handle, the hub of child MCP servers (attached
//! to the runtime, so reloads reach it) and the token that ends MCP sessions (and children) at
//! shutdown. Cheap to clone (one `Arc`).

use std::sync::Arc;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::runtime::Runtime;
use fusion_core::tasks::TaskEngine;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    keys: Vec<String>,
    metrics: Option<PrometheusHandle>,
    shutdown: CancellationToken,
    hub: fusion_mcp::hub::Hub,
}

impl AppState {
    /// A state over `runtime`, accepting `keys` as bearer keys (none: no authentication).
    /// Starts the hub of `[[mcp.servers]]` and attaches it to the runtime. `fusion serve` reads
    /// the keys with [`crate::keys_from_env`].
    pub fn new(runtime: Runtime, keys: Vec<String>, metrics: Option<PrometheusHandle>) -> Self {
        let shutdown = CancellationToken::new();
        let hub = fusion_mcp::attach_hub(&runtime, shutdown.clone());
        Self {
            inner: Arc::new(Inner {
                runtime,
                keys,
                metrics,
                shutdown,
                hub,
            }),
        }
    }

    /// A state over a fixed `config` and `registry` (no file to reload): for tests.
    pub fn with_keys(
        config: Config,
        registry: impl Into<Arc<ProviderRegistry>>,
        keys: Vec<String>,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        Self::new(Runtime::fixed(config, registry), keys, metrics)
    }

    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Serves the task API (REST, events, MCP tools) through `engine`; the first one wins.
    pub fn set_tasks(&self, engine: TaskEngine) {
        self.inner.runtime.set_tasks(engine);
    }

    pub fn tasks(&self) -> Option<&TaskEngine> {
        self.inner.runtime.tasks()
    }

    /// The configuration now (a reload swaps it; hold the `Arc` for one request).
    pub fn config(&self) -> Arc<Config> {
        self.inner.runtime.config()
    }

    /// The provider registry now.
    pub fn registry(&self) -> Arc<ProviderRegistry> {
        self.inner.runtime.registry()
    }

    /// Accepted bearer keys; empty means no authentication.
    pub fn keys(&self) -> &[String] {
        &self.inner.keys
    }

    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }

    /// The MCP handler's view: the same runtime, so `/mcp` sees every reload.
    pub fn fusion(&self) -> fusion_mcp::Fusion {
        fusion_mcp::Fusion::from_runtime(self.inner.runtime.clone())
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
