//! `fusion loop`: one deliberation round of the loop checker over an objective and a run state
//! (a JSON file the user gives with `--state`, or a stored run's trail with `--run`), printing
//! the conductor's decision and the next prompt; and `fusion loop status|list|export`, which
//! read the build/check gate's durable runs from the store. `--run-dir` also writes the round
//! as files, the trail the council project's `looped --runDir` left.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use fusion_core::ErrorKind;
use fusion_core::providers::as_caller;
use fusion_core::store::Caller;
use fusion_looped::{LoopRuns, Round, RunState, export_run};

use super::{ConfigFor, start_for};
use crate::cli::{LoopArgs, LoopCommand};

/// Largest objective read from stdin, and largest state file.
const MAX_INPUT_BYTES: u64 = 1024 * 1024;

pub async fn run(config_path: Option<&Path>, args: &LoopArgs) -> anyhow::Result<ExitCode> {
    let runtime = start_for(config_path, ConfigFor::Loop).await?;
    let now = runtime.snapshot();
    let store = runtime.require_store()?;
    let runs = LoopRuns::new(store, &now.registry, &now.config);
    let outcome = as_caller(Caller::Cli, async {
        match &args.command {
            Some(LoopCommand::Status { run, json }) => status(&runs, run, *json).await,
            Some(LoopCommand::List { limit, json }) => list(&runs, *limit, *json).await,
            Some(LoopCommand::Export { run, dir }) => export(&runs, run, dir).await,
            None => round(&runs, args).await,
        }
    })
    .await;
    runtime.shutdown().await;
    match outcome {
        Err(err) => match err.downcast_ref::<fusion_core::Error>().map(|e| e.kind()) {
            Some(ErrorKind::LoopRunNotFound { .. }) => {
                eprintln!("fusion: {err}");
                Ok(ExitCode::from(1))
            }
            _ => Err(err),
        },
        ok => ok,
    }
}

async fn round(runs: &LoopRuns<'_>, args: &LoopArgs) -> anyhow::Result<ExitCode> {
    // The trail directory is made before the round runs: a bad --run-dir costs no model call.
    let trail = match &args.run_dir {
        Some(dir) => Some(trail_dir(
            dir,
            args.run_id.as_deref().or(args.run.as_deref()),
        )?),
        None => None,
    };
    let round = match &args.run {
        Some(run_id) => {
            if let Some(objective) = args.objective.as_deref().filter(|o| *o != "-") {
                let run = runs.run(run_id).await?;
                if objective.trim() != run.objective {
                    bail!(
                        "run `{run_id}` has the frozen objective {:?}; leave OBJECTIVE out with \
                         --run",
                        run.objective
                    );
                }
            }
            runs.deliberate(run_id, args.step).await?
        }
        None => {
            let objective = read_objective(args.objective.as_deref())?;
            let mut state = match &args.state {
                Some(path) => read_state(path)?,
                None => RunState::default(),
            };
            if args.step.is_some() {
                state.step = args.step;
            }
            if args.heartbeat.is_some() {
                state.heartbeat = args.heartbeat;
            }
            runs.deliberate_state(objective.trim(), state).await
        }
    };
    if let Some(dir) = &trail {
        write_trail(dir, &round)?;
    }
    for reason in &round.decision.degradation_reasons {
        eprintln!("fusion: note: {reason}");
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &round)?;
        writeln!(out)?;
    } else {
        print_round(&mut out, &round)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `DIR/artifacts/pi-fusion/ID`, created; ID defaults to `loop-<unix seconds>`.
fn trail_dir(dir: &Path, run_id: Option<&str>) -> anyhow::Result<PathBuf> {
    let id = match run_id {
        Some(id) => id.to_owned(),
        None => {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("loop-{secs}")
        }
    };
    let path = dir.join("artifacts").join("pi-fusion").join(id);
    std::fs::create_dir_all(&path)
        .with_context(|| format!("--run-dir: cannot create {}", path.display()))?;
    Ok(path)
}

/// `step-N.json` (the whole round) and `next-prompt-N.md` in the trail directory.
fn write_trail(dir: &Path, round: &Round) -> anyhow::Result<()> {
    let step = round.step;
    let json = dir.join(format!("step-{step}.json"));
    let text = serde_json::to_string_pretty(round)?;
    std::fs::write(&json, text).with_context(|| format!("cannot write {}", json.display()))?;
    let prompt = dir.join(format!("next-prompt-{step}.md"));
    std::fs::write(&prompt, &round.decision.next_prompt)
        .with_context(|| format!("cannot write {}", prompt.display()))?;
    eprintln!("fusion: wrote the round to {}", dir.display());
    Ok(())
}

fn print_round(out: &mut impl Write, round: &Round) -> std::io::Result<()> {
    let decision = &round.decision;
    writeln!(out, "status: {}", decision.status.as_str())?;
    if let Some(health) = &decision.health {
        writeln!(
            out,
            "health: {} (computed {})",
            health.verdict.as_str(),
            health.computed.as_str()
        )?;
    }
    if let Some(run_id) = &round.run_id {
        writeln!(
            out,
            "run: {run_id} (decision {})",
            round.decision_seq.unwrap_or(0)
        )?;
    }
    for (title, items) in [
        ("reasons", &decision.reasons),
        ("consensus", &decision.consensus),
        ("risk flags", &decision.risk_flags),
        ("evidence required", &decision.evidence_required),
    ] {
        if !items.is_empty() {
            writeln!(out, "{title}:")?;
            for item in items {
                writeln!(out, "- {item}")?;
            }
        }
    }
    if !decision.stop_condition.is_empty() {
        writeln!(out, "stop condition: {}", decision.stop_condition)?;
    }
    if !decision.next_prompt.is_empty() {
        writeln!(out, "\nnext prompt:\n{}", decision.next_prompt)?;
    }
    Ok(())
}

fn read_objective(arg: Option<&str>) -> anyhow::Result<String> {
    let objective = match arg {
        Some(text) if text != "-" => text.to_owned(),
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("no objective: pass it as an argument (fusion loop \"...\") or on stdin");
            }
            let mut text = String::new();
            stdin
                .lock()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_string(&mut text)
                .context("reading the objective from stdin")?;
            if text.len() as u64 > MAX_INPUT_BYTES {
                bail!("the objective on stdin is larger than {MAX_INPUT_BYTES} bytes");
            }
            text
        }
    };
    if objective.trim().is_empty() {
        bail!("the objective is empty");
    }
    Ok(objective)
}

