//! Relaying between children and Fusion's own clients. `ChildClient` is the rmcp client
//! handler of every child connection: it passes the child's progress to the client whose call
//! it belongs to, its log messages and resource updates to the clients concerned, its
//! `list_changed` to the hub (which refetches and tells every client), and its requests
//! (sampling, elicitation, roots) to the client of the call in progress, with the answer sent
//! back. `Relay` keeps what that needs: the calls in flight and the connected client sessions.
//! A child's notifications pass through its [`RelayBudget`]: a child flooding them while the
//! clients read slowly has the excess dropped and counted, never queued without bound.
// Sampling, roots and logging are deprecated by the newest protocol (SEP-2577); classic clients
// and children still use them, and relaying them is the point.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use rmcp::ErrorData;
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, Implementation, ListRootsResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleClient, RoleServer};

use super::HubInner;

/// One downstream call forwarded to a child.
struct InFlight {
    server: String,
    peer: Peer<RoleServer>,
    /// The client's progress token, when it asked for progress.
    token: Option<ProgressToken>,
    started: Instant,
}

/// Calls in flight (keyed by the child connection and the progress token Fusion gave the
/// child on it) and the client sessions that can receive notifications outside a call.
#[derive(Default)]
pub struct Relay {
    calls: Mutex<HashMap<(u64, ProgressToken), InFlight>>,
    sessions: Mutex<Vec<Peer<RoleServer>>>,
}

/// Removes its call from the relay when dropped (the call ended, failed or was cancelled).
pub struct CallGuard<'a> {
    relay: &'a Relay,
    key: (u64, ProgressToken),
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.relay.calls.lock() {
            calls.remove(&self.key);
        }
    }
}

impl Relay {
    /// Records a call forwarded to `server` on connection `conn` under the child-side progress
    /// token `child_token`.
    pub fn track(
        &self,
        conn: u64,
        server: &str,
        child_token: ProgressToken,
        peer: Peer<RoleServer>,
        token: Option<ProgressToken>,
    ) -> CallGuard<'_> {
        let key = (conn, child_token);
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(
                key.clone(),
                InFlight {
                    server: server.to_owned(),
                    peer,
                    token,
                    started: Instant::now(),
                },
            );
        }
        CallGuard { relay: self, key }
    }

    /// Remembers a client session (stdio, or a classic HTTP session) for notifications.
    pub fn add_session(&self, peer: Peer<RoleServer>) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|p| !p.is_transport_closed());
            sessions.push(peer);
        }
    }

    /// Open client sessions.
    pub fn sessions(&self) -> Vec<Peer<RoleServer>> {
        match self.sessions.lock() {
            Ok(mut sessions) => {
                sessions.retain(|p| !p.is_transport_closed());
                sessions.clone()
            }
            Err(_) => Vec::new(),
        }
    }

    fn progress_target(
        &self,
        conn: u64,
        child_token: &ProgressToken,
    ) -> Option<(Peer<RoleServer>, ProgressToken)> {
        let calls = self.calls.lock().ok()?;
        let call = calls.get(&(conn, child_token.clone()))?;
        Some((call.peer.clone(), call.token.clone()?))
    }

    /// The clients with a call in progress on `server`, most recent first; or, with none, every
    /// open session.
    fn audience(&self, server: &str) -> Vec<Peer<RoleServer>> {
        let mut in_flight: Vec<(Instant, Peer<RoleServer>)> = match self.calls.lock() {
            Ok(calls) => calls
                .values()
                .filter(|c| c.server == server)
                .map(|c| (c.started, c.peer.clone()))
                .collect(),
            Err(_) => Vec::new(),
        };
        if in_flight.is_empty() {
            return self.sessions();
        }
        in_flight.sort_by_key(|call| std::cmp::Reverse(call.0));
        in_flight.into_iter().map(|(_, peer)| peer).collect()
    }
}

/// Notifications of one child being relayed at once, at most; more are dropped.
const RELAYING_AT_MOST: usize = 128;

/// How many of one child's notifications are being relayed now, and how many were dropped
/// because too many were. Shared by every connection to the child.
#[derive(Debug, Default)]
pub struct RelayBudget {
    relaying: AtomicUsize,
    dropped: AtomicU64,
}

/// One notification being relayed; gives its place back when dropped.
pub struct Relaying<'a>(&'a RelayBudget);

