//! `fusion config check`: validate the configuration and print it resolved, secrets masked;
//! `fusion config import`: convert the replaced router's `.env` into a `fusion.toml`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use fusion_core::providers::ProviderRegistry;

use super::{Origin, resolve};
use crate::cli::ConfigImportArgs;

pub async fn check(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let resolved = resolve(path).await?;
    // Building the registry also checks what only backends know (headers, URLs).
    ProviderRegistry::from_config(&resolved.config)?;
    let mut err = std::io::stderr().lock();
    match &resolved.origin {
        Origin::File(file) => writeln!(err, "config OK: {}", file.display())?,
        Origin::Environment(names) => writeln!(
            err,
            "no config file; the routing server's settings from the environment ({})",
            names.join(", ")
        )?,
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

/// Converts the `.env` file (see `fusion config import --help`): the config on stdout or in
/// `--output`, what was left out on stderr.
pub fn import(args: &ConfigImportArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.display();
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {file}"))?;
    let imported = fusion_core::config::import_router_env(&text)
        .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    match &args.output {
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true);
            if args.force {
                options.create(true).truncate(true);
            } else {
                options.create_new(true);
            }
            let opened = options.open(path);
            let mut out = match opened {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    bail!("{} exists; pass --force to overwrite it", path.display())
                }
                other => other.with_context(|| format!("cannot write {}", path.display()))?,
            };
            out.write_all(imported.toml.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => std::io::stdout()
            .lock()
            .write_all(imported.toml.as_bytes())?,
    }
    let mut err = std::io::stderr().lock();
    for note in &imported.notes {
        writeln!(err, "fusion: note: {note}")?;
    }
    for key in &imported.unmapped {
        writeln!(err, "fusion: {file}:{}: {key}", key.line)?;
    }
    for value in &imported.unused {
        writeln!(
            err,
            "fusion: {file}:{}: {} (value not used)",
            value.line, value
        )?;
    }
    let target = match &args.output {
        Some(path) => format!("wrote {}", path.display()),
        None => "printed the config".to_owned(),
    };
    writeln!(
        err,
        "fusion: {target}: {} provider(s); {} key(s) with no equivalent, {} value(s) not used",
        imported.config.providers.len(),
        imported.unmapped.len(),
        imported.unused.len()
    )?;
    Ok(ExitCode::SUCCESS)
}
