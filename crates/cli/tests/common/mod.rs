//! Shared harness for end-to-end tests: a scripted mock-provider, a temp dir with a config,
//! and the real `fusion` binary run as a child process with an isolated environment.
//!
//! Every `fusion` a test starts runs through [`fusion_command`] (directly) or [`peer_command`]
//! (started by a peer such as the Python MCP client); both root it at a temp dir — its own
//! home, config dir and data dir (`FUSION_DATA_DIR`) — so no test reads the user's config or
//! writes the user's store. `safe_defaults.rs` checks that no test starts it any other way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod mcp_session;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use fusion_mock_provider::{MockProvider, ModelScript, Script};
pub use fusion_test_support::{PgDatabase, peer, wait_for, wait_until};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

/// A valid judge reply that refers to the members by label.
pub const JUDGE_JSON: &str = r#"{"consensus":["Paris is the capital of France"],"contradictions":[{"topic":"population","stances":[{"model":"Response A","stance":"2.1 million"},{"model":"Response B","stance":"11 million"}]}],"partial_coverage":[{"models":["Response A","Response C"],"point":"the Seine"}],"unique_insights":[{"model":"Response B","insight":"metro area"}],"blind_spots":["history"],"judge_notes":["all answers are short"]}"#;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON (for `--json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub struct Harness {
    pub dir: TempDir,
    pub mock: MockProvider,
}

/// The three panel models, the judge and the synthesizer of the standard test council.
pub const PANEL: [&str; 3] = ["m-a", "m-b", "m-c"];

/// A script where panel members give distinct answers, the judge valid JSON, the
/// synthesizer a fixed final answer.
pub fn healthy_script() -> Script {
    let mut script = Script::default();
    script.models.insert(
        "m-a".into(),
        ModelScript::fixed(
            "Paris is the capital of France. About 2.1 million people live in the city.",
        ),
    );
    script.models.insert(
        "m-b".into(),
        ModelScript::fixed("The capital of France is Paris. Its metro area has 11 million people."),
    );
    script.models.insert(
        "m-c".into(),
        ModelScript::fixed("Paris is the capital of France, on the Seine."),
    );
    script
        .models
        .insert("judge".into(), ModelScript::fixed(JUDGE_JSON));
    script
        .models
        .insert("synth".into(), ModelScript::fixed("FINAL: Paris."));
    script
}

impl Harness {
    pub async fn start(script: Script) -> Self {
        let mock = MockProvider::start(script)
            .await
            .expect("mock-provider starts");
        let dir = tempfile::tempdir().expect("temp dir");
        Self { dir, mock }
    }

