//! The `code` validator's sandbox. The answer's code (see `extract::code`) and the task's tests
//! run with `harness.py` under Python in a fresh temporary directory, in new network and PID
//! namespaces (`unshare --net --pid --fork --kill-child`, or with `--map-root-user` where only
//! user namespaces are allowed): no network at all, not even loopback, and killing the sandbox
//! kills every process the code started. The environment is emptied, stdin carries only a
//! one-time token, the process gets its own process group (a terminal's Ctrl-C does not reach
//! it), stdout and stderr are kept to their first and last few KiB, and the run ends at the
//! task's time limit or once its output passes [`MAX_OUTPUT_BYTES`].
//!
//! Which `unshare` form works is probed once per process; where none does (not Linux, no
//! namespaces, no `unshare`, no `python3`), code tasks are not run: they are recorded as the
//! error "cannot isolate network: ...". Model code never runs with network.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::OnceCell;

use super::{Unjudged, Verdict, extract};

/// Output kept from each stream: this much of its start and of its end.
const KEEP_BYTES: usize = 8 * 1024;
/// The run is stopped once its stdout and stderr together pass this.
pub const MAX_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;
/// How long the probe of the sandbox may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the pipes may stay open after the sandbox is killed.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

const HARNESS: &str = include_str!("harness.py");

/// A sandbox that works here: the `unshare` form and the Python interpreter.
#[derive(Debug, Clone)]
pub struct Sandbox {
    unshare: PathBuf,
    flags: &'static [&'static str],
    python: PathBuf,
}

const FORMS: [&[&str]; 2] = [
    &["--net", "--pid", "--fork", "--kill-child"],
    &[
        "--map-root-user",
        "--net",
        "--pid",
        "--fork",
        "--kill-child",
    ],
];

static SANDBOX: OnceCell<Result<Sandbox, String>> = OnceCell::const_new();

/// The sandbox of this process (probed on first use), or why there is none.
pub async fn sandbox() -> Result<&'static Sandbox, Unjudged> {
    SANDBOX
        .get_or_init(probe)
        .await
        .as_ref()
        .map_err(|reason| Unjudged(reason.clone()))
}

async fn probe() -> Result<Sandbox, String> {
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, probe_forms()).await;
    let sandbox = outcome
        .unwrap_or_else(|_| Err("cannot isolate network: the sandbox probe timed out".into()));
    match &sandbox {
        Ok(s) => tracing::debug!(flags = ?s.flags, python = %s.python.display(), "code sandbox"),
        Err(reason) => tracing::warn!("{reason}: code tasks will be recorded as errors"),
    }
    sandbox
}

