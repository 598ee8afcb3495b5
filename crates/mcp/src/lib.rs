//! Fusion as an MCP server, built on the official `rmcp` SDK (it owns all protocol framing,
//! both protocol eras and sessions). This crate owns the handler (`FusionMcp`: the
//! `fusion_ask` tool, `fusion_do` (a model picks and calls the aggregated tools), the router
//! and async task tools, the catalog and prompting-strategy
//! tools, code search, the loop checker's `looped_*` gate tools and the `fusion://` resources)
//! and the two ways to serve it: stdio (`serve_stdio`, for `fusion mcp`, over the transport in
//! `stdio.rs`) and Streamable HTTP (`http_service`, mounted at `/mcp` by `fusion serve`).

mod act;
mod ask;
mod bench;
mod catalog;
mod code;
mod failure;
mod handler;
mod http;
mod lazy;
mod looped;
mod own_tools;
mod params;
mod prompting;
mod reload;
mod resources;
mod route;
mod spelling;
mod stdio;
mod tasks;

use std::sync::Arc;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::runtime::{Runtime, Snapshot};
use fusion_core::store::Store;
use fusion_core::tasks::TaskEngine;
use rmcp::ServiceExt;

pub use act::run_in_process as run_do_in_process;
pub use ask::{AskInput, MAX_PROMPT_BYTES};
pub use fusion_hub as hub;
pub use fusion_hub::{Hit, SearchError, ToolIndex};
pub use handler::FusionMcp;
pub use http::{HttpOptions, McpHttpService, http_service};

/// What the MCP handler works with: the runtime (the live configuration and provider
/// registry, the store, the task engine) and, for tests, a task engine or store of its own.
/// Every request reads the configuration now, so a reload is seen by the next call.
#[derive(Clone)]
pub struct Fusion {
    runtime: Runtime,
    tasks: Option<TaskEngine>,
    store: Option<Store>,
}

impl Fusion {
    /// Over a fixed configuration and registry (no file to reload).
    pub fn new(config: Arc<Config>, registry: Arc<ProviderRegistry>) -> Self {
        Self::from_runtime(Runtime::fixed(Arc::unwrap_or_clone(config), registry))
    }

    /// Over `runtime`: its reloads are seen here.
    pub fn from_runtime(runtime: Runtime) -> Self {
        Self {
            runtime,
            tasks: None,
            store: None,
        }
    }

    /// Serves the loop checker's tools (`looped_*`) over the runs in `store`.
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The store: the one given to `with_store`, else the runtime's (there is one store).
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref().or_else(|| self.runtime.store())
    }

    /// Serves the async task tools and resources through `engine`.
    pub fn with_tasks(mut self, engine: TaskEngine) -> Self {
        self.tasks = Some(engine);
        self
    }

    pub fn tasks(&self) -> Option<&TaskEngine> {
        self.tasks.as_ref().or_else(|| self.runtime.tasks())
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The configuration and registry now, together (hold it for one call).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.runtime.snapshot()
    }

    /// The configuration now.
    pub fn config(&self) -> Arc<Config> {
        self.runtime.config()
    }

    /// The provider registry now.
    pub fn registry(&self) -> Arc<ProviderRegistry> {
        self.runtime.registry()
    }
}

/// Starts the hub of the configured child MCP servers (`[[mcp.servers]]`; none gives an empty
/// hub). Children connect in the background; `shutdown` stops them.
pub fn start_hub(config: &Config, shutdown: tokio_util::sync::CancellationToken) -> hub::Hub {
    let (names, uris) = FusionMcp::reserved();
    hub::Hub::start(&config.mcp, names, uris, shutdown)
}

/// Starts the hub of `runtime`'s child MCP servers and attaches it to the runtime: a reload
/// starts, stops and restarts children as `[[mcp.servers]]` changed, and the runtime's
/// shutdown stops them.
pub fn attach_hub(runtime: &Runtime, shutdown: tokio_util::sync::CancellationToken) -> hub::Hub {
    let hub = start_hub(&runtime.config(), shutdown);
    runtime.attach(Arc::new(hub.clone()));
    hub
}

/// Serves MCP on this process's stdin/stdout until the client closes stdin. Stdout carries
/// protocol messages only; logs belong on stderr.
pub async fn serve_stdio(server: FusionMcp) -> Result<(), rmcp::RmcpError> {
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let running = server
        .serve(stdio::StdioTransport::new(stdin, stdout))
        .await?;
    let reason = running.waiting().await?;
    tracing::debug!(?reason, "MCP stdio session ended");
    Ok(())
}
