//! The arguments of `fusion loop` (alias `looped`, with the council project's flags): one
//! deliberation round, or the stored runs' `status`, `list` and `export`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use fusion_looped::Heartbeat;

#[derive(Debug, Args)]
pub struct LoopArgs {
    #[command(subcommand)]
    pub command: Option<LoopCommand>,

    /// What the loop must achieve. Read from stdin when absent or `-` (with --run: default
    /// the run's frozen objective).
    pub objective: Option<String>,

    /// The loop's current step, from 1 (default: from the state, else 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub step: Option<u32>,

    /// A JSON run-state file: heartbeat, elapsed, expected, commands, outputs, notes (the
    /// replaced project's loopStep, recentCommands, recentMessages are read too).
    #[arg(long, value_name = "FILE", conflicts_with = "run")]
    pub state: Option<PathBuf>,

    /// A stored run (from looped_start): its state comes from its trail and the decision joins
    /// it.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,

    /// The executor's last sign of life: `fresh` (now), an age (`45s`, `20m ago`), an RFC 3339
    /// time or Unix seconds. Overrides the state file's heartbeat.
    #[arg(long, value_name = "WHEN", conflicts_with = "run", value_parser = parse_heartbeat)]
    pub heartbeat: Option<Heartbeat>,

    /// Also write the round as an artifact trail under DIR/artifacts/pi-fusion/RUN_ID/:
    /// step-N.json (the whole round) and next-prompt-N.md.
    #[arg(long, visible_alias = "runDir", value_name = "DIR")]
    pub run_dir: Option<PathBuf>,

    /// The trail's name under --run-dir (default: the --run id, else generated from the
    /// time). A stored run is --run.
    #[arg(long, visible_alias = "runId", value_name = "ID", requires = "run_dir", value_parser = parse_trail_id)]
    pub run_id: Option<String>,

    /// Print the whole round (state, views, health, decision) as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_heartbeat(text: &str) -> Result<Heartbeat, String> {
    let value = match text.trim() {
        "fresh" | "now" => return Ok(Heartbeat::Age(std::time::Duration::ZERO)),
        number if number.parse::<f64>().is_ok() => {
            serde_json::from_str::<serde_json::Value>(number)
        }
        other => Ok(serde_json::Value::String(other.to_owned())),
    };
    value
        .and_then(serde_json::from_value::<Heartbeat>)
        .map_err(|e| format!("{e}; or `fresh`"))
}

fn parse_trail_id(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 128
        && !text.starts_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a run id: use letters, digits, `-`, `_` and `.` (a directory name)"
        ))
    }
}

#[derive(Debug, Subcommand)]
pub enum LoopCommand {
    /// A run's state: status, frozen objective and criteria, counts, latest records, health.
    Status {
        /// The run id.
        run: String,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Runs, most recently updated first.
    List {
        /// Most runs to show.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u32,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a run's whole trail as files into DIR: run.json, reports/NNN.json,
    /// checks/NNN.json, reviews/NNN.json, decisions/NNN.json and a README.md summary.
    Export {
        /// The run id.
        run: String,
        /// The directory to write (created if needed).
        dir: PathBuf,
    },
}
