//! The Streamable HTTP transport for `/mcp`: the SDK's tower service with Fusion's policy —
//! sessions for classic (`initialize`) clients and stateless handling for 2026-07-28 ones, as
//! the SDK provides; `Host` and `Origin` checked against loopback plus the configured extras
//! (a foreign origin gets 403); the body limit of `[server]`; shutdown through a token.

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::FusionMcp;

/// Loopback names always accepted in `Host`.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Loopback browser origins always accepted, on any port.
const LOOPBACK_ORIGINS: [&str; 6] = [
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

/// What `fusion serve` decides about its `/mcp` endpoint.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Extra host names accepted besides loopback.
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins accepted besides loopback.
    pub allowed_origins: Vec<String>,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Cancelled at shutdown: every session ends and SSE streams close.
    pub shutdown: CancellationToken,
}

pub type McpHttpService = StreamableHttpService<FusionMcp, LocalSessionManager>;

/// The tower service to mount at `/mcp`.
pub fn http_service(server: FusionMcp, options: HttpOptions) -> McpHttpService {
    let hosts: Vec<String> = LOOPBACK_HOSTS
        .iter()
        .map(|h| (*h).to_owned())
        .chain(options.allowed_hosts)
        .collect();
    let origins: Vec<String> = LOOPBACK_ORIGINS
        .iter()
        .map(|o| (*o).to_owned())
        .chain(options.allowed_origins)
        .collect();
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(options.max_body_bytes)
        .with_cancellation_token(options.shutdown);
    StreamableHttpService::new(
        move || Ok(server.for_session()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
