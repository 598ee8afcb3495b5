//! The `Runtime`: the one owner of what runs in a Fusion process — the store and its usage
//! ledger, the live configuration and the provider registry built from it (one snapshot,
//! swapped atomically), the registry's health probes, the task engine, and the attachments a
//! front door adds (the MCP hub of child servers). Every front door — each CLI command, `/v1`,
//! `/api`, `/mcp` and stdio `fusion mcp` — reads the configuration and registry through it, so
//! a reload (`reload`, on SIGHUP or a changed file via `watch_file`, or asked for over MCP or
//! `/api`) is seen by all of them at once. Submodules: `reload` (validate, swap, reconcile,
//! report), `diff` (what changed between two snapshots), `watch` (SIGHUP and the file).

mod diff;
mod reload;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use tokio::sync::watch as channel;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::providers::ProviderRegistry;
use crate::store::{Ledger, Store};
use crate::tasks::{EngineSource, TaskEngine};
use crate::{Error, ErrorKind, Result};

pub use diff::{Delta, ReloadReport, mcp_servers as mcp_server_changes, tool_filter_only_change};
pub use reload::ReloadError;

/// A configuration and the registry built from it, replaced together. A request holds the
/// snapshot it started with; the next one sees the new snapshot.
#[derive(Clone)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub registry: Arc<ProviderRegistry>,
    /// 0 for the configuration the process started with, then one more per accepted reload.
    pub generation: u64,
}

/// Something a front door runs beside the engine that follows the configuration (the MCP hub:
/// its children are started and stopped as `[[mcp.servers]]` changes). The runtime calls
/// `reconcile` after every accepted reload, in order, and `shutdown` when it stops.
pub trait Attachment: Send + Sync + 'static {
    /// Brings this part in line with `new` (`old` is the configuration it was running).
    fn reconcile(&self, old: Arc<Config>, new: Arc<Config>) -> BoxFuture<'static, ()>;
    /// Stops it (bounded: an attachment gives up on what does not stop in time).
    fn shutdown(&self) -> BoxFuture<'static, ()>;
}

/// Handle to the runtime; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    /// The file the configuration came from; `None` when it was discovered (nothing to reload).
    source: Option<PathBuf>,
    /// Shared with the task engine's source, which reads it per task.
    live: Arc<ArcSwap<Snapshot>>,
    ledger: Option<Ledger>,
    /// The current registry's health probes; replaced with the registry.
    health: Mutex<Option<JoinHandle<()>>>,
    tasks: OnceLock<TaskEngine>,
    attachments: Mutex<Vec<Arc<dyn Attachment>>>,
    /// One reload at a time (SIGHUP, the file watcher, MCP and HTTP may ask together).
    reloading: tokio::sync::Mutex<()>,
    /// The generation now; receivers learn of every accepted reload.
    generation: channel::Sender<u64>,
    /// The SIGHUP/file watcher, once started.
    watcher: Mutex<Option<JoinHandle<()>>>,
}

impl Runtime {
    /// Opens the store named by `storage.url` (default: SQLite in the data dir), starts its
    /// usage ledger and builds the registry over it (models synced into the store join the
    /// configured ones). `source` is the file `config` was read from, if any: `reload` reads
    /// it again.
    pub async fn start(config: Config, source: Option<PathBuf>) -> Result<Runtime> {
        let store = Store::open(config.storage.url.as_deref()).await?;
        let ledger = Ledger::start(store);
        let registry = match build_registry(&config, &ledger).await {
            Ok(registry) => registry,
            Err(e) => {
                close_ledger(&ledger).await;
                return Err(e);
            }
        };
        Ok(Self::assemble(config, registry, Some(ledger), source))
    }

    /// A runtime over a registry built elsewhere, with no file to reload and no store of its
    /// own (the registry's ledger, if it has one, is the store). For tests and embedders.
    pub fn fixed(config: Config, registry: impl Into<Arc<ProviderRegistry>>) -> Runtime {
        let registry = registry.into();
        let ledger = registry.ledger().cloned();
        Self::assemble(config, registry, ledger, None)
    }

    fn assemble(
        config: Config,
        registry: Arc<ProviderRegistry>,
        ledger: Option<Ledger>,
        source: Option<PathBuf>,
    ) -> Runtime {
        let live = Arc::new(ArcSwap::from_pointee(Snapshot {
            config: Arc::new(config),
            registry,
            generation: 0,
        }));
        let (generation, _) = channel::channel(0);
        Runtime {
            inner: Arc::new(Inner {
                source,
                live,
                ledger,
                health: Mutex::new(None),
                tasks: OnceLock::new(),
                attachments: Mutex::new(Vec::new()),
                reloading: tokio::sync::Mutex::new(()),
                generation,
                watcher: Mutex::new(None),
            }),
        }
    }

