//! One child MCP server: how to connect to it (a stdio process or a Streamable HTTP URL, both
//! through rmcp's client transports), its supervisor (connect with a timeout, fetch its lists,
//! ping on an interval, restart with exponential backoff up to a crash-loop limit), and the
//! state and call statistics the status resource reports. Its lists are fetched within its call
//! timeout (a child that stops answering `tools/list` is taken for hung and reconnected), and
//! a burst of `list_changed` is coalesced into one re-listing at a time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use fusion_core::backoff::Backoff;
use fusion_core::config::{McpServerConfig, ToolFilter};
use rmcp::service::{Peer, RoleClient, RunningService};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::HubInner;
use super::catalog::ChildLists;
use super::filter::ToolNameFilter;
use super::relay::{ChildClient, RelayBudget};

/// Consecutive failed starts (or crashes soon after start) before a child is given up.
const CRASH_LOOP_LIMIT: u32 = 8;
/// A child that stayed up this long has its failure count reset.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// Waits between restarts: 250 ms, doubling, at most 30 s.
const RESTART_BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
/// Missed pings before a child is considered hung and restarted.
const PING_MISSES: u32 = 2;
/// Latency samples kept per child for the p50.
const LATENCY_SAMPLES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Connecting,
    Ready,
    Restarting,
    /// Given up after the crash-loop limit.
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Ready => "ready",
            State::Restarting => "restarting",
            State::Failed => "failed",
        }
    }
}

/// What the status resource shows for one child.
#[derive(Debug, Clone, Serialize)]
pub struct ChildStatus {
    pub name: String,
    pub transport: &'static str,
    pub state: State,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub protocol_version: Option<String>,
    pub tools: usize,
    pub calls: u64,
    pub failed_calls: u64,
    pub p50_ms: Option<f64>,
    /// Notifications of the child dropped because it sent them faster than clients took them.
    pub dropped_notifications: u64,
}

#[derive(Debug)]
struct Stats {
    state: State,
    restarts: u32,
    last_error: Option<String>,
    protocol_version: Option<String>,
    calls: u64,
    failed_calls: u64,
    latencies: Vec<f64>,
    next_sample: usize,
    /// Set once the first connection attempt has finished, either way.
    settled: bool,
}

pub struct Child {
    /// How to reach the child. Its `tools` filter is the one it started with: the filter in
    /// force is `filter`, which a reload replaces without reconnecting.
    pub config: McpServerConfig,
    stats: Mutex<Stats>,
    /// The shared connection and its number (see `ChildClient`).
    peer: RwLock<Option<(Peer<RoleClient>, u64)>>,
    /// The lists as the child last reported them, its tools unfiltered.
    lists: RwLock<ChildLists>,
    /// `tools.allow` / `tools.deny`, applied whenever the lists are read.
    filter: RwLock<Arc<ToolNameFilter>>,
    settled: tokio::sync::Notify,
    /// Asks the supervisor to drop the connection numbered `reconnect_conn` and connect again.
    reconnect: tokio::sync::Notify,
    /// The connection a failed call asked to replace (0: none). A request for a connection
    /// that is already gone is ignored, so a late failure never tears down its successor.
    reconnect_conn: AtomicU64,
    /// Its notifications being relayed, and those dropped.
    budget: Arc<RelayBudget>,
    /// Re-listing after `list_changed`: (one is running, another was asked for meanwhile).
    relist: Mutex<(bool, bool)>,
}

impl Child {
    pub fn new(config: McpServerConfig) -> Self {
        let filter = Arc::new(ToolNameFilter::new(&config.tools));
        Self {
            config,
            stats: Mutex::new(Stats {
                state: State::Connecting,
                restarts: 0,
                last_error: None,
                protocol_version: None,
                calls: 0,
                failed_calls: 0,
                latencies: Vec::new(),
                next_sample: 0,
                settled: false,
            }),
            peer: RwLock::new(None),
            lists: RwLock::new(ChildLists::default()),
            filter: RwLock::new(filter),
            settled: tokio::sync::Notify::new(),
            reconnect: tokio::sync::Notify::new(),
            reconnect_conn: AtomicU64::new(0),
            budget: Arc::default(),
            relist: Mutex::new((false, false)),
        }
    }

