//! `fusion bench report` (being written).

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {}

pub async fn run(_config: Option<&Path>, _args: &ReportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("fusion bench report is being written")
}
