//! `fusion eval routing` (being written).

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct RoutingArgs {}

pub async fn run(_config: Option<&Path>, _args: &RoutingArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("fusion eval routing is being written")
}
