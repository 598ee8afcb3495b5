//! `fusion config check`: validate the configuration and print it resolved, secrets masked.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use fusion_core::providers::ProviderRegistry;

use super::{Origin, resolve};

pub async fn check(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let resolved = resolve(path).await?;
    // Building the registry also checks what only backends know (headers, URLs).
    ProviderRegistry::from_config(&resolved.config)?;
    let mut err = std::io::stderr().lock();
    match &resolved.origin {
        Origin::File(file) => writeln!(err, "config OK: {}", file.display())?,
        Origin::Discovered(servers) => {
            writeln!(err, "no config file; zero-config discovery found:")?;
            for server in servers {
                writeln!(
                    err,
                    "  {} at {} serving {}",
                    server.target.name,
                    server.target.base_url,
                    server.models.join(", ")
                )?;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        fusion_core::config::render_masked(&resolved.config)
    )?;
    Ok(ExitCode::SUCCESS)
}
