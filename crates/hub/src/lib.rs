//! The hub (the composite MCP node's back half, a crate of its own): Fusion's child MCP servers
//! behind one catalog. It starts every child in parallel (none blocks another or the server),
//! keeps the merged catalog current as children come, go and change their lists, and tells
//! connected clients when it changes. `search` is the full-text tool search over the catalog. Routing of calls lives
//! in `route`, relaying of child-initiated messages in `relay`, one child's life in `child`,
//! following a reloaded `[mcp]` (children started, stopped, restarted) in `reconcile`.

mod catalog;
mod child;
mod connect;
mod filter;
mod reconcile;
mod relay;
mod route;
mod search;
mod session;
mod template;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fusion_core::config::{CatalogMode, McpConfig, McpServerConfig};
use rmcp::service::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

pub use catalog::{Catalog, Changes, ChildLists, Naming, Target, exposed_name};
use child::Child;
pub use child::{ChildStatus, State};
use relay::Relay;
pub use search::{Hit, SearchError, ToolIndex};
pub use session::{Session, SessionChildren};

/// Opens in-process children: given a child's entry, a byte stream to an MCP server the
/// caller runs itself, or `None` to connect as configured. For tests and embedders; called on
/// every (re)connection, so a child can crash and come back.
pub type InProcess = Arc<dyn Fn(&McpServerConfig) -> Option<tokio::io::DuplexStream> + Send + Sync>;

/// Handle to the hub; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

pub struct HubInner {
    /// The `[mcp]` settings every child shares; a reload replaces them.
    settings: RwLock<Arc<Settings>>,
    /// The running children, in config order (the catalog is built in that order).
    children: RwLock<Vec<Arc<Child>>>,
    catalog: RwLock<Arc<Catalog>>,
    /// The search index and the catalog it was built from.
    index: Mutex<Option<(Arc<Catalog>, Arc<ToolIndex>)>>,
    relay: Relay,
    /// Ends every child (the hub's shutdown); each child also has its own (see `Supervisor`).
    shutdown: CancellationToken,
    supervisors: Mutex<Vec<Supervisor>>,
    /// One reconcile at a time.
    reconciling: tokio::sync::Mutex<()>,
    in_process: Option<InProcess>,
}

/// The settings of `[mcp]` that apply to every child.
struct Settings {
    mode: CatalogMode,
    startup_timeout: Duration,
    ping_interval: Duration,
    naming: Naming,
}

impl Settings {
    fn new(
        config: &McpConfig,
        reserved_names: HashSet<String>,
        reserved_uris: HashSet<String>,
    ) -> Self {
        Self {
            mode: config.mode,
            startup_timeout: config.startup_timeout,
            ping_interval: config.ping_interval,
            naming: Naming {
                separator: config.separator.clone(),
                passthrough: config.mode == CatalogMode::Passthrough,
                reserved_names,
                reserved_uris,
            },
        }
    }
}