    /// The notification budget every connection to this child shares.
    pub fn budget(&self) -> Arc<RelayBudget> {
        Arc::clone(&self.budget)
    }

    /// Starts a re-listing unless one is running; then that one runs once more when it ends
    /// ([`Child::relist_again`]) and this caller has nothing to do (`false`).
    pub fn start_relist(&self) -> bool {
        let mut relist = self.relist.lock().unwrap_or_else(PoisonError::into_inner);
        if relist.0 {
            relist.1 = true;
            return false;
        }
        *relist = (true, false);
        true
    }

    /// A re-listing ended: whether another was asked for meanwhile (then the caller runs it).
    pub fn relist_again(&self, failed: bool) -> bool {
        let mut relist = self.relist.lock().unwrap_or_else(PoisonError::into_inner);
        if relist.1 && !failed {
            relist.1 = false;
            return true;
        }
        *relist = (false, false);
        false
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The live connection, when the child is ready.
    pub fn peer(&self) -> Option<Peer<RoleClient>> {
        self.connection().map(|(peer, _)| peer)
    }

    /// The live shared connection and its number.
    pub fn connection(&self) -> Option<(Peer<RoleClient>, u64)> {
        self.peer.read().ok().and_then(|p| p.clone())
    }

    pub fn is_http(&self) -> bool {
        self.config.url.is_some()
    }

    /// The child's lists as last fetched (kept while it restarts, so its tools stay listed
    /// and answer with a clear error), its tools filtered by the filter in force.
    pub fn lists(&self) -> ChildLists {
        let mut lists = self.lists.read().map(|l| l.clone()).unwrap_or_default();
        let filter = self
            .filter
            .read()
            .map(|f| Arc::clone(&f))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()));
        lists.tools.retain(|t| filter.allows(&t.name));
        lists.down = self.peer().is_none();
        lists
    }

    /// Puts a reloaded `tools.allow` / `tools.deny` in force: the next catalog rebuild lists
    /// the child's tools through it; the connection and the process stay as they are.
    pub fn set_tool_filter(&self, filter: &ToolFilter) {
        let filter = Arc::new(ToolNameFilter::new(filter));
        *self
            .filter
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = filter;
    }

    pub fn state(&self) -> (State, Option<String>, u32) {
        match self.stats.lock() {
            Ok(s) => (s.state, s.last_error.clone(), s.restarts),
            Err(_) => (State::Failed, Some("internal state poisoned".into()), 0),
        }
    }

    /// Waits until the first connection attempt has finished (ready or failed).
    pub async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            if self.stats.lock().map(|s| s.settled).unwrap_or(true) {
                return;
            }
            notified.await;
        }
    }

    /// Connection `conn` looks broken (a call on it timed out or its transport failed):
    /// connect anew, unless it has already been replaced. Servers that forget sessions
    /// without answering 404 would otherwise hang every call.
    pub fn reconnect(&self, conn: u64) {
        if self.connection().is_some_and(|(_, live)| live == conn) {
            self.reconnect_conn.store(conn, Ordering::SeqCst);
            self.reconnect.notify_one();
        }
    }

    pub fn record_call(&self, elapsed: Duration, ok: bool) {
        if let Ok(mut s) = self.stats.lock() {
            s.calls += 1;
            if !ok {
                s.failed_calls += 1;
            }
            let ms = elapsed.as_secs_f64() * 1000.0;
            if s.latencies.len() < LATENCY_SAMPLES {
                s.latencies.push(ms);
            } else {
                let i = s.next_sample;
                s.latencies[i] = ms;
            }
            s.next_sample = (s.next_sample + 1) % LATENCY_SAMPLES;
        }
    }

    pub fn status(&self, tools: usize) -> ChildStatus {
        let transport = if self.config.url.is_some() {
            "streamable-http"
        } else {
            "stdio"
        };
        let s = match self.stats.lock() {
            Ok(s) => s,
            Err(_) => {
                return ChildStatus {
                    name: self.config.name.clone(),
                    transport,
                    state: State::Failed,
                    restarts: 0,
                    last_error: Some("internal state poisoned".into()),
                    protocol_version: None,
                    tools,
                    calls: 0,
                    failed_calls: 0,
                    p50_ms: None,
                    dropped_notifications: self.budget.dropped(),
                };
            }
        };
        let mut sorted = s.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        ChildStatus {
            name: self.config.name.clone(),
            transport,
            state: s.state,
            restarts: s.restarts,
            last_error: s.last_error.clone(),
            protocol_version: s.protocol_version.clone(),
            tools,
            calls: s.calls,
            failed_calls: s.failed_calls,
            p50_ms: sorted
                .get(sorted.len() / 2)
                .map(|v| (v * 1000.0).round() / 1000.0),
            dropped_notifications: self.budget.dropped(),
        }
    }

    fn set_state(&self, state: State, error: Option<String>) {
        if let Ok(mut s) = self.stats.lock() {
            s.state = state;
            if error.is_some() {
                s.last_error = error;
            }
            if state != State::Connecting && !s.settled {
                s.settled = true;
                self.settled.notify_waiters();
            }
        }
    }

    /// Fetches every list the child offers; capabilities it lacks give empty lists. A child
    /// that does not give them within its call timeout is taken for hung: its connection is
    /// replaced (see [`Child::reconnect`]).
    pub async fn refresh_lists(&self) -> Result<(), String> {
        let Some((peer, conn)) = self.connection() else {
            return Err("not connected".into());
        };
        let timeout = self.config.timeout;
        let lists = match tokio::time::timeout(timeout, fetch_lists(&peer)).await {
            Ok(lists) => lists?,
            Err(_) => {
                self.reconnect(conn);
                return Err(format!("its lists were not given within {timeout:?}"));
            }
        };
        if let Ok(mut current) = self.lists.write() {
            *current = lists;
        }
        Ok(())
    }
}

