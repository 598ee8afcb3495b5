//! Running the app on a socket: TCP_NODELAY on every accepted connection, and graceful
//! shutdown — stop accepting, let in-flight requests finish within the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{AppState, app};

/// How long child MCP servers get to stop at shutdown.
const CHILDREN_STOP: Duration = Duration::from_secs(5);
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Refuses to expose an unauthenticated server beyond loopback unless explicitly allowed.
pub fn check_exposure(
    addr: SocketAddr,
    has_keys: bool,
    allow_unauthenticated: bool,
) -> Result<(), String> {
    if addr.ip().is_loopback() || has_keys || allow_unauthenticated {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {addr} without API keys: anyone who can reach it could use your \
         models. Set server.api_keys_env in the config (and export the key), or pass \
         --allow-unauthenticated if this network is trusted."
    ))
}

/// Serves until `shutdown` resolves, then waits up to `grace` for in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    // The Prometheus recorder keeps histogram samples until upkeep drains them; without a
    // periodic upkeep, memory grows with every request until someone scrapes /metrics.
    let _upkeep = state.metrics().cloned().map(|handle| {
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        }))
    });
    let stop = CancellationToken::new();
    // Without TCP_NODELAY a keep-alive client waits ~40 ms (delayed ACK) for each response body.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let sessions = state.shutdown_token().clone();
    let hub = state.hub().clone();
    let server =
        axum::serve(listener, app(state)).with_graceful_shutdown(stop.clone().cancelled_owned());
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = &mut server => return result,
        () = shutdown => {}
    }
    tracing::info!(grace = ?grace, "shutting down: no new connections; finishing in-flight requests");
    stop.cancel();
    // Open MCP streams would otherwise hold the shutdown for the whole grace period.
    sessions.cancel();
    let result = match tokio::time::timeout(grace, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("in-flight requests did not finish within {grace:?}; closing them");
            Ok(())
        }
    };
    // Child MCP servers are stopped (and their processes reaped) before Fusion exits.
    hub.shutdown(CHILDREN_STOP).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_servers_stay_on_loopback_unless_allowed() {
        let public: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        assert!(check_exposure(local, false, false).is_ok());
        assert!(check_exposure(public, true, false).is_ok());
        assert!(check_exposure(public, false, true).is_ok());
        let err = check_exposure(public, false, false).unwrap_err();
        assert!(err.contains("--allow-unauthenticated"));
    }
}