/// One child's supervisor task and the token that stops just that child.
struct Supervisor {
    name: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Hub {
    /// Starts a supervisor for every enabled child and returns at once. `reserved_names` and
    /// `reserved_uris` are Fusion's own tools, prompts and resources, never given to a child.
    pub fn start(
        config: &McpConfig,
        reserved_names: HashSet<String>,
        reserved_uris: HashSet<String>,
        shutdown: CancellationToken,
    ) -> Self {
        Self::start_with(config, (reserved_names, reserved_uris), shutdown, None)
    }

    /// [`Hub::start`], with children the caller may run in process (see [`InProcess`]).
    pub fn start_with(
        config: &McpConfig,
        (reserved_names, reserved_uris): (HashSet<String>, HashSet<String>),
        shutdown: CancellationToken,
        in_process: Option<InProcess>,
    ) -> Self {
        let inner = Arc::new(HubInner {
            settings: RwLock::new(Arc::new(Settings::new(
                config,
                reserved_names,
                reserved_uris,
            ))),
            children: RwLock::new(Vec::new()),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            index: Mutex::new(None),
            relay: Relay::default(),
            shutdown,
            supervisors: Mutex::new(Vec::new()),
            reconciling: tokio::sync::Mutex::new(()),
            in_process,
        });
        for server in config.servers.iter().filter(|s| s.enabled) {
            inner.spawn_child(server.clone());
        }
        Self { inner }
    }

    /// Waits until every child's first connection attempt is over, at most `timeout`.
    pub async fn wait_started(&self, timeout: Duration) {
        let children = self.inner.children();
        let all = futures_join(children.iter().map(|c| c.settled()));
        let _ = tokio::time::timeout(timeout, all).await;
    }

    pub fn mode(&self) -> CatalogMode {
        self.inner.settings().mode
    }

    pub fn has_children(&self) -> bool {
        !self.inner.children().is_empty()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog()
    }

    /// Whether a call of `name` goes to a child: a child's tool (listed now, or of a child
    /// that is down), or any name at all in passthrough mode (the one child decides).
    pub fn routes_tool(&self, name: &str) -> bool {
        let catalog = self.catalog();
        self.inner.passthrough_child().is_some()
            || catalog.tool(name).is_some()
            || catalog.down_tool(name).is_some()
    }

    /// The full-text index of `catalog`'s tools, built once per catalog.
    pub fn tool_index(&self, catalog: &Arc<Catalog>) -> Result<Arc<ToolIndex>, String> {
        let mut cached = self
            .inner
            .index
            .lock()
            .map_err(|_| "search index lock poisoned".to_owned())?;
        if let Some((built_from, index)) = cached.as_ref()
            && Arc::ptr_eq(built_from, catalog)
        {
            return Ok(Arc::clone(index));
        }
        let tools: Vec<rmcp::model::Tool> = catalog.tools().map(|(_, t)| t.clone()).collect();
        let index =
            Arc::new(ToolIndex::build(&tools).map_err(|e| format!("cannot index the tools: {e}"))?);
        *cached = Some((Arc::clone(catalog), Arc::clone(&index)));
        Ok(index)
    }

    /// Remembers a connected client session for notifications (list changes, logs).
    pub fn add_session(&self, peer: Peer<RoleServer>) {
        self.inner.relay.add_session(peer);
    }

    pub fn status(&self) -> Vec<ChildStatus> {
        let catalog = self.catalog();
        self.inner
            .children()
            .iter()
            .map(|c| c.status(catalog.tool_count(c.name())))
            .collect()
    }

    /// Stops every child (stdio processes are closed, then killed) and waits for that, at
    /// most `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
        self.inner.shutdown.cancel();
        let handles = match self.inner.supervisors.lock() {
            Ok(mut handles) => std::mem::take(&mut *handles),
            Err(_) => Vec::new(),
        };
        let all = async {
            for handle in handles {
                let _ = handle.task.await;
            }
        };
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!("MCP children did not stop within {timeout:?}");
        }
    }

    pub(crate) fn inner(&self) -> &Arc<HubInner> {
        &self.inner
    }
}

impl HubInner {
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_default()
    }

    fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// The running children now, in config order.
    fn children(&self) -> Vec<Arc<Child>> {
        self.children
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn child(&self, name: &str) -> Option<Arc<Child>> {
        self.children().into_iter().find(|c| c.name() == name)
    }

    /// In passthrough mode, the one child: names it does not list still go to it.
    fn passthrough_child(&self) -> Option<Arc<Child>> {
        match (self.settings().mode, self.children().as_slice()) {
            (CatalogMode::Passthrough, [only]) => Some(Arc::clone(only)),
            _ => None,
        }
    }

    /// The target of an unknown name in passthrough mode: the one child, the name unchanged.
    fn passthrough_target(&self, name: &str) -> Option<Target> {
        self.passthrough_child().map(|child| Target {
            server: child.name().to_owned(),
            name: name.to_owned(),
        })
    }

    /// Rebuilds the catalog from every child's last known lists; says which lists changed.
    pub fn rebuild_catalog(&self) -> Changes {
        let lists: Vec<(String, ChildLists)> = self
            .children()
            .iter()
            .map(|c| (c.name().to_owned(), c.lists()))
            .collect();
        let catalog = Arc::new(Catalog::build(&self.settings().naming, &lists));
        let Ok(mut slot) = self.catalog.write() else {
            return Changes::default();
        };
        let changes = slot.changes_to(&catalog);
        *slot = catalog;
        changes
    }

    /// Tells every connected client which of tools, prompts and resources changed.
    pub async fn notify_lists_changed(&self, changes: Changes) {
        if !changes.any() {
            return;
        }
        for peer in self.relay.sessions() {
            if changes.tools {
                let _ = peer.notify_tool_list_changed().await;
            }
            if changes.prompts {
                let _ = peer.notify_prompt_list_changed().await;
            }
            if changes.resources {
                let _ = peer.notify_resource_list_changed().await;
            }
        }
    }

    /// A child said its lists changed: refetch them, rebuild, tell the clients what changed.
    /// While one refetch runs, more `list_changed` of the child ask for one more after it, not
    /// one each: a flood of them costs two listings, not thousands.
    pub async fn child_lists_changed(&self, server: &str) {
        let Some(child) = self.child(server) else {
            return;
        };
        if !child.start_relist() {
            return;
        }
        loop {
            let refreshed = child.refresh_lists().await;
            if let Err(e) = &refreshed {
                tracing::warn!(server, "refetching lists after list_changed failed: {e}");
            } else {
                let changes = self.rebuild_catalog();
                self.notify_lists_changed(changes).await;
            }
            if !child.relist_again(refreshed.is_err()) {
                return;
            }
        }
    }
}

/// Awaits every future (a small join without pulling in `futures` here).
async fn futures_join<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    for future in futures {
        future.await;
    }
}
