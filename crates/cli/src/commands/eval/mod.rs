//! `fusion eval council` (`council.rs`) and `fusion eval routing` (`routing.rs`): what the
//! council and the router are worth, measured on fixed evidence. The work is `fusion_bench`'s.

pub mod council;
pub mod routing;

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Hidden-issue detection on build reports: a checker prompt, a single reviewer, a council
    /// of diverse members and one of a single model, graded per issue; with the checker's
    /// confidence against its detection.
    Council(council::CouncilArgs),
    /// The router replayed over known per-task outcomes at a sweep of priorities and
    /// thresholds: its cost–quality curve, APGR and the cost of 95% of the strongest model's
    /// quality, beside always-cheapest, always-strongest, random and the oracle.
    Routing(routing::RoutingArgs),
}

pub async fn run(config: Option<&Path>, command: &EvalCommand) -> anyhow::Result<ExitCode> {
    match command {
        EvalCommand::Council(args) => council::run(config, args).await,
        EvalCommand::Routing(args) => routing::run(config, args).await,
    }
}
