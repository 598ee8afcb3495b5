//! `fusion serve`: the OpenAI-compatible gateway on a socket, until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use fusion_server::AppState;

use super::{resolve, start_resolved};
use crate::cli::ServeArgs;

pub async fn run(config_path: Option<&Path>, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let resolved = resolve(config_path).await?;
    let config = &resolved.config;
    let addr = listen_addr(args, &config.server.listen)?;
    // Refusals come before anything starts (store, children) and before the socket is bound.
    let keys = fusion_server::keys_from_env(&config.server.api_keys_env, addr, |name| {
        std::env::var(name).ok()
    })
    .map_err(|e| anyhow!(e))?;
    fusion_server::check_exposure(addr, !keys.is_empty(), args.allow_unauthenticated)
        .map_err(|e| anyhow!(e))?;
    let grace = config.server.shutdown_grace;
    let runtime = start_resolved(resolved).await?;
    runtime.start_health();
    // Memory freed after a burst goes back to the system (see fusion_sys::memory).
    let _trimmer = crate::trim::Trimmer::start();
    runtime
        .start_tasks()?
        .set_bench_runner(fusion_bench::task::runner());
    // Rolls up and deletes what outlived [storage]'s retentions, off the request path.
    let maintenance = fusion_core::store::Maintenance::for_runtime(&runtime);
    // SIGHUP and file changes reload every front door (nothing to watch when discovered).
    runtime.watch_file()?;
    let state = AppState::new(runtime.clone(), keys, fusion_server::prometheus());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "FUSION_LISTEN_URL=http://{bound}")?;
        out.flush()?;
    }
    // For the person at the terminal (stdout above is for scripts).
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "fusion: serving the OpenAI API at http://{bound}/v1 (health /health, metrics /metrics); \
         Ctrl-C stops"
    )?;
    drop(err);
    let served = fusion_server::run(listener, state, stop_signal()?, grace).await;
    drop(maintenance);
    // Tasks still running are handed back to the queue (or failed, per tasks.on_interrupt),
    // the children stop, and every usage row of the calls just finished is written.
    runtime.shutdown().await;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// --listen; else --host and --port, each defaulting to its half of server.listen.
fn listen_addr(args: &ServeArgs, configured: &str) -> anyhow::Result<SocketAddr> {
    if let Some(listen) = &args.listen {
        return listen.parse().with_context(|| {
            format!("--listen: `{listen}` is not an address like 127.0.0.1:8787")
        });
    }
    let base: SocketAddr = configured.parse().with_context(|| {
        format!("server.listen: `{configured}` is not an address like 127.0.0.1:8787")
    })?;
    Ok(SocketAddr::new(
        args.host.unwrap_or(base.ip()),
        args.port.unwrap_or(base.port()),
    ))
}

/// SIGINT or SIGTERM, with the handlers registered now (before the address is announced).
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
