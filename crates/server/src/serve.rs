//! Running the app on a socket: the accept loop with a cap on open connections, TCP_NODELAY
//! on each, a deadline for a request's headers (which is also how long an idle keep-alive
//! connection is kept) and for pauses in a request body — so idle or slow sockets cannot hold
//! the server — and graceful shutdown: stop accepting, let in-flight requests finish within
//! the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::{AppState, app};

/// How long child MCP servers get to stop at shutdown.
const CHILDREN_STOP: Duration = Duration::from_secs(5);
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// After a failed `accept` (out of file descriptors, most often), wait before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

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
    let server = state.config().server.clone();
    let limits = Limits {
        header_timeout: server.header_timeout,
        connections: Arc::new(Semaphore::new(server.max_connections.max(1))),
        max_connections: server.max_connections.max(1),
    };
    let sessions = state.shutdown_token().clone();
    let hub = state.hub().clone();
    let router = app(state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        server.body_timeout,
    ));
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((tcp, peer)) => {
                serve_connection(&limits, &router, &connections, &stop, tcp, peer);
            }
            Err(err) => {
                tracing::warn!("cannot accept a connection: {err}; retrying shortly");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    tracing::info!(grace = ?grace, "shutting down: no new connections; finishing in-flight requests");
    stop.cancel();
    // Open MCP streams would otherwise hold the shutdown for the whole grace period.
    sessions.cancel();
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within {grace:?}; closing them");
    }
    // Child MCP servers are stopped (and their processes reaped) before Fusion exits.
    hub.shutdown(CHILDREN_STOP).await;
    Ok(())
}

/// What bounds the connections of one server.
struct Limits {
    header_timeout: Duration,
    connections: Arc<Semaphore>,
    max_connections: usize,
}

/// Serves one accepted connection on its own task, or closes it at once when the server
/// already holds `max_connections`.
fn serve_connection(
    limits: &Limits,
    router: &Router,
    connections: &TaskTracker,
    stop: &CancellationToken,
    tcp: TcpStream,
    peer: SocketAddr,
) {
    let Ok(permit) = Arc::clone(&limits.connections).try_acquire_owned() else {
        tracing::warn!(
            %peer,
            limit = limits.max_connections,
            "connection refused: server.max_connections are open"
        );
        drop(tcp);
        return;
    };
    // Without TCP_NODELAY a keep-alive client waits ~40 ms (delayed ACK) for each response body.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
    let service = TowerToHyperService::new(
        router
            .clone()
            .map_request(|request: hyper::Request<Incoming>| request.map(axum::body::Body::new)),
    );
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let stop = stop.clone();
    connections.spawn(async move {
        let _permit = permit;
        let connection = builder.serve_connection(TokioIo::new(tcp), service);
        let mut connection = std::pin::pin!(connection.with_upgrades());
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::trace!(%peer, "connection ended: {err}");
                }
            }
            () = stop.cancelled() => {
                connection.as_mut().graceful_shutdown();
                if let Err(err) = connection.await {
                    tracing::trace!(%peer, "connection ended at shutdown: {err}");
                }
            }
        }
    });
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
