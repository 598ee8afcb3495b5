//! `fusion bench [run]`: runs benchmark suites (`--suite builtin`, `builtin:KIND` or a suite
//! file, repeatable) over models (`--models`, else every healthy local or free model), with
//! progress on stderr (bars on a terminal, one line per finished call otherwise), then prints
//! per model and category the count, quality with its 95% interval, p50 latency, tokens per
//! second and cost, and the run id (`--json`: the summary as JSON on stdout). Ctrl-C (or
//! SIGTERM) stops it: the run is marked interrupted and `--resume RUN_ID` continues it. Exit
//! codes: 0 done, 1 every call failed (or the store failed), 2 usage or configuration error,
//! 130 interrupted.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use fusion_bench::run::{
    BenchSpec, Progress, RunStatus, RunSummary, default_models, new_run_id, run_bench, stored_spec,
};
use fusion_bench::stats::ModelCategoryStats;
use fusion_bench::suite::{self, Suite, SuiteSource};
use fusion_core::providers::{ProviderRegistry, as_caller};
use fusion_core::runtime::Runtime;
use fusion_core::store::{BenchResultRow, Caller};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::commands::start;

/// Exit code of an interrupted run (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Fusion model ids, comma-separated (an unknown id is an error listing the known ones).
    /// Default: every local or free model whose provider answers a probe; paid models run only
    /// when named here.
    #[arg(long, value_delimiter = ',', value_name = "M1,M2")]
    pub models: Vec<String>,
    /// Which tasks: `builtin` (every built-in suite), `builtin:code`, `builtin:extraction`,
    /// `builtin:reasoning`, `builtin:summarization`, or a suite file (.toml in the built-in
    /// format, or .jsonl with one task per line). Repeatable. Default: builtin.
    #[arg(long = "suite", value_name = "SUITE")]
    pub suites: Vec<String>,
    /// How many times each model answers each task [default: 1].
    #[arg(long, value_name = "N")]
    pub runs_per_task: Option<u32>,
    /// Calls in flight at once [default: 2].
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
    /// Longest one call may take; a slower one is recorded as failed [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Most tokens one answer may take [default: 4096]; a model that rambles past it is cut.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    pub max_tokens: Option<u32>,
    /// Continue an interrupted run with its own models, suites and runs per task (what it
    /// recorded is not asked again).
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["models", "suites", "runs_per_task"])]
    pub resume: Option<String>,
    /// Print the run's summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: Option<&Path>, args: &RunArgs) -> anyhow::Result<ExitCode> {
    // Suites are read before anything starts: a malformed one costs no probe and no call.
    let suites = match &args.resume {
        Some(_) => Vec::new(),
        None => load_suites(&args.suites)?,
    };
    let runtime = start(config).await?;
    let outcome = bench(&runtime, args, suites).await;
    runtime.shutdown().await;
    outcome
}

/// The suites `--suite` names (default: every built-in one), each once.
fn load_suites(names: &[String]) -> anyhow::Result<Vec<Suite>> {
    let names = if names.is_empty() {
        vec!["builtin".to_owned()]
    } else {
        names.to_vec()
    };
    let mut seen = HashSet::new();
    let mut suites = Vec::new();
    for name in &names {
        let source: SuiteSource = name.parse()?;
        for suite in suite::load(&source)? {
            if seen.insert(suite.name.clone()) {
                suites.push(suite);
            }
        }
    }
    Ok(suites)
}

