//! Opening a connection to a child: spawn the process, reach the URL, or take an in-process
//! stream, then the handshake through rmcp — the newest protocol first (`server/discover`),
//! falling back to `initialize` for classic servers. A classic server that does answer
//! `server/discover` (listing only classic versions) is reconnected with `initialize`.

use std::collections::HashMap;

use fusion_core::config::McpServerConfig;
use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientInitializeError, ClientLifecycleMode, serve_client_with_lifecycle};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};

use super::InProcess;
use super::child::Running;
use super::relay::ChildClient;

/// Why a handshake failed.
enum Failure {
    /// The server speaks only classic protocol versions, and said so to `server/discover`.
    ClassicOnly,
    Other(String),
}

/// Connects to the child `config` describes, with `handler` as its client.
pub(super) async fn connect(
    config: &McpServerConfig,
    handler: ChildClient,
    in_process: Option<&InProcess>,
) -> Result<Running, String> {
    let newest = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: None,
    };
    match open(config, handler.clone(), in_process, newest).await {
        Err(Failure::ClassicOnly) => {
            tracing::debug!(server = %config.name, "classic MCP server; reconnecting with initialize");
            open(config, handler, in_process, ClientLifecycleMode::Initialize)
                .await
                .map_err(|failure| match failure {
                    Failure::ClassicOnly => "no protocol version in common".to_owned(),
                    Failure::Other(message) => message,
                })
        }
        Err(Failure::Other(message)) => Err(message),
        Ok(running) => Ok(running),
    }
}

/// One connection attempt with one lifecycle.
async fn open(
    config: &McpServerConfig,
    handler: ChildClient,
    in_process: Option<&InProcess>,
    lifecycle: ClientLifecycleMode,
) -> Result<Running, Failure> {
    let (outcome, whom) = if let Some(stream) = in_process.and_then(|open| open(config)) {
        (
            serve_client_with_lifecycle(handler, stream, lifecycle).await,
            format!("in-process `{}`", config.name),
        )
    } else if let Some(url) = &config.url {
        let transport = StreamableHttpClientTransport::from_config(
            http_config(config, url).map_err(Failure::Other)?,
        );
        (
            serve_client_with_lifecycle(handler, transport, lifecycle).await,
            url.clone(),
        )
    } else {
        let program = config.command.as_deref().unwrap_or_default();
        let mut command = tokio::process::Command::new(program);
        command.args(&config.args).envs(&config.env);
        if let Some(cwd) = &config.cwd {
            command.current_dir(cwd);
        }
        let transport = TokioChildProcess::new(command)
            .map_err(|e| Failure::Other(format!("cannot start `{program}`: {e}")))?;
        (
            serve_client_with_lifecycle(handler, transport, lifecycle).await,
            format!("`{program}`"),
        )
    };
    outcome.map_err(|e| match &e {
        ClientInitializeError::NoCompatibleProtocolVersion {
            server_supported, ..
        } if !server_supported.is_empty()
            && server_supported.iter().all(ProtocolVersion::has_initialize) =>
        {
            Failure::ClassicOnly
        }
        _ => Failure::Other(format!("handshake with {whom} failed: {e}")),
    })
}

/// The Streamable HTTP client settings for `url`, with the entry's headers.
fn http_config(
    config: &McpServerConfig,
    url: &str,
) -> Result<StreamableHttpClientTransportConfig, String> {
    let mut headers = HashMap::new();
    for (name, value) in &config.headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("header `{name}`: {e}"))?;
        let value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|e| format!("header `{name}`: {e}"))?;
        headers.insert(name, value);
    }
    let mut transport_config = StreamableHttpClientTransportConfig::with_uri(url);
    transport_config.custom_headers = headers;
    transport_config.reinit_on_expired_session = true;
    Ok(transport_config)
}
