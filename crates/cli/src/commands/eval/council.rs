//! `fusion eval council` (being written).

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct CouncilArgs {}

pub async fn run(_config: Option<&Path>, _args: &CouncilArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("fusion eval council is being written")
}
