//! `fusion bench`: run benchmark suites over models (`run.rs`; `fusion bench` alone runs) and
//! write their reports (`report.rs`). The work itself is `fusion_bench`'s.

pub mod report;
pub mod run;

use std::path::Path;
use std::process::ExitCode;

/// `fusion bench [run options] | fusion bench report ...`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    #[command(flatten)]
    pub run: run::RunArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Run suites over models (the same as `fusion bench` with these options).
    Run(run::RunArgs),
    /// Write the reports of the results in the store: Markdown, JSON and SVG charts.
    Report(report::ReportArgs),
}

pub async fn run(config: Option<&Path>, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        None => run::run(config, &args.run).await,
        Some(BenchCommand::Run(run_args)) => run::run(config, run_args).await,
        Some(BenchCommand::Report(report_args)) => report::run(config, report_args).await,
    }
}
