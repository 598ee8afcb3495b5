//! Shared harness for end-to-end tests: a scripted mock-provider, a temp dir with a config,
//! and the real `fusion` binary run as a child process with an isolated environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

pub mod mcp_session;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use fusion_mock_provider::{MockProvider, ModelScript, Script};
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

/// Runs the real binary with a clean environment rooted at `dir`.
pub async fn run_fusion(
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fusion"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        // Nothing listens here: zero-config discovery finds no server unless a test says so.
        .env("FUSION_DISCOVERY_TARGETS", "none=http://127.0.0.1:9/v1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
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
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fusion"));
        cmd.arg("serve")
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .env("XDG_DATA_HOME", dir.join("xdg-data"))
            .env("FUSION_DISCOVERY_TARGETS", "none=http://127.0.0.1:9/v1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
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

/// A fresh database on the test PostgreSQL server (`FUSION_TEST_POSTGRES_URL`, which
/// scripts/test.sh starts through scripts/postgres.sh), made and dropped through `psql`.
pub struct PgDatabase {
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let base = std::env::var("FUSION_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!("FUSION_TEST_POSTGRES_URL is not set: run scripts/test.sh (it starts PostgreSQL through scripts/postgres.sh)")
        });
        let name = format!(
            "fusion_e2e_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let status = std::process::Command::new("psql")
            .args([
                base.as_str(),
                "-q",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()
            .expect("psql runs");
        assert!(status.success(), "CREATE DATABASE {name} failed");
        let (server, _) = base.rsplit_once('/').unwrap();
        Self {
            url: format!("{server}/{name}"),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (server, name) = self.url.rsplit_once('/').unwrap();
        let dropped = std::process::Command::new("psql")
            .args([
                format!("{server}/postgres").as_str(),
                "-q",
                "-c",
                &format!("DROP DATABASE {name} WITH (FORCE)"),
            ])
            .status();
        if !matches!(dropped, Ok(status) if status.success()) {
            eprintln!("DROP DATABASE {name} failed: {dropped:?}");
        }
    }
}
