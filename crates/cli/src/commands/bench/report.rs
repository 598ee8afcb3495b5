//! `fusion bench report`: reads benchmark runs and their results from the store (every
//! benchmark run, or `--run` ones, or those of the last `--since`), builds
//! `fusion_bench::report` over them and writes `report.md`, `report.json` and `charts/*.svg`
//! into `--out`; prints the files written and the summary table.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use fusion_bench::report::{self, Chart, Report, ReportOptions};
use fusion_core::store::{BenchResultRow, BenchRunRow, Store, now_ms};

use crate::commands::start;

/// `--run` ids at most.
const MAX_RUN_ARGS: usize = 200;
/// Runs read from the store when no `--run` is given (the newest).
const MAX_RUNS_LISTED: u32 = 1000;
/// Result rows in one report at most.
const MAX_RESULTS: usize = 500_000;
/// The charts directory inside `--out`.
const CHARTS_DIR: &str = "charts";

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Only this run (repeat for more). Default: every benchmark run in the store (the council
    /// eval's `eval:` runs are left out unless named here).
    #[arg(long = "run", value_name = "ID")]
    pub runs: Vec<String>,

    /// Only runs started in the last DURATION (`24h`, `7d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<Duration>,

    /// Where to write report.md, report.json and charts/*.svg (created when missing).
    #[arg(long, value_name = "DIR", default_value = "fusion-bench-report")]
    pub out: PathBuf,
}

fn parse_since(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (write it like 24h or 7d)"))
}

pub async fn run(config: Option<&Path>, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    if args.runs.len() > MAX_RUN_ARGS {
        anyhow::bail!(
            "--run is given {} times; at most {MAX_RUN_ARGS} runs go in one report",
            args.runs.len()
        );
    }
    if let Some(id) = args.runs.iter().find(|id| id.trim().is_empty()) {
        anyhow::bail!("--run `{id}`: a run id cannot be empty");
    }
    let runtime = start(config).await?;
    let read = match runtime.require_store() {
        Ok(store) => read(store, args).await,
        Err(e) => Err(e.into()),
    };
    runtime.shutdown().await;
    let (runs, rows) = read?;
    if rows.is_empty() {
        let scope = match (args.runs.is_empty(), args.since) {
            (false, _) => " for the runs given",
            (true, Some(_)) => " in the --since window",
            (true, None) => "",
        };
        eprintln!(
            "fusion: no benchmark results in the store{scope} ({} run{} looked at); run \
             `fusion bench` first",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::from(1));
    }
    let out = args.out.clone();
    let written = tokio::task::spawn_blocking(move || {
        let report = report::report(
            &rows,
            &runs,
            ReportOptions {
                generated_ms: now_ms(),
                charts_dir: CHARTS_DIR.to_owned(),
                ..ReportOptions::default()
            },
        );
        let charts = report.charts()?;
        let paths = write(&out, &report, &charts)?;
        anyhow::Ok((report, paths))
    })
    .await
    .context("the report's writer stopped")?;
    let (report, paths) = written?;
    let mut stdout = std::io::stdout().lock();
    for path in &paths {
        writeln!(stdout, "wrote {}", path.display())?;
    }
    writeln!(stdout)?;
    write!(stdout, "{}", report.summary_table())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The runs chosen and their results.
async fn read(
    store: &Store,
    args: &ReportArgs,
) -> anyhow::Result<(Vec<BenchRunRow>, Vec<BenchResultRow>)> {
    let mut runs = Vec::new();
    if args.runs.is_empty() {
        runs = store.bench_runs(MAX_RUNS_LISTED).await?;
        runs.retain(|run| !is_eval_run(run));
    } else {
        for id in &args.runs {
            let run = store.bench_run(id).await?.with_context(|| {
                format!("no benchmark run `{id}` in the store (see the ids `fusion bench` prints)")
            })?;
            if !runs.iter().any(|r: &BenchRunRow| r.id == run.id) {
                runs.push(run);
            }
        }
    }
    if let Some(since) = args.since {
        let cutoff = now_ms().saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
        runs.retain(|run| run.created_ms >= cutoff);
    }
    let mut rows = Vec::new();
    for run in &runs {
        rows.extend(store.bench_results(Some(&run.id)).await?);
        if rows.len() > MAX_RESULTS {
            anyhow::bail!(
                "more than {MAX_RESULTS} benchmark results in these runs; choose fewer with \
                 --run ID or --since DURATION"
            );
        }
    }
    Ok((runs, rows))
}

/// A council or routing evaluation's run (its suites are all `eval:...`), not a benchmark.
fn is_eval_run(run: &BenchRunRow) -> bool {
    let mut suites = run
        .suites
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty());
    suites.clone().next().is_some() && suites.all(|s| s.starts_with("eval:"))
}

/// Writes the report into `out`; returns the files written. Charts a previous report left in
/// `out/charts` that this one does not draw are removed, so the directory shows one report.
fn write(out: &Path, report: &Report, charts: &[Chart]) -> anyhow::Result<Vec<PathBuf>> {
    let charts_dir = out.join(CHARTS_DIR);
    std::fs::create_dir_all(&charts_dir)
        .with_context(|| format!("cannot create --out {}", charts_dir.display()))?;
    let mut written = Vec::new();
    let mut put = |path: PathBuf, text: &str| {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        anyhow::Ok(())
    };
    put(out.join("report.md"), &report.to_markdown())?;
    put(out.join("report.json"), &report.to_json())?;
    for chart in charts {
        put(charts_dir.join(&chart.file), &chart.svg)?;
    }
    remove_stale_charts(&charts_dir, charts);
    Ok(written)
}

fn remove_stale_charts(dir: &Path, charts: &[Chart]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten().take(10_000) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("quality-") && name.ends_with(".svg");
        if ours
            && !charts.iter().any(|c| c.file == name)
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(
                "cannot remove the old chart {}: {e}",
                entry.path().display()
            );
        }
    }
}
