//! Fusion as an MCP server, built on the official `rmcp` SDK (it owns all protocol framing,
//! both protocol eras and sessions). This crate owns the handler (`FusionMcp`: the
//! `fusion_ask` tool, the router and async task tools, code search, the loop checker's
//! `looped_*` gate tools and the `fusion://` resources) and the two ways to serve it: stdio
//! (`serve_stdio`, for `fusion mcp`, over the transport in `stdio.rs`) and Streamable HTTP
//! (`http_service`, mounted at `/mcp` by `fusion serve`).

mod ask;
mod code;
mod handler;
mod http;
pub mod hub;
mod lazy;
mod looped;
mod params;
mod resources;
mod route;
mod search;
mod stdio;
mod tasks;

use std::sync::Arc;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::Store;
use fusion_core::tasks::TaskEngine;
use rmcp::ServiceExt;

pub use ask::{AskInput, MAX_PROMPT_BYTES};
pub use handler::FusionMcp;
pub use http::{HttpOptions, McpHttpService, http_service};
pub use search::{Hit, SearchError, ToolIndex};

/// What the MCP handler works with: the configuration, the one provider registry and, with a
/// store, the process's task engine and the loop checker's runs.
#[derive(Clone)]
pub struct Fusion {
    config: Arc<Config>,
    registry: Arc<ProviderRegistry>,
    tasks: Option<TaskEngine>,
    store: Option<Store>,
}

impl Fusion {
    pub fn new(config: Arc<Config>, registry: Arc<ProviderRegistry>) -> Self {
        Self {
            config,
            registry,
            tasks: None,
            store: None,
        }
    }

    /// Serves the loop checker's tools (`looped_*`) over the runs in `store`.
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The store: the one given to `with_store`, else the one the registry's usage ledger
    /// writes to (there is one store).
    pub fn store(&self) -> Option<&Store> {
        self.store
            .as_ref()
            .or_else(|| self.registry.ledger().map(|ledger| ledger.store()))
    }

    /// Serves the async task tools and resources through `engine`.
    pub fn with_tasks(mut self, engine: TaskEngine) -> Self {
        self.tasks = Some(engine);
        self
    }

    pub fn tasks(&self) -> Option<&TaskEngine> {
        self.tasks.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn registry(&self) -> &Arc<ProviderRegistry> {
        &self.registry
    }
}

/// Starts the hub of the configured child MCP servers (`[[mcp.servers]]`; none gives an empty
/// hub). Children connect in the background; `shutdown` stops them.
pub fn start_hub(config: &Config, shutdown: tokio_util::sync::CancellationToken) -> hub::Hub {
    let (names, uris) = FusionMcp::reserved();
    hub::Hub::start(&config.mcp, names, uris, shutdown)
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
