//! Per-session connections to Streamable HTTP children. A stateful HTTP child keeps state per
//! MCP session (subscriptions, logging level, session resources), so each classic client
//! session of Fusion's `/mcp` gets its own session with such a child, opened on its first call
//! there and closed when the client's session ends. Everything that child connection starts
//! goes to its own client. Stdio children have one process, shared.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rmcp::service::{Peer, RoleClient, RoleServer};

use super::HubInner;
use super::child::{Child, Running};
use super::connect::connect;
use super::relay::ChildClient;

/// One client session's connections, by child name; dropped (and closed) with the session.
#[derive(Default)]
pub struct SessionChildren {
    conns: tokio::sync::Mutex<HashMap<String, (Running, u64)>>,
}

impl SessionChildren {
    /// This session's connection to `child`, opened now if needed.
    pub(super) async fn connection(
        &self,
        hub: Weak<HubInner>,
        child: &Child,
        owner: &Peer<RoleServer>,
        timeout: Duration,
    ) -> Result<(Peer<RoleClient>, u64), String> {
        let mut conns = self.conns.lock().await;
        if let Some((running, conn)) = conns.get(child.name())
            && !running.is_closed()
        {
            return Ok((running.peer().clone(), *conn));
        }
        let handler = ChildClient::new(
            child.name().to_owned(),
            hub,
            Some(owner.clone()),
            child.budget(),
        );
        let conn = handler.conn();
        let running = tokio::time::timeout(timeout, connect(&child.config, handler, None))
            .await
            .map_err(|_| format!("no handshake within {timeout:?}"))?
            .map_err(|e| format!("MCP server `{}`: {e}", child.name()))?;
        let peer = running.peer().clone();
        conns.insert(child.name().to_owned(), (running, conn));
        Ok((peer, conn))
    }

    /// Forgets a connection that broke, so the next call opens a new one.
    pub(super) async fn drop_connection(&self, child: &str) {
        self.conns.lock().await.remove(child);
    }
}

/// Shared by the clones of one session's handler.
pub type Session = Arc<SessionChildren>;
