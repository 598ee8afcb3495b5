//! `fusion ask`: run one council on a prompt and print the answer (or the whole result with
//! `--json`), with live progress on stderr.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use fusion_core::council;
use fusion_types::CouncilStatus;

use super::start;
use crate::cli::AskArgs;
use crate::progress;

/// Largest prompt read from stdin.
const MAX_PROMPT_BYTES: u64 = 4 * 1024 * 1024;

pub async fn run(config_path: Option<&Path>, args: &AskArgs) -> anyhow::Result<ExitCode> {
    let prompt = read_prompt(args.prompt.as_deref())?;
    let runtime = start(config_path).await?;
    let now = runtime.snapshot();
    let picked = now
        .config
        .pick_council(args.council.as_deref())
        .map_err(|e| {
            // Naming a council helps only when there are councils to choose from.
            if now.config.councils.is_empty() {
                anyhow::anyhow!("{e}")
            } else {
                anyhow::anyhow!("{e} (choose with --council)")
            }
        })
        .map(str::to_owned);
    let name = match picked {
        Ok(name) => name,
        Err(e) => {
            runtime.shutdown().await;
            return Err(e);
        }
    };
    let council_config = &now.config.councils[&name];

    let (tx, display) = if args.quiet {
        (None, None)
    } else {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Some(tx), Some(tokio::spawn(progress::render(rx))))
    };
    let result = council::run(&now.registry, &name, council_config, &prompt, tx).await;
    runtime.shutdown().await;
    if let Some(display) = display {
        // The sender was moved into the council and dropped with it: the display ends.
        let _ = display.await;
    }

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &result)?;
        writeln!(out)?;
    } else {
        let mut err = std::io::stderr().lock();
        for reason in &result.degradation_reasons {
            writeln!(err, "fusion: degraded: {reason}")?;
        }
        for cut in &result.cut {
            writeln!(err, "fusion: cut: {cut}")?;
        }
        if !result.final_answer.is_empty() {
            writeln!(out, "{}", result.final_answer)?;
        }
    }
    out.flush()?;
    Ok(match result.status {
        CouncilStatus::Ok => ExitCode::SUCCESS,
        CouncilStatus::Error => {
            if !args.json {
                let mut err = std::io::stderr().lock();
                writeln!(err, "fusion: no answer: every panel member failed")?;
                for failed in &result.failed_models {
                    writeln!(err, "  {}: {}", failed.model, failed.error)?;
                }
            }
            ExitCode::from(1)
        }
    })
}

pub fn read_prompt(arg: Option<&str>) -> anyhow::Result<String> {
    let prompt = match arg {
        Some(text) if text != "-" => text.to_owned(),
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("no prompt: pass it as an argument (fusion ask \"...\") or on stdin");
            }
            let mut text = String::new();
            stdin
                .lock()
                .take(MAX_PROMPT_BYTES + 1)
                .read_to_string(&mut text)
                .context("reading the prompt from stdin")?;
            if text.len() as u64 > MAX_PROMPT_BYTES {
                bail!("the prompt on stdin is larger than {MAX_PROMPT_BYTES} bytes");
            }
            text
        }
    };
    if prompt.trim().is_empty() {
        bail!("the prompt is empty");
    }
    Ok(prompt)
}
