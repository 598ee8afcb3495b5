//! A command-line agent as a model (`claude -p`, `codex exec`, `pi -p`): renders the chat as one
//! prompt, runs the command, and returns its stdout as the answer — streamed line by line as
//! the command prints it. `{model}` in an argument is replaced by the upstream model name, so
//! one command can serve several models (`pi --print --model {model}`). Failures become
//! `ErrorKind::Exec` with the exit status and stderr.

use std::collections::BTreeMap;
use std::io::ErrorKind as Io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use fusion_types::{ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, Role};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

use super::ChunkStream;
use crate::config::{PromptVia, ProviderConfig};
use crate::{Error, ErrorKind, Result};

/// Most stdout kept; a command printing more is killed and the call fails.
const STDOUT_LIMIT: u64 = 8 * 1024 * 1024;
/// The tail of stderr kept for error messages.
const STDERR_TAIL: usize = 64 * 1024;
/// Lines of that tail quoted in an error.
const STDERR_LINES: usize = 20;

/// Replaced by the request's upstream model name in each argument.
pub const MODEL_PLACEHOLDER: &str = "{model}";

/// One configured command.
pub struct ExecBackend {
    name: String,
    program: String,
    args: Vec<String>,
    prompt_via: PromptVia,
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
}

impl ExecBackend {
    pub fn new(config: &ProviderConfig) -> Result<Self> {
        let Some((program, args)) = config.command.as_deref().and_then(<[String]>::split_first)
        else {
            return Err(ErrorKind::Invalid(format!(
                "provider `{}`: kind = \"exec\" needs a non-empty `command`",
                config.name
            ))
            .into());
        };
        Ok(Self {
            name: config.name.clone(),
            program: program.clone(),
            args: args.to_vec(),
            prompt_via: config.prompt_via,
            env: config.env.clone(),
            cwd: config.cwd.clone(),
        })
    }

    /// Runs the command to completion; the trimmed stdout is the answer.
    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let mut run = self.start(request)?;
        let mut usage = None;
        while let Some(chunk) = run.next_chunk().await {
            usage = chunk?.usage.or(usage);
        }
        Ok(ChatResponse {
            id: run.id,
            object: "chat.completion".into(),
            created: run.created,
            model: run.model,
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::text(Role::Assistant, run.answer),
                finish_reason: Some("stop".into()),
                extra: Map::new(),
            }],
            usage,
            extra: Map::new(),
        })
    }

    /// Starts the command and resolves once it printed its first line (or failed), so a
    /// command that fails outright fails the call; later failures end the stream as an error.
    pub async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream> {
        let mut run = self.start(request)?;
        let first = match run.next_chunk().await {
            Some(first) => first?,
            None => return Err(run.fail("ended without an answer".into())),
        };
        let rest = futures::stream::unfold(run, |mut run| async move {
            run.next_chunk().await.map(|item| (item, run))
        });
        Ok(futures::stream::once(async move { Ok(first) })
            .chain(rest)
            .boxed())
    }

    /// Whether the command can be started: an existing path, or a name found on `PATH`.
    pub async fn probe(&self) -> Result<()> {
        let program = std::path::Path::new(&self.program);
        let found = if program.components().count() > 1 {
            program.is_file()
        } else {
            std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
            })
        };
        if found {
            Ok(())
        } else {
            Err(self.error(format!(
                "command `{}` not found (is it installed and on PATH?)",
                self.program
            )))
        }
    }

    /// Spawns the command with the prompt on stdin or as its last argument.
    fn start(&self, request: &ChatRequest) -> Result<ExecRun> {
        let prompt = crate::transcript::render(&request.messages);
        let mut command = Command::new(&self.program);
        command
            .args(
                self.args
                    .iter()
                    .map(|arg| arg.replace(MODEL_PLACEHOLDER, &request.model)),
            )
            .envs(&self.env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        match self.prompt_via {
            PromptVia::Stdin => command.stdin(Stdio::piped()),
            PromptVia::Argument => command.arg(&prompt).stdin(Stdio::null()),
        };
        let mut child = command.spawn().map_err(|e| self.spawn_error(&e))?;
        tracing::debug!(provider = %self.name, program = %self.program, pid = ?child.id(), "exec: started");

        if let Some(mut stdin) = child.stdin.take() {
            let program = self.program.clone();
            // Written concurrently with reading stdout: a command may print before it has read
            // all of a large prompt. Dropping `stdin` afterwards closes it.
            tokio::spawn(async move {
                if let Err(e) = stdin.write_all(prompt.as_bytes()).await
                    && e.kind() != Io::BrokenPipe
                {
                    tracing::warn!(%program, "exec: writing the prompt to stdin failed: {e}");
                }
            });
        }
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(self.error("stdout or stderr was not captured".into()));
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(ExecRun {
            provider: self.name.clone(),
            program: self.program.clone(),
            id: format!("exec-{nanos}"),
            created: (nanos / 1_000_000_000) as u64,
            model: request.model.clone(),
            messages: request.messages.clone(),
            child,
            stdout: BufReader::new(stdout),
            stderr: tokio::spawn(read_tail(stderr, STDERR_TAIL)),
            read: 0,
            answer: String::new(),
            held: String::new(),
            pending: None,
            done: false,
        })
    }

    fn spawn_error(&self, err: &std::io::Error) -> Error {
        let program = &self.program;
        let message = match (err.kind(), &self.cwd) {
            (Io::NotFound, Some(cwd)) if !cwd.is_dir() => {
                format!("working directory `{}` does not exist", cwd.display())
            }
            (Io::NotFound, _) => {
                format!("command `{program}` not found (is it installed and on PATH?)")
            }
            (Io::PermissionDenied, _) => format!("command `{program}` is not executable: {err}"),
            // E2BIG: the prompt does not fit on a command line.
            _ if err.raw_os_error() == Some(7) => format!(
                "the prompt is too long to pass to `{program}` as an argument; use prompt_via = \"stdin\""
            ),
            _ => format!("cannot start `{program}`: {err}"),
        };
        self.error(message)
    }

    fn error(&self, message: String) -> Error {
        ErrorKind::Exec {
            provider: self.name.clone(),
            message,
        }
        .into()
    }
}

