//! `fusion models`: every model the registry knows, with where it came from, its tier,
//! context window, price, health, p50 latency and benchmark-measured quality per category,
//! after one probe of every provider; and
//! `fusion models sync NAME`, which imports a provider's catalog into the store.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use fusion_core::providers::ProviderRegistry;

use super::start;
use crate::cli::{ModelsArgs, ModelsCommand};

pub async fn run(config_path: Option<&Path>, args: &ModelsArgs) -> anyhow::Result<ExitCode> {
    let runtime = start(config_path).await?;
    let registry = runtime.registry();
    let outcome = match &args.command {
        None => list(&registry, args.json).await,
        Some(ModelsCommand::Sync { name, free_only }) => sync(&registry, name, *free_only).await,
    };
    runtime.shutdown().await;
    outcome
}

async fn list(registry: &ProviderRegistry, json: bool) -> anyhow::Result<ExitCode> {
    registry.probe_all(Duration::from_secs(2)).await;
    let discovered = if registry.router_config().discover {
        registry.discover().await
    } else {
        Vec::new()
    };
    let (providers, models) = registry.status();
    let mut out = std::io::stdout().lock();
    if json {
        let listing_errors: Vec<_> = discovered
            .iter()
            .filter_map(|(name, r)| r.as_ref().err().map(|e| (name, e.to_string())))
            .collect();
        let body = serde_json::json!({
            "providers": providers,
            "models": models,
            "listing_errors": listing_errors.into_iter().map(|(n, e)| serde_json::json!({"provider": n, "error": e})).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut out, &body)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "providers:")?;
    for p in &providers {
        let probe = match &p.last_probe {
            Some(probe) if probe.reachable => "reachable".to_owned(),
            Some(probe) => format!(
                "unreachable: {}",
                probe.error.as_deref().unwrap_or("no answer")
            ),
            None => "not probed".to_owned(),
        };
        writeln!(
            out,
            "  {:<20} {:<9} {:<5} {:>4} models  {probe}",
            p.name,
            format!("{:?}", p.kind).to_lowercase(),
            p.tier.as_str(),
            p.models
        )?;
    }
    writeln!(out, "models:")?;
    for m in &models {
        let e = &m.entry;
        let ctx = e
            .context_window
            .map_or_else(|| "-".to_owned(), |c| c.to_string());
        let price = match e.price {
            _ if e.tier != fusion_core::config::Tier::Paid => "$0".to_owned(),
            Some(p) => format!("${}/${} per Mtok", p.input_per_mtok, p.output_per_mtok),
            None if m.price_unknown => "price unknown".to_owned(),
            None => "no price".to_owned(),
        };
        let p50 = m
            .stats
            .latency_p50_ms
            .map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
        let health = serde_json::to_value(m.health)
            .ok()
            .and_then(|v| v["state"].as_str().map(str::to_owned))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<36} {:<5} {:<10} ctx {:>7}  {:<22} {:<12} p50 {p50}",
            e.id,
            e.tier.as_str(),
            format!("{:?}", e.source).to_lowercase(),
            ctx,
            price,
            health
        )?;
        if !m.measured.is_empty() {
            let by_category: Vec<String> = m
                .measured
                .iter()
                .map(|(category, q)| format!("{category} {:.2} (n={})", q.quality, q.n))
                .collect();
            writeln!(out, "      measured: {}", by_category.join(", "))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn sync(
    registry: &ProviderRegistry,
    provider: &str,
    free_only: bool,
) -> anyhow::Result<ExitCode> {
    let sync = registry
        .sync_catalog(provider, free_only)
        .await
        .with_context(|| format!("syncing the catalog of `{provider}`"))?;
    let rows = &sync.rows;
    let free = rows.iter().filter(|m| m.free).count();
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "synced {} models of `{provider}` ({free} free, {} priced)",
        rows.len(),
        rows.len() - free
    )?;
    if free_only {
        write!(
            out,
            "; {} priced models skipped (--free-only)",
            sync.listed - sync.unpriced - rows.len()
        )?;
    }
    if sync.unpriced > 0 {
        write!(
            out,
            "; {} listed without prices, not imported",
            sync.unpriced
        )?;
    }
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
