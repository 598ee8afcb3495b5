//! The sandbox on this machine: these tests need `unshare` with network and PID namespaces
//! (root, or unprivileged user namespaces) and `python3`; without them they fail and say so.

use super::*;

const ADD: &str = "```python\ndef add(a, b):\n    return a + b\n```";

fn tests(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| (*s).to_owned()).collect()
}

async fn run(answer: &str, checks: &[&str], timeout: Duration) -> Verdict {
    match check(answer, &tests(checks), timeout).await {
        Ok(verdict) => verdict,
        Err(e) => panic!("the code sandbox is needed here (unshare, python3): {e}"),
    }
}

#[tokio::test]
async fn right_code_passes_every_test_and_wrong_code_scores_the_tests_it_passes() {
    let checks = [
        "assert add(1, 2) == 3",
        "assert add(2, 0) == 2",
        "assert add('a', 'b') == 'ab'",
    ];
    let right = run(ADD, &checks, Duration::from_secs(10)).await;
    assert_eq!((right.score, right.passed), (1.0, true), "{}", right.detail);
    let wrong = "def add(a, b):\n    return a - b if isinstance(a, int) else a + b\n";
    let verdict = run(wrong, &checks, Duration::from_secs(10)).await;
    assert!(!verdict.passed);
    assert!(
        (verdict.score - 2.0 / 3.0).abs() < 1e-9,
        "{}",
        verdict.detail
    );
    assert_eq!(verdict.detail["failures"][0]["test"], 1);
}

#[tokio::test]
async fn code_that_does_not_load_scores_nothing_and_says_why() {
    let verdict = run(
        "def add(a, b) return a + b",
        &["assert add(1, 2) == 3"],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!((verdict.score, verdict.passed), (0.0, false));
    let why = verdict.detail["load_error"].as_str().unwrap_or_default();
    assert!(why.starts_with("SyntaxError"), "{}", verdict.detail);
}

#[tokio::test]
async fn code_that_runs_past_the_time_limit_is_stopped_and_scores_nothing() {
    let forever = "def add(a, b):\n    while True:\n        pass\n";
    let verdict = run(
        forever,
        &["assert add(1, 2) == 3"],
        Duration::from_millis(1500),
    )
    .await;
    assert_eq!((verdict.score, verdict.passed), (0.0, false));
    assert_eq!(verdict.detail["error"], "timed out", "{}", verdict.detail);
}

#[tokio::test]
async fn code_cannot_reach_the_network_not_even_loopback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\n\
         def reach():\n\
         \x20   try:\n\
         \x20       socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n\
         \x20       return 'connected'\n\
         \x20   except OSError as e:\n\
         \x20       return 'refused: ' + str(e)\n"
    );
    let verdict = run(
        &code,
        &["assert reach() != 'connected'"],
        Duration::from_secs(10),
    )
    .await;
    assert!(
        verdict.passed,
        "the code's connection attempt must fail: {}",
        verdict.detail
    );
    // Had the code connected, its connection would be waiting in the listener's queue.
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener saw a connection: {other:?}"),
    }
}

#[tokio::test]
async fn the_environment_is_empty() {
    // SAFETY-free check: this process has PATH; the sandboxed code must not see it.
    assert!(std::env::var_os("PATH").is_some());
    let code = "import os\ndef seen():\n    return sorted(os.environ)\n";
    let verdict = run(
        code,
        &["assert 'PATH' not in seen(), seen()"],
        Duration::from_secs(10),
    )
    .await;
    assert!(verdict.passed, "{}", verdict.detail);
}

#[tokio::test]
async fn megabytes_of_output_are_kept_to_their_ends_and_the_code_still_scores() {
    let noisy = format!(
        "print('x' * {})\ndef add(a, b):\n    return a + b\n",
        3 * 1024 * 1024
    );
    let verdict = run(&noisy, &["assert add(2, 2) == 4"], Duration::from_secs(20)).await;
    assert!(verdict.passed, "{}", verdict.detail);
    assert!(verdict.detail["stdout_bytes"].as_u64().unwrap() > 3 * 1024 * 1024);
    assert!(
        verdict.detail.to_string().len() < 16 * 1024,
        "the detail stays small"
    );
}

#[tokio::test]
async fn output_past_the_limit_stops_the_run() {
    let flood = "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n";
    let verdict = run(flood, &["assert True"], Duration::from_secs(60)).await;
    assert_eq!((verdict.score, verdict.passed), (0.0, false));
    assert_eq!(
        verdict.detail["error"], "printed more than the output limit",
        "{}",
        verdict.detail
    );
}

#[tokio::test]
async fn a_process_the_code_leaves_behind_does_not_outlive_it() {
    // The child keeps stdout open; it dies with the sandbox's first process, so the result
    // is read at once instead of the pipe staying open until the drain gives up.
    let code = format!(
        "import subprocess, sys\n\
         subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n{ADD}"
    );
    let verdict = run(&code, &["assert add(1, 1) == 2"], Duration::from_secs(10)).await;
    assert!(verdict.passed, "{}", verdict.detail);
}

#[tokio::test]
async fn code_cannot_forge_the_result_line() {
    let forger =
        "print('fusion-result-0 {\"passed\": 1, \"total\": 1}')\ndef add(a, b):\n    return 0\n";
    let verdict = run(forger, &["assert add(1, 2) == 3"], Duration::from_secs(10)).await;
    assert_eq!(verdict.score, 0.0, "{}", verdict.detail);
}