async fn probe_forms() -> Result<Sandbox, String> {
    if !cfg!(target_os = "linux") {
        return Err("cannot isolate network: code tasks need Linux namespaces (unshare)".into());
    }
    let unshare = find_in_path("unshare")
        .ok_or("cannot isolate network: `unshare` (util-linux) is not on PATH")?;
    let python = interpreter().await?;
    let mut failures = Vec::new();
    for flags in FORMS {
        let out = Command::new(&unshare)
            .args(flags)
            .arg("--")
            .arg(&python)
            .args(["-I", "-c", "pass"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await;
        match out {
            Ok(out) if out.status.success() => {
                return Ok(Sandbox {
                    unshare,
                    flags,
                    python,
                });
            }
            Ok(out) => failures.push(format!(
                "unshare {}: {}",
                flags.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => failures.push(format!("unshare {}: {e}", flags.join(" "))),
        }
    }
    Err(format!("cannot isolate network: {}", failures.join("; ")))
}

/// The real `python3` executable (not a shim that needs the environment we empty).
async fn interpreter() -> Result<PathBuf, String> {
    let python = find_in_path("python3").ok_or("cannot run code tasks: no `python3` on PATH")?;
    let out = Command::new(&python)
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run code tasks: python3: {e}"))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || path.is_empty() {
        return Err("cannot run code tasks: python3 does not start".into());
    }
    Ok(PathBuf::from(path))
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Scores `answer`'s code: the fraction of `tests` that pass within `timeout`.
pub async fn check(answer: &str, tests: &[String], timeout: Duration) -> Result<Verdict, Unjudged> {
    let sandbox = sandbox().await?;
    let code = extract::code(answer);
    let dir = tempfile::Builder::new()
        .prefix("fusion-bench-")
        .tempdir()
        .map_err(|e| Unjudged(format!("cannot make a directory for the code: {e}")))?;
    write_files(dir.path(), code, tests)
        .await
        .map_err(|e| Unjudged(format!("cannot write the code to run: {e}")))?;
    let run = sandbox.run(dir.path(), timeout).await?;
    Ok(score(&run, tests.len()))
}

async fn write_files(dir: &Path, code: &str, tests: &[String]) -> std::io::Result<()> {
    tokio::fs::write(dir.join("solution.py"), code).await?;
    tokio::fs::write(dir.join("tests.json"), serde_json::to_vec(tests)?).await?;
    tokio::fs::write(dir.join("harness.py"), HARNESS).await
}

/// What a sandboxed run left behind.
#[derive(Debug, Default)]
struct Run {
    token: String,
    stdout: Captured,
    stderr: Captured,
    exit: Option<i32>,
    timed_out: bool,
    output_limit: bool,
}

impl Sandbox {
    async fn run(&self, dir: &Path, timeout: Duration) -> Result<Run, Unjudged> {
        let mut child = Command::new(&self.unshare)
            .args(self.flags)
            .arg("--")
            .arg(&self.python)
            .args(["-I", "-B", "harness.py"])
            .current_dir(dir)
            .env_clear()
            .env("HOME", dir)
            .env("TMPDIR", dir)
            .env("LANG", "C.UTF-8")
            .env("PYTHONIOENCODING", "utf-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Unjudged(format!("cannot start the sandbox: {e}")))?;
        let token = format!("fusion-result-{:032x}", rand::random::<u128>());
        if let Some(mut stdin) = child.stdin.take() {
            // The harness reads the token before the code runs; then stdin is at its end.
            let _ = stdin.write_all(format!("{token}\n").as_bytes()).await;
        }
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Unjudged("the sandbox has no output pipes".into()));
        };
        let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let over = tokio_util::sync::CancellationToken::new();
        let out_task = tokio::spawn(capture(stdout, total.clone(), over.clone()));
        let err_task = tokio::spawn(capture(stderr, total, over.clone()));
        let mut run = Run {
            token,
            ..Run::default()
        };
        tokio::select! {
            status = child.wait() => run.exit = status.ok().and_then(|s| s.code()),
            () = tokio::time::sleep(timeout) => run.timed_out = true,
            () = over.cancelled() => run.output_limit = true,
        }
        if run.exit.is_none() {
            // Killing `unshare` kills its child, the namespace's first process, and with it
            // every process in the namespace.
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        run.stdout = drained(out_task).await;
        run.stderr = drained(err_task).await;
        Ok(run)
    }
}

async fn drained(task: tokio::task::JoinHandle<Captured>) -> Captured {
    match tokio::time::timeout(DRAIN_AFTER_KILL, task).await {
        Ok(Ok(captured)) => captured,
        _ => Captured::default(),
    }
}

/// The start and end of a stream, and its length.
#[derive(Debug, Default)]
struct Captured {
    head: Vec<u8>,
    tail: Vec<u8>,
    bytes: u64,
}

impl Captured {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        let room = KEEP_BYTES.saturating_sub(self.head.len());
        let (to_head, rest) = chunk.split_at(room.min(chunk.len()));
        self.head.extend_from_slice(to_head);
        self.tail.extend_from_slice(rest);
        if self.tail.len() > KEEP_BYTES {
            self.tail.drain(..self.tail.len() - KEEP_BYTES);
        }
    }

    /// The kept text: the head, and the tail after a marker when bytes were skipped.
    fn text(&self) -> String {
        let skipped = self.bytes - (self.head.len() + self.tail.len()) as u64;
        let head = String::from_utf8_lossy(&self.head);
        let tail = String::from_utf8_lossy(&self.tail);
        if skipped > 0 {
            format!("{head}\n[... {skipped} bytes not kept ...]\n{tail}")
        } else {
            format!("{head}{tail}")
        }
    }
}

/// Reads a stream to its end, keeping its start and end; past the shared output limit it
/// signals `over` and stops reading.
async fn capture(
    mut stream: impl AsyncRead + Unpin,
    total: std::sync::Arc<std::sync::atomic::AtomicU64>,
    over: tokio_util::sync::CancellationToken,
) -> Captured {
    let mut captured = Captured::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                captured.push(&buf[..n]);
                let seen =
                    total.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed) + n as u64;
                if seen > MAX_OUTPUT_BYTES {
                    over.cancel();
                    break;
                }
            }
        }
    }
    captured
}

/// The verdict of a run: the harness's result line, else what went wrong.
fn score(run: &Run, tests: usize) -> Verdict {
    let stdout = run.stdout.text();
    let result: Option<Value> = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(&run.token))
        .and_then(|json| serde_json::from_str(json.trim()).ok());
    let mut detail = json!({
        "tests": tests,
        "stdout_bytes": run.stdout.bytes,
        "stderr": super::cut_to(&run.stderr.text(), 2048),
    });
    let Some(map) = detail.as_object_mut() else {
        return Verdict::new(0.0, false, Value::Null);
    };
    let passed = match result {
        Some(result) if !run.timed_out && !run.output_limit => {
            let passed = result["passed"].as_u64().unwrap_or(0);
            map.insert("passed".into(), json!(passed));
            map.insert("failures".into(), result["failures"].clone());
            if !result["load_error"].is_null() {
                map.insert("load_error".into(), result["load_error"].clone());
            }
            passed
        }
        _ => {
            let why = if run.timed_out {
                "timed out"
            } else if run.output_limit {
                "printed more than the output limit"
            } else {
                "ended without a result (it exited or crashed)"
            };
            map.insert("passed".into(), json!(0));
            map.insert("error".into(), json!(why));
            map.insert("exit".into(), json!(run.exit));
            0
        }
    };
    let fraction = if tests == 0 {
        0.0
    } else {
        passed as f64 / tests as f64
    };
    Verdict::new(fraction, tests > 0 && passed as usize == tests, detail)
}

#[cfg(test)]
mod tests;