    /// The configuration and registry now (hold it for one request or task).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.live.load_full()
    }

    /// The configuration now.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.inner.live.load().config)
    }

    /// The provider registry now.
    pub fn registry(&self) -> Arc<ProviderRegistry> {
        Arc::clone(&self.inner.live.load().registry)
    }

    /// The file the configuration is read from (`None`: discovered, nothing to reload).
    pub fn source(&self) -> Option<&Path> {
        self.inner.source.as_deref()
    }

    /// The usage ledger (every model call is recorded through it), when there is a store.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.inner.ledger.as_ref()
    }

    /// The one store, when there is one.
    pub fn store(&self) -> Option<&Store> {
        self.ledger().map(Ledger::store)
    }

    /// The store, or an error naming what needs it.
    pub fn require_store(&self) -> Result<&Store> {
        self.store().ok_or_else(|| {
            Error::from(ErrorKind::Invalid(
                "this Fusion process runs without a store".to_owned(),
            ))
        })
    }

    /// Learns of every accepted reload: the value is the new generation.
    pub fn subscribe(&self) -> channel::Receiver<u64> {
        self.inner.generation.subscribe()
    }

    /// Starts the registry's health probes (and catalog refreshes); a reload restarts them on
    /// the new registry.
    pub fn start_health(&self) {
        let handle = self.registry().spawn_health_checks();
        let mut health = self
            .inner
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = health.replace(handle) {
            old.abort();
        }
    }

    /// Starts the task engine over the store, reading the configuration and registry per task
    /// (tasks started after a reload run on the new ones). Starting it twice gives the first.
    pub fn start_tasks(&self) -> Result<TaskEngine> {
        if let Some(engine) = self.inner.tasks.get() {
            return Ok(engine.clone());
        }
        let store = self.require_store()?.clone();
        let engine = TaskEngine::start(store, self.engine_source(), self.config().tasks.clone());
        Ok(self.set_tasks(engine))
    }

    /// Serves `engine` as this runtime's task engine. The first one set wins and is returned.
    pub fn set_tasks(&self, engine: TaskEngine) -> TaskEngine {
        self.inner.tasks.get_or_init(|| engine).clone()
    }

    /// The task engine, once started.
    pub fn tasks(&self) -> Option<&TaskEngine> {
        self.inner.tasks.get()
    }

    /// The configuration and registry now, as the task engine asks for them.
    pub fn engine_source(&self) -> EngineSource {
        let live = Arc::clone(&self.inner.live);
        Arc::new(move || {
            let now = live.load();
            (Arc::clone(&now.config), Arc::clone(&now.registry))
        })
    }

    /// Adds a part that follows the configuration (see [`Attachment`]).
    pub fn attach(&self, attachment: Arc<dyn Attachment>) {
        self.inner
            .attachments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(attachment);
    }

    fn attachments(&self) -> Vec<Arc<dyn Attachment>> {
        self.inner
            .attachments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops everything, in order: the watcher, the task engine (running tasks are handed
    /// back or failed per `tasks.on_interrupt`), the attachments (MCP children), the health
    /// probes, then the ledger writes every queued usage row and the store closes.
    pub async fn shutdown(&self) {
        if let Some(watcher) = take(&self.inner.watcher) {
            watcher.abort();
        }
        if let Some(tasks) = self.tasks() {
            tasks.shutdown().await;
        }
        for attachment in self.attachments() {
            attachment.shutdown().await;
        }
        if let Some(health) = take(&self.inner.health) {
            health.abort();
        }
        if let Some(ledger) = self.ledger() {
            close_ledger(ledger).await;
        }
    }
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// The registry for `config` over `ledger`'s store, with the synced models and today's usage.
async fn build_registry(config: &Config, ledger: &Ledger) -> Result<Arc<ProviderRegistry>> {
    let registry = ProviderRegistry::from_config(config)?.with_ledger(ledger.clone());
    registry.restore_from(ledger.store()).await?;
    Ok(Arc::new(registry))
}

async fn close_ledger(ledger: &Ledger) {
    if let Err(e) = ledger.shutdown().await {
        tracing::error!("usage ledger: {e}");
    }
    ledger.store().close().await;
}

impl Drop for Inner {
    /// The background work of the last handle stops with it.
    fn drop(&mut self) {
        for slot in [&self.health, &self.watcher] {
            if let Some(handle) = take(slot) {
                handle.abort();
            }
        }
    }
}
