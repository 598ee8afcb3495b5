//! `fusion mcp`: Fusion's MCP server on stdin/stdout until the client closes stdin; `fusion mcp
//! status` (the child servers' health, then exit) and `fusion mcp import` (desktop clients'
//! `mcpServers` files as `[[mcp.servers]]`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use fusion_mcp::hub::{ChildStatus, State};
use fusion_mcp::{Fusion, FusionMcp};
use tokio_util::sync::CancellationToken;

use super::start;
use crate::cli::{McpArgs, McpCommand};

/// How long the children get to stop when the client goes away.
const CHILDREN_STOP: Duration = Duration::from_secs(5);

pub async fn run(config_path: Option<&Path>, args: &McpArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        None => serve(config_path, args).await,
        Some(McpCommand::Status { json }) => status(config_path, *json).await,
        Some(McpCommand::Import { file, write }) => import(config_path, file, *write),
    }
}

async fn serve(config_path: Option<&Path>, args: &McpArgs) -> anyhow::Result<ExitCode> {
    // A bad --root-dir fails before anything starts.
    let trail = match &args.root_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--root-dir: cannot create {}", dir.display()))?;
            Some(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()))
        }
        None => None,
    };
    let runtime = start(config_path).await?;
    runtime.start_health();
    // Memory freed after a burst goes back to the system (see fusion_sys::memory).
    let _trimmer = crate::trim::Trimmer::start();
    runtime
        .start_tasks()?
        .set_bench_runner(fusion_bench::task::runner());
    // Rolls up and deletes what outlived [storage]'s retentions, off the request path.
    let maintenance = fusion_core::store::Maintenance::for_runtime(&runtime);
    // SIGHUP and file changes reload the configuration and the children.
    runtime.watch_file()?;
    let hub = fusion_mcp::attach_hub(&runtime, CancellationToken::new());
    tracing::info!("serving MCP on stdio");
    let mut server = FusionMcp::new(Fusion::from_runtime(runtime.clone())).with_hub(hub);
    if let Some(every) = args.reindex_every {
        server = server.with_code_reindex(every);
    }
    if let Some(dir) = trail {
        server = server.with_run_trail(dir);
    }
    let served = fusion_mcp::serve_stdio(server).await;
    drop(maintenance);
    // Tasks, children (closed, then killed), health probes, then the usage rows and the store.
    runtime.shutdown().await;
    served.context("MCP over stdio failed")?;
    Ok(ExitCode::SUCCESS)
}

async fn status(config_path: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let loaded = fusion_core::config::load(config_path)?.context(
        "no config file: `fusion mcp status` reports the [[mcp.servers]] of fusion.toml",
    )?;
    let config = loaded.config;
    if config.mcp.servers.iter().all(|s| !s.enabled) {
        bail!(
            "{}: no enabled [[mcp.servers]] to report on",
            loaded.source.display()
        );
    }
    let hub = fusion_mcp::start_hub(&config, CancellationToken::new());
    hub.wait_started(config.mcp.startup_timeout).await;
    let report = hub.status();
    hub.shutdown(CHILDREN_STOP).await;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "servers": report }))?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &report)?;
    }
    let all_ready = report.iter().all(|s| s.state == State::Ready);
    Ok(if all_ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_table(out: &mut impl Write, report: &[ChildStatus]) -> std::io::Result<()> {
    let width = report
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:width$}  {:15}  {:10}  {:>5}  {:10}  error",
        "name", "transport", "state", "tools", "protocol"
    )?;
    for s in report {
        writeln!(
            out,
            "{:width$}  {:15}  {:10}  {:>5}  {:10}  {}",
            s.name,
            s.transport,
            s.state.as_str(),
            s.tools,
            s.protocol_version.as_deref().unwrap_or("-"),
            s.last_error.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

fn import(config_path: Option<&Path>, file: &Path, write: bool) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    // The config the servers join: --config, else ./fusion.toml (it may not exist yet).
    let target = config_path.map_or_else(|| PathBuf::from("fusion.toml"), Path::to_path_buf);
    let current = std::fs::read_to_string(&target).ok();
    let existing = match &current {
        Some(current) => Some(
            fusion_core::config::check_toml(current, &target)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        None => None,
    };
    let (names, separator) = match &existing {
        Some(config) => (
            config.mcp.servers.iter().map(|s| s.name.clone()).collect(),
            config.mcp.separator.clone(),
        ),
        None => (
            Vec::new(),
            fusion_core::config::McpConfig::default().separator,
        ),
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let imported = fusion_core::config::import_mcp_servers(&text, &names, &separator)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    for warning in &imported.warnings {
        eprintln!("fusion: {}: {warning}", file.display());
    }
    if imported.servers.is_empty() {
        bail!("{}: no MCP servers to import", file.display());
    }
    let toml = fusion_core::config::render_mcp_servers(&imported.servers)
        .map_err(|e| anyhow::anyhow!(e))?;
    if !write {
        let mut out = std::io::stdout().lock();
        write!(out, "{toml}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut merged = current.unwrap_or_default();
    if !merged.is_empty() && !merged.ends_with('\n') {
        merged.push('\n');
    }
    merged.push('\n');
    merged.push_str(&toml);
    // Check the result before touching the file: a bad merge must not lose the old config.
    fusion_core::config::check_toml(&merged, &target)
        .map_err(|e| anyhow::anyhow!("the merged config would be invalid: {e}"))?;
    std::fs::write(&target, merged)
        .with_context(|| format!("cannot write {}", target.display()))?;
    eprintln!(
        "fusion: added {} MCP server(s) to {}",
        imported.servers.len(),
        target.display()
    );
    Ok(ExitCode::SUCCESS)
}
