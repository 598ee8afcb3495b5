//! `fusion bench run` (being written).

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {}

pub async fn run(_config: Option<&Path>, _args: &RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("fusion bench is being written")
}