/// One running command and the answer read from it so far.
struct ExecRun {
    provider: String,
    program: String,
    id: String,
    created: u64,
    model: String,
    /// The request's messages, for the usage estimate.
    messages: Vec<ChatMessage>,
    /// Killed when dropped: a timed-out or cancelled call ends the command.
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: JoinHandle<String>,
    /// Bytes of stdout read.
    read: u64,
    /// The answer emitted so far: stdout, trimmed.
    answer: String,
    /// Whitespace held back until more text follows it (so the answer ends trimmed).
    held: String,
    /// The first content chunk, waiting behind the role chunk.
    pending: Option<ChatChunk>,
    done: bool,
}

impl ExecRun {
    /// The next chunk: the role chunk, one per line of stdout, then a final chunk with the
    /// finish reason and estimated usage — or an error, after which the run is over.
    async fn next_chunk(&mut self) -> Option<Result<ChatChunk>> {
        if let Some(chunk) = self.pending.take() {
            return Some(Ok(chunk));
        }
        if self.done {
            return None;
        }
        let item = self.advance().await;
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }

    async fn advance(&mut self) -> Result<ChatChunk> {
        loop {
            let mut line = Vec::new();
            let limit = STDOUT_LIMIT - self.read + 1;
            let n = (&mut self.stdout)
                .take(limit)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| self.fail(format!("reading stdout: {e}")))?;
            if n == 0 {
                return self.finish().await;
            }
            self.read += n as u64;
            if self.read > STDOUT_LIMIT {
                if let Err(e) = self.child.start_kill() {
                    tracing::warn!(program = %self.program, "exec: kill failed: {e}");
                }
                return Err(self.fail(format!("printed more than {STDOUT_LIMIT} bytes")));
            }
            let Some(text) = self.visible(&String::from_utf8_lossy(&line)) else {
                continue;
            };
            let first = self.answer.is_empty();
            self.answer.push_str(&text);
            let content = self.chunk(json!({ "content": text }), None);
            if !first {
                return Ok(content);
            }
            self.pending = Some(content);
            return Ok(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
    }

    /// The part of a line to emit now; whitespace is held back so that the concatenated
    /// chunks equal the trimmed stdout.
    fn visible(&mut self, line: &str) -> Option<String> {
        let line = if self.answer.is_empty() {
            line.trim_start()
        } else {
            line
        };
        let body = line.trim_end();
        if body.is_empty() {
            self.held.push_str(line);
            return None;
        }
        let text = std::mem::take(&mut self.held) + body;
        self.held = line[body.len()..].to_owned();
        Some(text)
    }

    /// Stdout is closed: the exit status decides between the final chunk and an error.
    async fn finish(&mut self) -> Result<ChatChunk> {
        self.done = true;
        let status = self.child.wait().await;
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        let status = status.map_err(|e| self.fail(format!("waiting for the command: {e}")))?;
        if !status.success() {
            return Err(self.fail(format!("{}{}", describe(status), quote(&stderr))));
        }
        if self.answer.is_empty() {
            return Err(self.fail(format!("produced no output{}", quote(&stderr))));
        }
        let usage = crate::tokens::estimate_usage_off_worker(&self.messages, &self.answer).await;
        let mut chunk = self.chunk(json!({}), Some("stop"));
        chunk.usage = Some(usage);
        Ok(chunk)
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> ChatChunk {
        ChatChunk::single(&self.id, &self.model, self.created, delta, finish_reason)
    }

    fn fail(&self, message: String) -> Error {
        ErrorKind::Exec {
            provider: self.provider.clone(),
            message: format!("`{}` {message}", self.program),
        }
        .into()
    }
}

/// "exited with status N" or "was killed by signal N".
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    format!("ended abnormally ({status})")
}

/// The last lines of stderr, for an error message.
fn quote(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    let tail = lines[lines.len().saturating_sub(STDERR_LINES)..].join("\n");
    if tail.trim().is_empty() {
        "; stderr was empty".to_owned()
    } else {
        format!("; stderr:\n{tail}")
    }
}

/// Reads a pipe to its end, keeping only the last `limit` bytes.
async fn read_tail(mut pipe: impl AsyncRead + Unpin, limit: usize) -> String {
    let mut tail = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * limit {
            tail.drain(..tail.len() - limit);
        }
    }
    if tail.len() > limit {
        tail.drain(..tail.len() - limit);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn backend(command: &[&str], extra: Value) -> ExecBackend {
        let mut config = json!({"name": "cli", "kind": "exec", "command": command});
        if let (Value::Object(config), Value::Object(extra)) = (&mut config, extra) {
            config.extend(extra);
        }
        let config: ProviderConfig = serde_json::from_value(config).unwrap();
        ExecBackend::new(&config).unwrap()
    }

    fn ask(text: &str) -> ChatRequest {
        ChatRequest::simple("agent-model", None, text)
    }

    fn exec_message(err: &Error) -> &str {
        match err.kind() {
            ErrorKind::Exec { provider, message } => {
                assert_eq!(provider, "cli");
                message
            }
            other => panic!("expected an exec error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn stdin_prompt_reaches_the_command_and_stdout_is_the_answer() {
        let response = backend(&["cat"], json!({}))
            .chat(&ask("  hello world\n\n"))
            .await
            .unwrap();
        assert_eq!(response.first_text(), "hello world");
        assert_eq!(response.model, "agent-model");
        assert!(response.id.starts_with("exec-"), "{}", response.id);
        assert_eq!(response.choices[0].finish_reason.as_deref(), Some("stop"));
        let usage = response.usage.unwrap();
        assert!(usage.estimated && usage.completion_tokens > 0, "{usage:?}");
    }

    #[tokio::test]
    async fn a_conversation_is_passed_as_a_labelled_transcript() {
        let mut request = ChatRequest::simple("m", Some("Be terse."), "What is 2+2?");
        request
            .messages
            .push(ChatMessage::text(Role::Assistant, "4"));
        request
            .messages
            .push(ChatMessage::text(Role::User, "And 3+3?"));
        let response = backend(&["cat"], json!({})).chat(&request).await.unwrap();
        assert_eq!(
            response.first_text(),
            "Be terse.\n\nUser: What is 2+2?\n\nAssistant: 4\n\nUser: And 3+3?"
        );
    }

    #[tokio::test]
    async fn argument_mode_appends_the_prompt_as_the_last_argument() {
        let cli = backend(
            &[
                "sh",
                "-c",
                "printf 'got[%s] stdin[' \"$1\"; cat; printf ']'",
                "sh",
            ],
            json!({"prompt_via": "argument"}),
        );
        let response = cli.chat(&ask("two words")).await.unwrap();
        assert_eq!(response.first_text(), "got[two words] stdin[]");
    }

    #[tokio::test]
    async fn model_placeholder_in_arguments_becomes_the_upstream_model() {
        let cli = backend(
            &[
                "sh",
                "-c",
                "printf 'model[%s] %s' \"$1\" \"$(cat)\"",
                "sh",
                "--model={model}",
            ],
            json!({}),
        );
        let response = cli
            .chat(&ChatRequest::simple("zai/glm-5.2", None, "hi"))
            .await
            .unwrap();
        assert_eq!(response.first_text(), "model[--model=zai/glm-5.2] hi");
    }

    #[tokio::test]
    async fn env_and_cwd_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        let cli = backend(
            &[
                "sh",
                "-c",
                "printf '%s %s' \"$FUSION_EXEC_TEST\" \"$(pwd -P)\"",
            ],
            json!({"env": {"FUSION_EXEC_TEST": "from-config"}, "cwd": cwd}),
        );
        let response = cli.chat(&ask("x")).await.unwrap();
        assert_eq!(
            response.first_text(),
            format!("from-config {}", cwd.display())
        );
    }

    #[tokio::test]
    async fn nonzero_exit_is_an_exec_error_quoting_stderr() {
        let cli = backend(
            &[
                "sh",
                "-c",
                "echo partial; echo 'model overloaded' >&2; exit 3",
            ],
            json!({}),
        );
        let err = cli.chat(&ask("x")).await.unwrap_err();
        let message = exec_message(&err);
        assert!(message.contains("exited with status 3"), "{message}");
        assert!(message.contains("model overloaded"), "{message}");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn a_missing_program_is_named_in_the_error() {
        let cli = backend(&["fusion-no-such-agent-cli"], json!({}));
        let err = cli.chat(&ask("x")).await.unwrap_err();
        let message = exec_message(&err);
        assert!(
            message.contains("`fusion-no-such-agent-cli` not found"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn empty_or_blank_output_is_an_error() {
        for command in [&["true"][..], &["sh", "-c", "printf '  \\n\\n'"]] {
            let err = backend(command, json!({}))
                .chat(&ask("x"))
                .await
                .unwrap_err();
            assert!(exec_message(&err).contains("produced no output"), "{err}");
        }
    }

    #[tokio::test]
    async fn dropping_the_call_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > '{}'; exec sleep 30", pid_file.display());
        let cli = backend(&["sh", "-c", &script], json!({}));
        let outcome = tokio::time::timeout(Duration::from_millis(500), cli.chat(&ask("x"))).await;
        assert!(outcome.is_err(), "the command should still be running");
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .to_owned();
        // Gone, or a zombie waiting for tokio's reaper: either way no longer running.
        let mut running = true;
        for _ in 0..50 {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
            running = state.is_some_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|s| !s.trim_start().starts_with('Z'))
            });
            if !running {
                break;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        assert!(!running, "process {pid} survived the cancelled call");
    }

    #[tokio::test]
    async fn streaming_yields_lines_as_printed_then_a_final_chunk() {
        let cli = backend(
            &["sh", "-c", "printf 'one\\n'; sleep 1; printf 'two\\n\\n'"],
            json!({}),
        );
        // Resolves on the first line, well before the command ends.
        let stream = tokio::time::timeout(Duration::from_millis(800), cli.chat_stream(&ask("x")))
            .await
            .expect("the stream should start before the command ends")
            .unwrap();
        let chunks: Vec<ChatChunk> = stream.map(|c| c.unwrap()).collect().await;
        assert_eq!(chunks[0].choices[0].delta["role"], "assistant");
        let texts: Vec<&str> = chunks.iter().filter_map(ChatChunk::delta_text).collect();
        assert_eq!(texts, ["", "one", "\ntwo"]);
        let last = chunks.last().unwrap();
        assert_eq!(last.choices[0].finish_reason.as_deref(), Some("stop"));
        assert!(last.usage.is_some_and(|u| u.estimated));
    }

    #[tokio::test]
    async fn streaming_failures_surface_at_the_call_or_as_the_last_item() {
        let cli = backend(&["sh", "-c", "echo fatal >&2; exit 1"], json!({}));
        let err = cli.chat_stream(&ask("x")).await.err().unwrap();
        assert!(exec_message(&err).contains("fatal"), "{err}");

        let cli = backend(&["sh", "-c", "echo partial; exit 2"], json!({}));
        let items: Vec<Result<ChatChunk>> =
            cli.chat_stream(&ask("x")).await.unwrap().collect().await;
        assert_eq!(items.len(), 3, "role, content, error");
        assert_eq!(items[1].as_ref().unwrap().delta_text(), Some("partial"));
        let err = items[2].as_ref().unwrap_err();
        assert!(exec_message(err).contains("exited with status 2"), "{err}");
    }
}