    /// The standard council config against the mock: one provider, five models.
    pub fn standard_config(&self, extra_provider: &str, council_extra: &str) -> String {
        let mut models = String::new();
        for id in PANEL.iter().chain(&["judge", "synth"]) {
            models.push_str(&format!(
                "[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n\n"
            ));
        }
        format!(
            r#"[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
timeout = "3s"
retries = 0
{extra_provider}

{models}
[councils.default]
{council_extra}
panel = [{{ model = "m-a", system = "You are precise." }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
"#,
            url = self.mock.base_url()
        )
    }

    pub fn write_config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Runs `fusion` with `args` in the temp dir (no ambient config, no discovery).
    pub async fn fusion(&self, args: &[&str]) -> Run {
        self.fusion_with(args, None, &[]).await
    }

    pub async fn fusion_with(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Run {
        run_fusion(self.dir.path(), args, stdin, env).await
    }
}

/// This crate's directory, as the test runner (cargo or nextest) says when it runs the test —
/// not as it was when the test was compiled: a shared target directory may hold a binary
/// built from another clone, and a path baked into it may no longer exist.
pub fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The repository's root directory.
pub fn repo_root() -> std::path::PathBuf {
    crate_dir().join("../..")
}

/// A client script of `tests/clients/`.
pub fn test_client(name: &str) -> std::path::PathBuf {
    crate_dir().join("tests/clients").join(name)
}

/// The `fusion` binary under test. Start it through [`fusion_command`] or, for a peer that
/// starts it, [`peer_command`] — never with a bare `Command`.
pub const FUSION: &str = env!("CARGO_BIN_EXE_fusion");

/// `fusion` with a clean environment rooted at `root` (`fusion_test_support::isolated_env`:
/// home, XDG dirs, `FUSION_DATA_DIR`, no discovery), run in `root`, killed when dropped.
pub fn fusion_command(root: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(FUSION);
    cmd.current_dir(root)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .kill_on_drop(true);
    fusion_test_support::isolate(&mut cmd, root);
    cmd
}

/// The peer `name` (see `fusion_test_support::peer`) with the isolated environment of
/// [`fusion_command`] added to its own: the `fusion` it starts (the MCP clients hand their
/// environment to the server they spawn) is rooted at `root` too. Killed when dropped.
pub fn peer_command(name: &str, root: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(peer(name));
    cmd.kill_on_drop(true);
    fusion_test_support::isolate(&mut cmd, root);
    cmd
}

/// Runs the real binary with a clean environment rooted at `dir`.
pub async fn run_fusion(
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = fusion_command(dir);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn fusion");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let out = child.wait_with_output().await.expect("fusion runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Degradation reasons of a `--json` result, joined for searching.
pub fn reasons(result: &Value) -> String {
    result["degradation_reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

impl Harness {
    /// Writes `config` as `fusion.toml` in the temp dir and runs `fusion ask --config it ARGS`.
    pub async fn ask(&self, config: &str, args: &[&str]) -> Run {
        let path = self.write_config("fusion.toml", config);
        let mut full = vec!["ask", "--config", path.to_str().expect("utf-8 temp path")];
        full.extend_from_slice(args);
        self.fusion(&full).await
    }

    /// Like `ask`, for a run that must answer (exit 0): the `--json` result.
    pub async fn ask_json(&self, config: &str, args: &[&str]) -> Value {
        let run = self.ask(config, args).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()
    }
}

/// A running `fusion serve` child process; killed when dropped. Its stderr goes to
/// `serve.log` in its directory, shown by `log()` when a test fails.
pub struct FusionServer {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    dir: PathBuf,
    /// Kept open so the server never writes to a closed pipe.
    _stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
}

impl FusionServer {
    /// Starts `fusion serve ARGS` in `dir` with a clean environment plus `env`, and waits for
    /// its `FUSION_LISTEN_URL=` line.
    pub async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let log = std::fs::File::create(dir.join("serve.log")).expect("log file");
        let mut cmd = fusion_command(dir);
        cmd.arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn fusion serve");
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            stdout.read_line(&mut line),
        )
        .await;
        let url = line
            .trim()
            .strip_prefix("FUSION_LISTEN_URL=")
            .map(str::to_owned);
        let Some(url) = url.filter(|_| matches!(read, Ok(Ok(n)) if n > 0)) else {
            let _ = child.start_kill();
            panic!(
                "fusion serve did not announce its address (read {read:?}, line {line:?}); its log:\n{}",
                std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
            );
        };
        Self {
            child,
            url,
            dir: dir.to_owned(),
            _stdout: stdout,
        }
    }

    /// `fusion serve --config CONFIG --listen 127.0.0.1:0` in `dir`.
    pub async fn with_config(dir: &Path, config: &Path) -> Self {
        let config = config.to_str().expect("utf-8 config path");
        Self::start(dir, &["--config", config, "--listen", "127.0.0.1:0"], &[]).await
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM, then a graceful exit with status 0 within 15 s.
    pub async fn stop(mut self) {
        self.terminate();
        let exit = tokio::time::timeout(std::time::Duration::from_secs(15), self.child.wait())
            .await
            .expect("fusion serve stops within 15 s of SIGTERM")
            .expect("wait for fusion serve");
        assert!(
            exit.success(),
            "fusion serve exited with {exit} after SIGTERM; its log:\n{}",
            self.log()
        );
    }
}
