//! Command-line arguments of the `mock-provider` binary (definitions only).

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;

const SCRIPT_HELP: &str = r#"SCRIPT FORMAT (--script FILE, JSON; unknown keys are errors):
  {
    "models": {                       // scripts by exact model name
      "fast":  { "reply": { "fixed": "hello" }, "latency_ms": 50 },
      "flaky": { "fail_first": 2,
                 "failure": { "status": { "status": 503, "message": "busy", "retry_after": 1 } } },
      "seq":   { "reply": { "sequence": ["one", "two"] } },
      "tmpl":  { "reply": { "template": "[{model}] {system} / {prompt}" } },
      "pick":  { "reply": { "by_prompt_contains": [["weather", "sunny"]] } },
      "cut":   { "reply": { "fixed": "a b c d" }, "chunk_words": 2, "chunk_delay_ms": 20,
                 "cut_after_chunks": 1 },
      "down":  { "failure": "reset" },
      "quiet": { "usage": false },
      "capped": { "rate_limit": { "limit": 50, "window_secs": 86400 } },
      "priced": { "context_length": 8192,
                  "pricing": { "prompt": "0.000003", "completion": "0.000015" } }
    },
    "default": { "reply": "echo" },   // any other model; omit it to answer 404 model_not_found
    "server": "openai"                // openai | llama_cpp | ollama | lm_studio | vllm
  }

  ModelScript fields (all optional): reply (default "echo"), latency_ms (0), failure,
  fail_first, usage (true), chunk_delay_ms (0), cut_after_chunks, chunk_words (1),
  context_length, pricing (USD per token as strings), rate_limit (X-RateLimit-* headers;
  calls beyond the limit get 429).
  server:  where context lengths are reported: /v1/models (openai: context_length; vllm:
           max_model_len), GET /props (llama_cpp), POST /api/show (ollama),
           GET /api/v0/models (lm_studio).
  reply:   "echo" | {"fixed": S} | {"template": S} | {"sequence": [S, ..]}
           | {"by_prompt_contains": [[NEEDLE, ANSWER], ..]}
  failure: {"status": {"status": N, "message": S, "retry_after": SECS}}
           | "hang" | "malformed" | "empty_choices" | "reset"

On start the server prints exactly one line to stdout:
  MOCK_PROVIDER_URL=http://127.0.0.1:PORT/v1
Logs go to stderr (RUST_LOG filters them). It stops on SIGINT or SIGTERM."#;

/// A scriptable fake OpenAI-compatible model server for tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "mock-provider", version, after_help = SCRIPT_HELP)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port. Loopback only unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// JSON script file. Without it every model echoes.
    #[arg(long)]
    pub script: Option<PathBuf>,

    /// Model names to add as echo models (listed by /v1/models); scripted names win.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,

    /// Latency for the default script and for the --models entries.
    #[arg(long)]
    pub latency_ms: Option<u64>,

    /// Allow listening on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
}
