//! `fusion usage`: the usage ledger's totals by model, provider and day.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use fusion_core::store::{UsageFilter, UsageGroup, UsageTotals, now_ms};

use super::start;
use crate::cli::UsageArgs;

pub async fn run(config_path: Option<&Path>, args: &UsageArgs) -> anyhow::Result<ExitCode> {
    let runtime = start(config_path).await?;
    let filter = UsageFilter {
        since_ms: args
            .since
            .map(|d| now_ms() - i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        model: args.model.clone(),
        provider: args.provider.clone(),
        ..UsageFilter::default()
    };
    let report = match runtime.require_store() {
        Ok(store) => store.usage_report(&filter).await,
        Err(e) => Err(e),
    };
    runtime.shutdown().await;
    let report = report?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if report.total.calls == 0 {
        writeln!(out, "no model calls recorded yet")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "total: {}", line(&report.total))?;
    for (title, groups) in [
        ("by model", &report.by_model),
        ("by provider", &report.by_provider),
        ("by day", &report.by_day),
    ] {
        writeln!(out, "\n{title}:")?;
        for UsageGroup { key, totals } in groups {
            writeln!(out, "  {key:<36} {}", line(totals))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn line(t: &UsageTotals) -> String {
    let estimated = if t.estimated_calls > 0 {
        format!(" ({} estimated)", t.estimated_calls)
    } else {
        String::new()
    };
    format!(
        "{} calls ({} failed), {} tokens in / {} out{estimated}, ${:.4}, avg {:.0} ms",
        t.calls, t.failed_calls, t.tokens_in, t.tokens_out, t.cost_usd, t.avg_latency_ms
    )
}