/// Every list of the child, its tools unfiltered (`Child::lists` filters them).
async fn fetch_lists(peer: &Peer<RoleClient>) -> Result<ChildLists, String> {
    let info = peer.peer_info();
    let caps = info
        .as_ref()
        .map(|i| i.capabilities.clone())
        .unwrap_or_default();
    let failed = |what: &str, e: rmcp::ServiceError| format!("listing {what} failed: {e}");
    let mut lists = ChildLists::default();
    if caps.tools.is_some() {
        lists.tools = peer
            .list_all_tools()
            .await
            .map_err(|e| failed("tools", e))?;
    }
    if caps.prompts.is_some() {
        lists.prompts = peer
            .list_all_prompts()
            .await
            .map_err(|e| failed("prompts", e))?;
    }
    if caps.resources.is_some() {
        lists.resources = peer
            .list_all_resources()
            .await
            .map_err(|e| failed("resources", e))?;
        lists.templates = peer
            .list_all_resource_templates()
            .await
            .map_err(|e| failed("resource templates", e))?;
    }
    Ok(lists)
}

pub(super) type Running = RunningService<RoleClient, ChildClient>;

/// Keeps one child connected until `shutdown`: connect, serve, watch, restart.
pub async fn supervise(
    child: Arc<Child>,
    hub: Weak<HubInner>,
    startup_timeout: Duration,
    ping_interval: Duration,
    shutdown: CancellationToken,
) {
    let mut failures: u32 = 0;
    let mut connected_before = false;
    loop {
        let handler = ChildClient::new(child.name().to_owned(), hub.clone(), None, child.budget());
        let conn = handler.conn();
        let in_process = hub.upgrade().and_then(|h| h.in_process.clone());
        let connecting = super::connect::connect(&child.config, handler, in_process.as_ref());
        let attempt = tokio::select! {
            result = tokio::time::timeout(startup_timeout, connecting) => {
                result.unwrap_or_else(|_| Err(format!("no handshake within {startup_timeout:?}")))
            }
            () = shutdown.cancelled() => return,
        };
        match attempt {
            Ok(running) => {
                let started = Instant::now();
                let peer = running.peer().clone();
                if let Ok(mut s) = child.stats.lock() {
                    s.protocol_version = peer.peer_info().map(|i| i.protocol_version.to_string());
                }
                if let Ok(mut slot) = child.peer.write() {
                    *slot = Some((peer.clone(), conn));
                }
                let fetched = child.refresh_lists().await;
                if let Err(e) = &fetched {
                    tracing::warn!(server = %child.name(), "{e}");
                }
                // The catalog first: a listing waiting for this child must see its items.
                let hub_now = hub.upgrade();
                let changes = hub_now.as_ref().map(|h| h.rebuild_catalog());
                child.set_state(State::Ready, None);
                tracing::info!(server = %child.name(), "MCP child ready");
                if let (Some(hub), Some(changes)) = (hub_now, changes) {
                    // Clients that listed before this child arrived (or came back) re-list.
                    hub.notify_lists_changed(changes).await;
                }
                connected_before = true;
                let reason = watch(running, &child, conn, ping_interval, &shutdown).await;
                if let Ok(mut slot) = child.peer.write() {
                    *slot = None;
                }
                let Some(reason) = reason else { return };
                tracing::warn!(server = %child.name(), "MCP child stopped: {reason}; restarting");
                // Its items leave the listings until it is back.
                if let Some(hub) = hub.upgrade() {
                    let changes = hub.rebuild_catalog();
                    hub.notify_lists_changed(changes).await;
                }
                if started.elapsed() >= STABLE_AFTER {
                    failures = 0;
                }
                failures += 1;
                if let Ok(mut s) = child.stats.lock() {
                    s.restarts += 1;
                }
                child.set_state(State::Restarting, Some(reason));
            }
            Err(reason) => {
                failures += 1;
                tracing::warn!(server = %child.name(), attempt = failures, "MCP child did not start: {reason}");
                let state = if connected_before {
                    State::Restarting
                } else {
                    State::Connecting
                };
                child.set_state(state, Some(reason));
                // The first attempt is over: start-up no longer waits for this child.
                if let Ok(mut s) = child.stats.lock()
                    && !s.settled
                {
                    s.settled = true;
                    child.settled.notify_waiters();
                }
            }
        }
        if failures >= CRASH_LOOP_LIMIT {
            let (_, error, _) = child.state();
            child.set_state(
                State::Failed,
                Some(format!(
                    "gave up after {failures} failed starts in a row; last error: {}",
                    error.unwrap_or_default()
                )),
            );
            tracing::error!(server = %child.name(), "MCP child given up after {failures} failures");
            return;
        }
        let backoff = RESTART_BACKOFF.delay(failures - 1);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Serves a connected child until it exits, stops answering pings, or Fusion shuts down
/// (`None`). The reason it stopped otherwise.
async fn watch(
    running: Running,
    child: &Child,
    conn: u64,
    ping_interval: Duration,
    shutdown: &CancellationToken,
) -> Option<String> {
    let stop = running.cancellation_token();
    let peer = running.peer().clone();
    let mut exited = tokio::spawn(running.waiting());
    let mut tick = tokio::time::interval(ping_interval);
    tick.tick().await;
    let mut misses = 0;
    loop {
        tokio::select! {
            quit = &mut exited => {
                return Some(match quit {
                    Ok(reason) => format!("connection closed ({reason:?})"),
                    Err(e) => format!("connection task failed: {e}"),
                });
            }
            _ = tick.tick() => {
                match tokio::time::timeout(ping_interval, peer.send_request(
                    rmcp::model::ClientRequest::PingRequest(Default::default()),
                )).await {
                    // Any answer, even "method not found" from a 2026-era child, means alive.
                    Ok(Ok(_)) | Ok(Err(rmcp::ServiceError::McpError(_))) => misses = 0,
                    Ok(Err(e)) => {
                        misses += 1;
                        tracing::debug!("ping failed: {e}");
                    }
                    Err(_) => misses += 1,
                }
                if misses >= PING_MISSES {
                    stop.cancel();
                    let _ = exited.await;
                    return Some(format!("no answer to {misses} pings"));
                }
            }
            () = child.reconnect.notified() => {
                // A permit left by a request for an earlier connection is not for this one.
                if child.reconnect_conn.load(Ordering::SeqCst) != conn {
                    continue;
                }
                stop.cancel();
                let _ = exited.await;
                return Some("a call failed on this connection; reconnecting".to_owned());
            }
            () = shutdown.cancelled() => {
                stop.cancel();
                let _ = exited.await;
                return None;
            }
        }
    }
}
