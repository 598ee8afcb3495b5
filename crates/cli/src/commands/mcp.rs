//! `fusion mcp`: Fusion's MCP server on stdin/stdout, until the client closes stdin.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fusion_core::providers::ProviderRegistry;
use fusion_mcp::{Fusion, FusionMcp};

use tokio_util::sync::CancellationToken;

use super::resolve;

/// How long the children get to stop when the client goes away.
const CHILDREN_STOP: Duration = Duration::from_secs(5);

pub async fn run(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let resolved = resolve(config_path).await?;
    let registry = ProviderRegistry::from_config(&resolved.config)?;
    let hub = fusion_mcp::start_hub(&resolved.config, CancellationToken::new());
    let fusion = Fusion::new(Arc::new(resolved.config), Arc::new(registry));
    tracing::info!("serving MCP on stdio");
    let served = fusion_mcp::serve_stdio(FusionMcp::new(fusion).with_hub(hub.clone())).await;
    hub.shutdown(CHILDREN_STOP).await;
    served.context("MCP over stdio failed")?;
    Ok(ExitCode::SUCCESS)
}
