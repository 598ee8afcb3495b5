//! `fusion mcp`: Fusion's MCP server on stdin/stdout, until the client closes stdin.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use fusion_core::providers::ProviderRegistry;
use fusion_mcp::{Fusion, FusionMcp};

use super::resolve;

pub async fn run(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let resolved = resolve(config_path).await?;
    let registry = ProviderRegistry::from_config(&resolved.config)?;
    let fusion = Fusion::new(Arc::new(resolved.config), Arc::new(registry));
    tracing::info!("serving MCP on stdio");
    fusion_mcp::serve_stdio(FusionMcp::new(fusion))
        .await
        .context("MCP over stdio failed")?;
    Ok(ExitCode::SUCCESS)
}
