//! What every handler shares: the configuration and provider registry (swapped whole by a
//! reload; a request keeps the pair it started with), the accepted keys, the metrics handle,
//! the hub of child MCP servers and the token that ends MCP sessions (and children) at
//! shutdown. Cheap to clone (one `Arc`).

use std::sync::{Arc, OnceLock, RwLock};

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::tasks::{EngineSource, TaskEngine};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// A configuration and the registry built from it, replaced together.
struct Live {
    config: Arc<Config>,
    registry: Arc<ProviderRegistry>,
}

struct Inner {
    /// Held only to clone the `Arc`s out, never across an await. Shared with the task
    /// engine's source (so it sees reloads without holding the state).
    live: Arc<RwLock<Arc<Live>>>,
    /// The worker pool of async tasks, once started.
    tasks: OnceLock<TaskEngine>,
    keys: Vec<String>,
    metrics: Option<PrometheusHandle>,
    shutdown: CancellationToken,
    hub: fusion_mcp::hub::Hub,
}

impl AppState {
    /// A state over `config` and `registry`, accepting `keys` as bearer keys (none: no
    /// authentication). `fusion serve` reads them with [`crate::keys_from_env`].
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
                live: Arc::new(RwLock::new(Arc::new(Live {
                    config: Arc::new(config),
                    registry: registry.into(),
                }))),
                tasks: OnceLock::new(),
                keys,
                metrics,
                shutdown,
                hub,
            }),
        }
    }

    fn live(&self) -> Arc<Live> {
        current(&self.inner.live)
    }

    /// The configuration and registry now, for the task engine: it asks once per task, so
    /// tasks started after a reload run on the new pair.
    pub fn engine_source(&self) -> EngineSource {
        let live = Arc::clone(&self.inner.live);
        Arc::new(move || {
            let live = current(&live);
            (Arc::clone(&live.config), Arc::clone(&live.registry))
        })
    }

    /// Serves the task API (REST, events, MCP tools) through `engine`; the first call wins.
    pub fn set_tasks(&self, engine: TaskEngine) {
        if self.inner.tasks.set(engine).is_err() {
            tracing::warn!("a task engine was already set; keeping the first");
        }
    }

    pub fn tasks(&self) -> Option<&TaskEngine> {
        self.inner.tasks.get()
    }

    /// The configuration now (a reload swaps it; hold the `Arc` for one request).
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.live().config)
    }

    /// The provider registry now.
    pub fn registry(&self) -> Arc<ProviderRegistry> {
        Arc::clone(&self.live().registry)
    }

    /// Swaps in a new configuration and its registry at once. Requests in flight finish on
    /// the pair they started with; the next ones see the new pair. Keys, the listen address
    /// and the child MCP servers stay as they were started.
    pub fn reload(&self, config: Config, registry: Arc<ProviderRegistry>) {
        let next = Arc::new(Live {
            config: Arc::new(config),
            registry,
        });
        match self.inner.live.write() {
            Ok(mut live) => *live = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
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
        let live = self.live();
        let fusion = fusion_mcp::Fusion::new(Arc::clone(&live.config), Arc::clone(&live.registry));
        match self.tasks() {
            Some(engine) => fusion.with_tasks(engine.clone()),
            None => fusion,
        }
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

fn current(live: &RwLock<Arc<Live>>) -> Arc<Live> {
    match live.read() {
        Ok(live) => Arc::clone(&live),
        Err(poisoned) => Arc::clone(&poisoned.into_inner()),
    }
}
