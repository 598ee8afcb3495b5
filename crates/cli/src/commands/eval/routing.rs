//! `fusion eval routing`: per-task, per-model outcomes — the labelled synthetic set shipped in
//! the repository, or the bench history in the store — replayed through the router at a sweep
//! of priorities and thresholds, against always-cheapest, always-strongest, random and the
//! oracle. The work is `fusion_bench::eval::routing`'s; this file loads, prints and writes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use fusion_bench::eval::routing::{self, Dataset, EvalOptions, RoutingEval, synthetic};

use crate::commands::start;

/// Where the outcomes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutcomeSource {
    /// The labelled synthetic set (crates/bench/data/routing/synthetic.toml): deterministic,
    /// no config, no store, no model calls.
    Synthetic,
    /// The bench results in the store (`fusion bench`), with the configured models' tiers and
    /// prices.
    History,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RoutingArgs {
    /// Where the per-task outcomes come from.
    #[arg(long, value_enum, default_value = "synthetic")]
    pub from: OutcomeSource,
    /// Print the whole evaluation as JSON (every sweep point) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write routing-eval.json and routing-eval.md into this directory (created if
    /// missing; those two files are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed of the synthetic set, the train/test split and the random baseline (default: the
    /// synthetic set's own, 17).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also replay policy changes not in the router today (quality per complexity band; a
    /// flat, relative or value bar) through the same decide, beside today's: about four times
    /// the work.
    #[arg(long)]
    pub simulate: bool,
}

pub async fn run(config: Option<&Path>, args: &RoutingArgs) -> anyhow::Result<ExitCode> {
    let mut options = EvalOptions {
        simulate: args.simulate,
        ..EvalOptions::default()
    };
    let dataset = match args.from {
        OutcomeSource::Synthetic => {
            let spec = synthetic::builtin_spec()?;
            let seed = args.seed.unwrap_or(spec.seed);
            options.seed = seed;
            fusion_core::cpu::off_worker(move || synthetic::generate(&spec, seed)).await
        }
        OutcomeSource::History => {
            if let Some(seed) = args.seed {
                options.seed = seed;
            }
            history(config).await?
        }
    };
    let eval = fusion_core::cpu::off_worker(move || routing::evaluate(&dataset, &options))
        .await
        .context("cannot evaluate the router on this data")?;
    if let Some(dir) = &args.out {
        write_reports(dir, &eval)?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &eval)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", routing::table(&eval))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The bench history in the store, with the models as the registry knows them.
async fn history(config: Option<&Path>) -> anyhow::Result<Dataset> {
    let runtime = start(config).await?;
    let views = runtime.registry().model_views();
    let rows = match runtime.require_store() {
        Ok(store) => store.bench_results(None).await,
        Err(e) => Err(e),
    };
    runtime.shutdown().await;
    let rows = rows.context("cannot read the bench results")?;
    Ok(routing::from_history(&rows, &views)?)
}

fn write_reports(dir: &Path, eval: &RoutingEval) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report directory {}", dir.display()))?;
    let json = dir.join("routing-eval.json");
    let md = dir.join("routing-eval.md");
    let mut text = serde_json::to_string_pretty(eval)?;
    text.push('\n');
    std::fs::write(&json, text).with_context(|| format!("cannot write {}", json.display()))?;
    std::fs::write(&md, routing::markdown(eval))
        .with_context(|| format!("cannot write {}", md.display()))?;
    eprintln!("wrote {} and {}", json.display(), md.display());
    Ok(())
}
