//! `fusion do`: let a model pick and call the tools of the configured MCP servers for one
//! request — the MCP tool `fusion_do`, run in process over the hub of `[[mcp.servers]]` —
//! and print the answer (or, with `--json`, the whole answer with its trace), with progress
//! per step on stderr.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use fusion_mcp::{Fusion, FusionMcp};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::ask::read_prompt;
use super::start;
use crate::cli::DoArgs;

pub async fn run(config_path: Option<&Path>, args: &DoArgs) -> anyhow::Result<ExitCode> {
    let request = read_prompt(args.request.as_deref())?;
    let runtime = start(config_path).await?;
    let config = runtime.config();
    if config.mcp.servers.iter().all(|s| !s.enabled) {
        runtime.shutdown().await;
        bail!("no enabled [[mcp.servers]] in the configuration: `fusion do` needs tools to use");
    }
    let hub = fusion_mcp::attach_hub(&runtime, CancellationToken::new());
    let server = FusionMcp::new(Fusion::from_runtime(runtime.clone())).with_hub(hub);
    let mut arguments = Map::new();
    arguments.insert("request".into(), json!(request));
    if !args.servers.is_empty() {
        arguments.insert("servers".into(), json!(args.servers));
    }
    if let Some(steps) = args.max_steps {
        arguments.insert("max_steps".into(), json!(steps));
    }
    if let Some(model) = &args.model {
        arguments.insert("model".into(), json!(model));
    }
    if args.allow_destructive {
        arguments.insert("allow_destructive".into(), json!(true));
    }
    let (tx, display) = if args.quiet {
        (None, None)
    } else {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let display = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                eprintln!("fusion: {line}");
            }
        });
        (Some(tx), Some(display))
    };
    let called = fusion_mcp::run_do_in_process(server, arguments, tx).await;
    runtime.shutdown().await;
    if let Some(display) = display {
        let _ = display.await;
    }
    let result = called.map_err(|e| anyhow::anyhow!(e))?;
    let structured = result.structured_content.clone().unwrap_or(Value::Null);
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect();
    let failed = result.is_error == Some(true);
    // A refusal of the arguments is a usage error, like a bad flag.
    if failed && structured["error"]["class"] == "invalid_arguments" {
        bail!("{}", text.join("\n"));
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &structured).context("writing the answer")?;
        writeln!(out)?;
    } else {
        let mut err = std::io::stderr().lock();
        for reason in structured["degradation_reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            writeln!(err, "fusion: degraded: {reason}")?;
        }
        let answer = structured["answer"].as_str().unwrap_or_default();
        if failed {
            writeln!(err, "fusion: {}", text.join("\n"))?;
        } else if !answer.is_empty() {
            writeln!(out, "{answer}")?;
        }
    }
    out.flush()?;
    let answered = !failed && structured["answer"].as_str().is_some_and(|a| !a.is_empty());
    Ok(if answered {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
