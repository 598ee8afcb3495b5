//! `fusion route`: the routing decision for a task — chosen model, fallbacks, every candidate
//! with its rank or the reason it was rejected, and the calls of the council a hard task is
//! escalated to (`[router.escalate]`) — and with `--run` the routed call itself.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use fusion_core::router::{Decision, RouteInput, Verdict};
use fusion_types::ChatRequest;

use fusion_core::providers::ProviderRegistry;

use super::start;
use crate::cli::RouteArgs;

pub async fn run(config_path: Option<&Path>, args: &RouteArgs) -> anyhow::Result<ExitCode> {
    let task = super::ask::read_prompt(args.task.as_deref())?;
    let runtime = start(config_path).await?;
    let outcome = decide_and_run(&runtime.registry(), &task, args).await;
    runtime.shutdown().await;
    outcome
}

async fn decide_and_run(
    registry: &ProviderRegistry,
    task: &str,
    args: &RouteArgs,
) -> anyhow::Result<ExitCode> {
    // One probe of every provider (and model discovery) so the decision sees real health.
    registry.probe_all(std::time::Duration::from_secs(2)).await;
    if registry.router_config().discover {
        registry.discover().await;
    }
    let input = RouteInput {
        text: task.to_owned(),
        context_tokens: args.context_length,
        expected_output_tokens: args.expected_output,
        complexity: args.complexity,
        category: args.category,
        priority: args.priority,
    };
    let mut out = std::io::stdout().lock();
    if !args.run {
        let decision = registry.route(&input);
        if args.json {
            serde_json::to_writer_pretty(&mut out, &decision)?;
            writeln!(out)?;
        } else {
            print_decision(&mut out, &decision)?;
        }
        return Ok(if decision.chosen.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let request = ChatRequest::simple("router", None, task);
    match registry.chat_routed(&input, request).await {
        Ok(routed) => {
            if args.json {
                let body = serde_json::json!({
                    "route": routed.decision,
                    "model": routed.model,
                    "failed": routed.failed,
                    "answer": routed.value.text(),
                    "usage": routed.value.usage,
                    "latency_ms": routed.value.latency_ms,
                    "council": routed.council,
                });
                serde_json::to_writer_pretty(&mut out, &body)?;
                writeln!(out)?;
            } else {
                let mut err = std::io::stderr().lock();
                writeln!(
                    err,
                    "fusion: routed to {} ({})",
                    routed.model, routed.decision.summary
                )?;
                for failed in &routed.failed {
                    writeln!(
                        err,
                        "fusion: {} failed first: {}",
                        failed.model, failed.error
                    )?;
                }
                writeln!(out, "{}", routed.value.text())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let mut err = std::io::stderr().lock();
            writeln!(err, "fusion: {e}")?;
            Ok(ExitCode::from(1))
        }
    }
}

fn print_decision(out: &mut impl Write, d: &Decision) -> std::io::Result<()> {
    let e = &d.estimate;
    let mark = |estimated: bool| if estimated { " (estimated)" } else { "" };
    writeln!(out, "{}", d.summary)?;
    writeln!(
        out,
        "priority {}; category {}{}; complexity {:.2}{}; tokens in {}{}, out {}{}; required quality {:.2}",
        d.priority,
        e.category,
        mark(e.category_estimated),
        e.complexity,
        mark(e.complexity_estimated),
        e.input_tokens,
        mark(e.input_tokens_estimated),
        e.output_tokens,
        mark(e.output_tokens_estimated),
        d.required_quality,
    )?;
    if !d.fallbacks.is_empty() {
        writeln!(out, "fallbacks: {}", d.fallbacks.join(", "))?;
    }
    if let Some(escalation) = &d.escalation {
        writeln!(out, "council {} is expected to make:", escalation.council)?;
        for call in &escalation.calls {
            let cost = call
                .cost_usd
                .map_or_else(|| "no price".to_owned(), |v| format!("${v:.6}"));
            writeln!(
                out,
                "  {:<12} {:<32} {:>6} in {:>6} out {:>12}",
                call.seat, call.model, call.input_tokens, call.output_tokens, cost
            )?;
        }
    }
    writeln!(out)?;
    for c in &d.candidates {
        let cost = c
            .estimated_cost_usd
            .map_or_else(|| "no price".to_owned(), |v| format!("${v:.6}"));
        let verdict = match &c.verdict {
            Verdict::Ranked { rank, reason } => format!("#{rank}  {reason}"),
            Verdict::Rejected { reason } => format!("--  rejected: {reason}"),
        };
        writeln!(
            out,
            "{:<32} {:<5} q {:.2} {:>12}  {verdict}",
            c.model,
            c.tier.as_str(),
            c.quality,
            cost
        )?;
    }
    Ok(())
}
