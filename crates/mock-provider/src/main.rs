//! The `mock-provider` binary: builds a script from the command line, serves it, prints the
//! base URL on stdout and runs until SIGINT or SIGTERM.

mod cli;

use std::io::Write;

use anyhow::{Context, bail};
use clap::Parser;
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use tracing_subscriber::EnvFilter;

use cli::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        bail!(
            "refusing to listen on non-loopback address {} without --allow-remote",
            args.listen
        );
    }
    let script = build_script(&args)?;
    // Handlers first: a signal sent as soon as the URL line appears must stop us cleanly.
    let stop = stop_signal().context("cannot install signal handlers")?;
    let provider = MockProvider::start_on(args.listen, script)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // Nobody can read the log from outside the process; keep memory flat for benchmarks.
    provider.set_recording(false);

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "MOCK_PROVIDER_URL={}", provider.base_url())?;
    stdout.flush()?;
    drop(stdout);
    tracing::info!(addr = %provider.addr(), "mock provider listening");

    stop.await;
    tracing::info!("stopping");
    provider.shutdown().await;
    Ok(())
}

fn build_script(args: &Args) -> anyhow::Result<Script> {
    let mut script = match &args.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Script::from_json(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Script::echo_any(),
    };
    let latency = args.latency_ms;
    for name in &args.models {
        script
            .models
            .entry(name.clone())
            .or_insert_with(|| ModelScript::echo().with_latency_ms(latency.unwrap_or_default()));
    }
    if let (Some(latency), Some(default)) = (latency, script.default.as_mut()) {
        default.latency_ms = latency;
    }
    Ok(script)
}

/// Registers SIGINT and SIGTERM handlers now; the returned future ends on either signal.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