impl Drop for Relaying<'_> {
    fn drop(&mut self) {
        self.0.relaying.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RelayBudget {
    /// A place to relay one notification, or `None` (the notification is dropped and counted)
    /// when [`RELAYING_AT_MOST`] are already on their way.
    pub fn admit(&self) -> Option<Relaying<'_>> {
        let before = self.relaying.fetch_add(1, Ordering::AcqRel);
        if before >= RELAYING_AT_MOST {
            self.relaying.fetch_sub(1, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Relaying(self))
    }

    /// Notifications dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Numbers child connections, so progress tokens of different connections never mix.
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// The client handler of one child connection.
#[derive(Clone)]
pub struct ChildClient {
    server: String,
    hub: Weak<HubInner>,
    conn: u64,
    /// The client session a per-session connection belongs to: everything the child starts
    /// goes to it alone.
    owner: Option<Peer<RoleServer>>,
    /// The child's notification budget.
    budget: Arc<RelayBudget>,
}

impl ChildClient {
    pub fn new(
        server: String,
        hub: Weak<HubInner>,
        owner: Option<Peer<RoleServer>>,
        budget: Arc<RelayBudget>,
    ) -> Self {
        let conn = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        Self {
            server,
            hub,
            conn,
            owner,
            budget,
        }
    }

    /// A place to relay one notification; logs the first drop of every thousand.
    fn admit(&self) -> Option<Relaying<'_>> {
        let admitted = self.budget.admit();
        if admitted.is_none() && self.budget.dropped() % 1000 == 1 {
            tracing::warn!(
                server = %self.server,
                dropped = self.budget.dropped(),
                "the child sends notifications faster than its clients take them; dropping the excess"
            );
        }
        admitted
    }

    pub fn conn(&self) -> u64 {
        self.conn
    }

    /// Who hears what this child starts: its session's client, else the relay's audience.
    fn audience(&self, hub: &HubInner) -> Vec<Peer<RoleServer>> {
        match &self.owner {
            Some(owner) => vec![owner.clone()],
            None => hub.relay.audience(&self.server),
        }
    }

    fn hub(&self) -> Option<Arc<HubInner>> {
        self.hub.upgrade()
    }

    /// The client that should answer a request from this child: the one whose call is in
    /// progress (most recent first), else any open session.
    fn answering_peer(&self) -> Result<Peer<RoleServer>, ErrorData> {
        let hub = self
            .hub()
            .ok_or_else(|| ErrorData::internal_error("Fusion is stopping", None))?;
        self.audience(&hub).into_iter().next().ok_or_else(|| {
            ErrorData::internal_error(
                format!(
                    "no client is connected to Fusion to answer `{}`'s request",
                    self.server
                ),
                None,
            )
        })
    }
}

fn relayed(server: &str, e: rmcp::ServiceError) -> ErrorData {
    match e {
        rmcp::ServiceError::McpError(error) => error,
        other => ErrorData::internal_error(
            format!("the client did not answer `{server}`'s request: {other}"),
            None,
        ),
    }
}

impl rmcp::ClientHandler for ChildClient {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        capabilities.sampling = Some(Default::default());
        capabilities.elicitation = Some(Default::default());
        capabilities.roots = Some(Default::default());
        ClientConfig::new(
            capabilities,
            Implementation::new("fusion", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let peer = self.answering_peer()?;
        peer.create_message(params)
            .await
            .map_err(|e| relayed(&self.server, e))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let peer = self.answering_peer()?;
        peer.create_elicitation(request)
            .await
            .map_err(|e| relayed(&self.server, e))
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let peer = self.answering_peer()?;
        peer.list_roots()
            .await
            .map_err(|e| relayed(&self.server, e))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let Some(_relaying) = self.admit() else {
            return;
        };
        let Some(hub) = self.hub() else { return };
        let Some((peer, token)) = hub.relay.progress_target(self.conn, &params.progress_token)
        else {
            return;
        };
        let mut forwarded = params;
        forwarded.progress_token = token;
        if let Err(e) = peer.notify_progress(forwarded).await {
            tracing::debug!(server = %self.server, "progress not relayed: {e}");
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let Some(_relaying) = self.admit() else {
            return;
        };
        let Some(hub) = self.hub() else { return };
        let mut params = params;
        // Say which child wrote it.
        params.logger = Some(match params.logger.take() {
            Some(logger) => format!("{}/{logger}", self.server),
            None => self.server.clone(),
        });
        for peer in self.audience(&hub) {
            if let Err(e) = peer.notify_logging_message(params.clone()).await {
                tracing::debug!(server = %self.server, "log message not relayed: {e}");
            }
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let Some(_relaying) = self.admit() else {
            return;
        };
        let Some(hub) = self.hub() else { return };
        let uri = hub.catalog().exposed_uri(&self.server, &params.uri);
        for peer in hub.relay.sessions() {
            let mut forwarded = params.clone();
            forwarded.uri = uri.clone();
            if let Err(e) = peer.notify_resource_updated(forwarded).await {
                tracing::debug!(server = %self.server, "resource update not relayed: {e}");
            }
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(hub) = self.hub() {
            hub.child_lists_changed(&self.server).await;
        }
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(hub) = self.hub() {
            hub.child_lists_changed(&self.server).await;
        }
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(hub) = self.hub() {
            hub.child_lists_changed(&self.server).await;
        }
    }
}
