//! The `fusion` binary: parses the command line, sets up logging on stderr (stdout carries
//! only command output), and dispatches to `commands`. Exit codes: 0 success, 1 no answer,
//! 2 usage or configuration error.
// The futures of `fusion mcp` and `fusion serve` nest the MCP SDK's service, the runtime and
// the hub several layers deep; their layouts need more query depth than the default 128.
#![recursion_limit = "256"]

mod cli;
mod commands;
mod progress;
mod trim;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, ConfigCommand, LogFormat};

/// mimalloc: the request path allocates many small short-lived buffers, and glibc's malloc
/// showed up as ~13% of `fusion serve`'s CPU profile under load. Built with `no_thp`: with
/// transparent huge pages its eagerly committed arenas were backed by 2 MiB pages, and the
/// gateway's RSS after a burst of load stayed ~35 MiB higher than what it used (BENCHMARKS.md).
/// `fusion_sys::memory` also tunes it and trims it in the long-running commands.
#[global_allocator]
static GLOBAL: fusion_sys::Allocator = fusion_sys::Allocator;

fn main() -> ExitCode {
    fusion_sys::memory::tune();
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(args) = &cli.command {
        // One worker by default: the gateway's own work is ~40 µs of CPU a request, and one
        // thread avoids cross-thread wake-ups that cost more latency than they save (measured
        // in BENCHMARKS.md). `--workers N` adds threads for machines that need them.
        builder.worker_threads(usize::from(args.workers.unwrap_or(1)));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fusion: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        match &cli.command {
            Command::Ask(args) => commands::ask::run(cli.config.as_deref(), args).await,
            Command::Do(args) => commands::act::run(cli.config.as_deref(), args).await,
            Command::Serve(args) => commands::serve::run(cli.config.as_deref(), args).await,
            Command::Mcp(args) => commands::mcp::run(cli.config.as_deref(), args).await,
            Command::Route(args) => commands::route::run(cli.config.as_deref(), args).await,
            Command::Bench(args) => commands::bench::run(cli.config.as_deref(), args).await,
            Command::Eval(command) => commands::eval::run(cli.config.as_deref(), command).await,
            Command::Models(args) => commands::models::run(cli.config.as_deref(), args).await,
            Command::Usage(args) => commands::usage::run(cli.config.as_deref(), args).await,
            Command::Index(args) => commands::index::run(args),
            Command::Search(args) => commands::search::run(args),
            Command::Tasks(command) => commands::tasks::run(cli.config.as_deref(), command).await,
            Command::Loop(args) => commands::looped::run(cli.config.as_deref(), args).await,
            Command::Config(ConfigCommand::Check) => {
                commands::config::check(cli.config.as_deref()).await
            }
            Command::Config(ConfigCommand::Import(args)) => commands::config::import(args),
        }
    });
    match outcome {
        Ok(code) => code,
        // `fusion usage --json | head`: the reader has what it wanted.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fusion: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether the error is stdout's reader having gone away.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
