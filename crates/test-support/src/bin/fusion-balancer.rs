//! `fusion-balancer`: the test balancer ([`fusion_test_support::Balancer`]) as a process, for
//! `bench/replicas.sh`. Usage: `fusion-balancer [--listen ADDR] BACKEND...` (ADDR defaults to
//! 127.0.0.1:0; each BACKEND is HOST:PORT). Prints `BALANCER_URL=http://ADDR` on stdout once it
//! listens; on SIGTERM or SIGINT prints `BALANCER_STATS addr=.. connections=.. failed_connects=..`
//! per backend on stdout and exits.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use fusion_test_support::Balancer;

/// Backends one balancer takes, at most.
const MAX_BACKENDS: usize = 64;

fn usage(problem: &str) -> ExitCode {
    eprintln!("fusion-balancer: {problem}\nusage: fusion-balancer [--listen ADDR] BACKEND...");
    ExitCode::from(2)
}

/// One line on stdout, flushed (stdout is usually a file the bench script reads).
fn say(line: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

fn parse_addr(what: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("{what} `{text}` is not an address like 127.0.0.1:8080 ({e})"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut backends = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let parsed = if arg == "--listen" {
            match args.next() {
                Some(text) => parse_addr("--listen", &text).map(|addr| listen = addr),
                None => Err("--listen needs an address".to_owned()),
            }
        } else if arg.starts_with('-') {
            Err(format!("unknown option `{arg}`"))
        } else {
            parse_addr("backend", &arg).map(|addr| backends.push(addr))
        };
        if let Err(problem) = parsed {
            return usage(&problem);
        }
    }
    if backends.is_empty() {
        return usage("no backend given");
    }
    if backends.len() > MAX_BACKENDS {
        return usage(&format!("at most {MAX_BACKENDS} backends"));
    }
    let balancer = match Balancer::start(listen, &backends).await {
        Ok(balancer) => balancer,
        Err(err) => {
            eprintln!("fusion-balancer: cannot listen on {listen}: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = say(&format!("BALANCER_URL={}", balancer.url())) {
        eprintln!("fusion-balancer: cannot write to stdout: {err}");
        return ExitCode::FAILURE;
    }
    let stopped = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            r = tokio::signal::ctrl_c() => r?,
        }
        Ok::<(), std::io::Error>(())
    };
    if let Err(err) = stopped.await {
        eprintln!("fusion-balancer: cannot wait for a signal: {err}");
        return ExitCode::FAILURE;
    }
    for b in balancer.stats() {
        let line = format!(
            "BALANCER_STATS addr={} connections={} failed_connects={}",
            b.addr, b.connections, b.failed_connects
        );
        if say(&line).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