fn read_state(path: &Path) -> anyhow::Result<RunState> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read the state file {}", path.display()))?
        .len();
    if size > MAX_INPUT_BYTES {
        bail!(
            "the state file {} is larger than {MAX_INPUT_BYTES} bytes",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the state file {}", path.display()))?;
    RunState::from_json(&text)
        .map_err(|e| anyhow::anyhow!("{}: invalid run state: {e}", path.display()))
}

async fn status(runs: &LoopRuns<'_>, run_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let view = runs.status(run_id).await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &view)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let run = &view.run;
    writeln!(out, "run {} is {}", run.run_id, run.status)?;
    writeln!(out, "objective: {}", run.objective)?;
    for criterion in &run.acceptance_criteria {
        writeln!(out, "- {criterion}")?;
    }
    writeln!(
        out,
        "{} report(s), {} check(s), {} review(s), {} decision(s); health {}",
        view.reports,
        view.checks,
        view.reviews,
        view.decisions,
        view.health.verdict.as_str()
    )?;
    if let Some(check) = &view.latest_check {
        writeln!(
            out,
            "latest check: {} (confidence {:.2}) → {}",
            check.record.status.as_str(),
            check.record.confidence,
            check.record.recommended_route.as_str()
        )?;
    }
    if let Some(next) = &view.latest_next {
        writeln!(
            out,
            "latest decision: {} {}",
            next.record.status.as_str(),
            next.record.reason()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(runs: &LoopRuns<'_>, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    let list = runs.list(limit).await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "runs": list }))?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        writeln!(out, "no loop runs")?;
    }
    for run in &list {
        writeln!(
            out,
            "{}  {:15}  {}",
            run.run_id,
            run.status.as_str(),
            run.objective.lines().next().unwrap_or("")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(runs: &LoopRuns<'_>, run_id: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    let exported = export_run(runs, run_id, dir).await?;
    eprintln!(
        "fusion: wrote {} files of run {} to {}",
        exported.files.len(),
        exported.run_id,
        exported.dir.display()
    );
    let mut out = std::io::stdout().lock();
    for file in &exported.files {
        writeln!(out, "{}", exported.dir.join(file).display())?;
    }
    Ok(ExitCode::SUCCESS)
}
