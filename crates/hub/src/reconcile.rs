//! Following a reloaded `[mcp]`: children whose `[[mcp.servers]]` entry was removed (or
//! disabled) are stopped, new ones started, changed ones restarted — one by one, each with its
//! own stop token — while an unchanged child keeps its process and its client sessions. A child
//! whose entry changed only in its tool filter (`tools.allow` / `tools.deny`) keeps them too:
//! the new filter applies to its last known tools. Then the catalog is rebuilt and connected
//! clients are told which lists changed. The hub is the runtime's [`Attachment`]: the runtime
//! calls this after every accepted reload.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use fusion_core::config::{Config, McpServerConfig};
use fusion_core::runtime::{Attachment, mcp_server_changes, tool_filter_only_change};
use futures::future::BoxFuture;

use super::catalog::Changes;
use super::child::{self, Child};
use super::{Hub, HubInner, Settings, Supervisor};

/// How long a stopped child gets to exit (stdio processes are closed, then killed).
const CHILD_STOP: Duration = Duration::from_secs(5);

impl HubInner {
    /// Starts supervising `config` as a child (it connects in the background).
    pub(super) fn spawn_child(self: &Arc<Self>, config: McpServerConfig) {
        let name = config.name.clone();
        let child = Arc::new(Child::new(config));
        let settings = self.settings();
        let stop = self.shutdown.child_token();
        let task = tokio::spawn(child::supervise(
            Arc::clone(&child),
            Arc::downgrade(self),
            settings.startup_timeout,
            settings.ping_interval,
            stop.clone(),
        ));
        self.children
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(child);
        self.supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Supervisor { name, stop, task });
    }

    /// Stops the child `name` and waits for it (at most [`CHILD_STOP`]).
    async fn stop_child(&self, name: &str) {
        self.children
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|c| c.name() != name);
        let supervisor = {
            let mut supervisors = self
                .supervisors
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            supervisors
                .iter()
                .position(|s| s.name == name)
                .map(|at| supervisors.remove(at))
        };
        let Some(supervisor) = supervisor else {
            return;
        };
        supervisor.stop.cancel();
        if tokio::time::timeout(CHILD_STOP, supervisor.task)
            .await
            .is_err()
        {
            tracing::warn!(
                server = name,
                "MCP child did not stop within {CHILD_STOP:?}"
            );
        }
    }

    /// Puts the running children in the order of `servers` (the catalog's order).
    fn order_children(&self, servers: &[McpServerConfig]) {
        let mut children = self
            .children
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        children.sort_by_key(|c| servers.iter().position(|s| s.name == c.name()));
    }
}

impl Hub {
    /// Brings the children in line with `new` (see the module doc); `old` is the configuration
    /// they were started from.
    pub async fn reconcile(&self, old: &Config, new: &Config) {
        let inner = self.inner();
        let _one_at_a_time = inner.reconciling.lock().await;
        let delta = mcp_server_changes(old, new);
        let before = inner.settings();
        let had_children = self.has_children();
        let reserved = (
            before.naming.reserved_names.clone(),
            before.naming.reserved_uris.clone(),
        );
        *inner
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Settings::new(&new.mcp, reserved.0, reserved.1));
        let (refiltered, restarted): (Vec<&String>, Vec<&String>) = delta
            .changed
            .iter()
            .partition(|name| tool_filter_only_change(old, new, name));
        for name in &refiltered {
            let (child, server) = (inner.child(name), enabled_server(new, name));
            if let (Some(child), Some(server)) = (child, server) {
                child.set_tool_filter(&server.tools);
                tracing::info!(server = %name, "MCP child's tool filter changed (kept running)");
            }
        }
        for name in delta.removed.iter().chain(restarted.iter().copied()) {
            inner.stop_child(name).await;
            tracing::info!(server = %name, "MCP child stopped (configuration reloaded)");
        }
        let start: HashSet<&String> = delta.added.iter().chain(restarted).collect();
        for server in new.mcp.servers.iter().filter(|s| s.enabled) {
            if start.contains(&server.name) {
                inner.spawn_child(server.clone());
                tracing::info!(server = %server.name, "MCP child started (configuration reloaded)");
            }
        }
        inner.order_children(&new.mcp.servers);
        let mut changes = inner.rebuild_catalog();
        // Fusion's own items depend on whether there are children and on the mode.
        if had_children != self.has_children() || before.mode != new.mcp.mode {
            changes = Changes::all();
        }
        inner.notify_lists_changed(changes).await;
    }
}

/// The enabled entry `name` of `config`.
fn enabled_server<'a>(config: &'a Config, name: &str) -> Option<&'a McpServerConfig> {
    config
        .mcp
        .servers
        .iter()
        .find(|s| s.enabled && s.name == name)
}

impl Attachment for Hub {
    fn reconcile(&self, old: Arc<Config>, new: Arc<Config>) -> BoxFuture<'static, ()> {
        let hub = self.clone();
        Box::pin(async move { hub.reconcile(&old, &new).await })
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let hub = self.clone();
        Box::pin(async move { hub.shutdown(CHILD_STOP).await })
    }
}
