//! A live MCP session driven by `clients/mcp_session.py` (the official Python SDK): commands go
//! in as JSON lines, one JSON answer comes back per command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::{FUSION, peer, peer_command};

pub struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
    /// The handshake answer.
    pub connect: Value,
}

impl Session {
    /// `fusion mcp --config CONFIG` over stdio, plus driver options (`--mode legacy`, ...).
    /// The server is rooted at the config's directory (`common::peer_command`: its store is in
    /// `xdg-data/fusion/` there, never in the user's data dir); sessions on the same config
    /// share it (a restart finds its runs and tasks).
    pub async fn stdio(config: &std::path::Path, options: &[&str]) -> Self {
        Self::stdio_with(config, &[], options).await
    }

    /// [`Session::stdio`] with more arguments for `fusion mcp` (`--rootDir DIR`, ...).
    pub async fn stdio_with(
        config: &std::path::Path,
        fusion_args: &[&str],
        options: &[&str],
    ) -> Self {
        let root = config.parent().unwrap_or(std::path::Path::new("."));
        let mut args = vec!["--config", config.to_str().unwrap()];
        args.extend_from_slice(fusion_args);
        Self::launch(root, &args, &[], options, false).await
    }

    /// `fusion mcp ARGS` over stdio rooted at `root` (its working directory too, so it finds
    /// the config files there), with `env` added to the server's environment, plus driver
    /// options.
    pub async fn stdio_in(
        root: &std::path::Path,
        fusion_args: &[&str],
        env: &[(&str, &str)],
        options: &[&str],
    ) -> Self {
        Self::launch(root, fusion_args, env, options, true).await
    }

    async fn launch(
        root: &std::path::Path,
        fusion_args: &[&str],
        env: &[(&str, &str)],
        options: &[&str],
        in_root: bool,
    ) -> Self {
        let mut args = vec!["--transport", "stdio", "--command", FUSION, "--arg", "mcp"];
        for a in fusion_args {
            args.push("--arg");
            args.push(a);
        }
        args.extend_from_slice(options);
        // The driver hands its environment to the stdio server.
        let mut command = peer_command("FUSION_PEERS_PYTHON", root);
        command.envs(env.iter().copied());
        if in_root {
            command.current_dir(root);
        }
        Self::start(command, &args).await
    }

    /// A Streamable HTTP endpoint, plus driver options (no `fusion` is started here).
    pub async fn http(url: &str, options: &[&str]) -> Self {
        let mut args = vec!["--transport", "http", "--url", url];
        args.extend_from_slice(options);
        let mut command = tokio::process::Command::new(peer("FUSION_PEERS_PYTHON"));
        command.kill_on_drop(true);
        Self::start(command, &args).await
    }

    async fn start(mut command: tokio::process::Command, args: &[&str]) -> Self {
        let mut child = command
            .arg(super::test_client("mcp_session.py"))
            .args(args)
            .args(["--timeout", "60"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python MCP driver");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut session = Self {
            child,
            stdin,
            lines,
            connect: Value::Null,
        };
        session.connect = session.read(Duration::from_secs(90)).await;
        assert_eq!(
            session.connect["ok"], true,
            "handshake failed: {}",
            session.connect
        );
        session
    }

    async fn read(&mut self, limit: Duration) -> Value {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .expect("the driver answers in time")
            .expect("read the driver's stdout")
            .expect("the driver is still running");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("driver output is not JSON ({e}): {line}"))
    }

    /// Sends one command (`{"op": ..., ...}`) and returns its answer.
    pub async fn run(&mut self, command: Value) -> Value {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        self.read(Duration::from_secs(120)).await
    }

    /// Like `run`, asserting the command succeeded.
    pub async fn ok(&mut self, command: Value) -> Value {
        let answer = self.run(command.clone()).await;
        assert_eq!(answer["ok"], true, "{command} failed: {answer}");
        answer
    }

    pub async fn tool_names(&mut self) -> Vec<String> {
        let listed = self.ok(json!({"op": "list_tools"})).await;
        listed["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A JSON resource's parsed text.
    pub async fn read_json(&mut self, uri: &str) -> Value {
        let read = self.ok(json!({"op": "read", "uri": uri})).await;
        serde_json::from_str(read["contents"][0]["text"].as_str().unwrap()).unwrap()
    }

    pub async fn quit(mut self) {
        let answer = self.run(json!({"op": "quit"})).await;
        assert_eq!(answer["closed"], true, "{answer}");
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}