async fn bench(runtime: &Runtime, args: &RunArgs, suites: Vec<Suite>) -> anyhow::Result<ExitCode> {
    let now = runtime.snapshot();
    let registry = &now.registry;
    let store = runtime
        .require_store()
        .context("benchmark results are kept in the store")?;
    let (mut spec, run_id) = match &args.resume {
        Some(run_id) => (stored_spec(store, run_id).await?, run_id.clone()),
        None => {
            let models = if args.models.is_empty() {
                let found = default_models(registry).await;
                if found.is_empty() {
                    anyhow::bail!(
                        "no model to benchmark: no local or free model answered a probe; name \
                         models with --models (paid ones run only when named)"
                    );
                }
                found
            } else {
                args.models.iter().map(|m| m.trim().to_owned()).collect()
            };
            let mut spec = BenchSpec::new(models, suites);
            spec.runs_per_task = args.runs_per_task.unwrap_or(spec.runs_per_task);
            if args.max_tokens.is_some() {
                spec.max_tokens = args.max_tokens;
            }
            (spec, new_run_id())
        }
    };
    spec.parallel = args.parallel.unwrap_or(spec.parallel);
    spec.timeout = args.timeout.unwrap_or(spec.timeout);
    discover_if_unknown(registry, &spec.models).await;
    spec.check(registry)?;

    let cancel = CancellationToken::new();
    let signals = tokio::spawn(interrupt_on_signal(cancel.clone()));
    let display = Display::new();
    let outcome = as_caller(
        Caller::Cli,
        run_bench(registry, store, &spec, &run_id, &cancel, |p| {
            display.show(&p)
        }),
    )
    .await;
    signals.abort();
    display.finish();
    let summary = match outcome {
        Ok(summary) => summary,
        Err(e) if e.is_usage() => return Err(e.into()),
        Err(e) => {
            eprintln!("fusion: error: benchmark run {run_id}: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    print_summary(&summary, args.json)?;
    Ok(match summary.status {
        RunStatus::Completed | RunStatus::Running => ExitCode::SUCCESS,
        RunStatus::Failed => {
            eprintln!(
                "fusion: every call of run {} failed (see the errors above)",
                summary.run_id
            );
            ExitCode::from(1)
        }
        RunStatus::Interrupted => {
            eprintln!(
                "fusion: interrupted; continue with: fusion bench --resume {}",
                summary.run_id
            );
            ExitCode::from(EXIT_INTERRUPTED)
        }
    })
}

/// Models the registry does not know yet may be served by a local provider: ask them once.
async fn discover_if_unknown(registry: &ProviderRegistry, models: &[String]) {
    let unknown = models.iter().any(|m| registry.model(m).is_none());
    if unknown && registry.router_config().discover {
        registry.discover().await;
    }
}

/// Cancels `cancel` on Ctrl-C or SIGTERM.
async fn interrupt_on_signal(cancel: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            if result.is_err() {
                return;
            }
        }
        () = terminate => {}
    }
    cancel.cancel();
}

/// Progress on stderr: a bar on a terminal, else one line per finished call.
enum Display {
    Bar(ProgressBar),
    Lines(Instant),
}

impl Display {
    fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::Lines(Instant::now());
        }
        let style = ProgressStyle::with_template(
            "{spinner:.cyan} [{bar:30.cyan/blue}] {pos}/{len} {elapsed:>4} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar =
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::Bar(bar)
    }

    fn show(&self, progress: &Progress) {
        match (self, progress) {
            (
                Self::Bar(bar),
                Progress::Started {
                    run_id,
                    total,
                    recorded,
                },
            ) => {
                bar.set_length(*total as u64);
                bar.set_position(*recorded as u64);
                bar.set_message(format!("run {run_id}"));
            }
            (Self::Bar(bar), Progress::Finished { result, done, .. }) => {
                bar.set_position(*done as u64);
                bar.set_message(outcome(result));
            }
            (
                Self::Lines(started),
                Progress::Started {
                    run_id,
                    total,
                    recorded,
                },
            ) => {
                let resumed = if *recorded > 0 {
                    format!(", {recorded} recorded already")
                } else {
                    String::new()
                };
                line(started, &format!("run {run_id}: {total} calls{resumed}"));
            }
            (
                Self::Lines(started),
                Progress::Finished {
                    result,
                    done,
                    total,
                },
            ) => {
                line(started, &format!("{done}/{total} {}", outcome(result)));
            }
        }
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn line(started: &Instant, text: &str) {
    let secs = started.elapsed().as_secs_f64();
    let _ = writeln!(std::io::stderr().lock(), "[bench {secs:>6.1}s] {text}");
}

/// One finished call, in a few words.
fn outcome(row: &BenchResultRow) -> String {
    let head = format!("{} {} #{}", row.model, row.task_id, row.attempt);
    match &row.error {
        Some(error) => format!(
            "{head}: failed: {}",
            error.lines().next().unwrap_or_default()
        ),
        None => format!(
            "{head}: score {:.2} in {}",
            row.score,
            seconds(row.latency_ms as f64)
        ),
    }
}

fn print_summary(summary: &RunSummary, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, summary)?;
        writeln!(out)?;
        return Ok(out.flush()?);
    }
    writeln!(
        out,
        "run {} {}: {} calls ({} now, {} recorded before), {} failed; suites {}",
        summary.run_id,
        summary.status.as_str(),
        summary.total,
        summary.ran,
        summary.recorded_before,
        summary.failed,
        summary.suites
    )?;
    out.write_all(table(&summary.stats).as_bytes())?;
    Ok(out.flush()?)
}

/// A latency: milliseconds under a second, else seconds.
fn seconds(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.1}s", ms / 1000.0)
    }
}

/// The model × category table, columns sized to their content.
fn table(stats: &[ModelCategoryStats]) -> String {
    let header = [
        "model", "category", "n", "quality", "95% CI", "p50", "tok/s", "cost", "errors",
    ];
    let mut rows: Vec<[String; 9]> = vec![header.map(str::to_owned)];
    for s in stats {
        rows.push([
            s.model.clone(),
            s.category.clone(),
            s.n.to_string(),
            if s.n > 0 {
                format!("{:.2}", s.quality)
            } else {
                "-".into()
            },
            if s.n > 0 {
                format!("{:.2}-{:.2}", s.ci_low, s.ci_high)
            } else {
                "-".into()
            },
            s.p50_latency_ms.map_or_else(|| "-".into(), seconds),
            s.tokens_per_s
                .map_or_else(|| "-".into(), |t| format!("{t:.0}")),
            format!("${:.4}", s.cost_usd),
            s.errors.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, width))| {
                // Text left, numbers right.
                if c < 2 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}
