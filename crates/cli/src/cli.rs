//! The command line: argument definitions only (clap derive). Behaviour lives in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fusion_core::config::{Category, Priority};

mod looped;

pub use looped::{LoopArgs, LoopCommand};

/// Fusion: a local-first gateway between AI clients and the models and tools they call.
///
/// With no config file, Fusion probes local model servers (Ollama :11434, LM Studio :1234,
/// llama.cpp :8080, vLLM :8000) and builds a default council from what answers.
#[derive(Debug, Parser)]
#[command(name = "fusion", version, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML, or the legacy JSON council format). Default: ./fusion.toml, then
    /// the council project's ./local-fusion.config.json and ./looped-fusion.config.json (`loop`
    /// looks for the second first), then the user config dir (~/.config/fusion/fusion.toml).
    #[arg(long, global = true, env = "FUSION_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter (tracing env-filter syntax), e.g. `debug` or `fusion_core=debug`.
    #[arg(long, global = true, env = "FUSION_LOG", default_value = "warn")]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask a council: the panel answers, a judge compares, a synthesizer writes the answer.
    ///
    /// Exit codes: 0 answered (possibly degraded), 1 no answer (every panel member failed),
    /// 2 usage or config error (including: no model server reachable).
    Ask(AskArgs),
    /// Let a model pick the tools: the catalog search of the configured MCP servers
    /// ([[mcp.servers]]) retrieves at most 8 candidate tools for REQUEST, and a tool-calling
    /// model (routed, local first, unless --model) chooses and calls them for up to
    /// --max-steps turns; prints its answer (--json: the answer with the trace of every step:
    /// tool, arguments, result size, latency, error). Tools annotated destructive or not
    /// annotated read-only run only with --allow-destructive; otherwise the step is refused
    /// and reported. The same as the MCP tool `fusion_do`.
    ///
    /// Exit codes: 0 answered, 1 no answer (the model failed, stopped at --max-steps, or no
    /// tool matched), 2 usage or config error.
    Do(DoArgs),
    /// Serve the OpenAI-compatible API (/v1/chat/completions, /v1/models), MCP Streamable HTTP
    /// (/mcp), the REST API (/api/usage, /api/models, /api/tasks, /api/queue, /api/events,
    /// POST /api/config/reload), /health, /ready and /metrics; and runs a worker pool for
    /// queued tasks. POST /api/tasks also takes the routing server's body (`task`,
    /// `context_length`, ...) and /api/queue its filters (`status`, `provider`, `model`,
    /// `task_id`, `q`, `page`, `page_size`); see the README's "Coming from …".
    ///
    /// Model names: any known model id (passed through to its provider, streaming included),
    /// `fusion/<council>`, `fusion` or `local/fusion` (the default council), or `router/auto` / `router/<cost|balanced|quality|speed>` (routed to
    /// the cheapest adequate model; the decision in the `fusion` field and the x-fusion-route
    /// header). Prints `FUSION_LISTEN_URL=http://ADDR` on stdout once listening; reloads the
    /// config file for every front door (/v1, /api, /mcp) on SIGHUP, when it changes, and on
    /// POST /api/config/reload or the `reload_config` tool; stops gracefully on SIGINT or
    /// SIGTERM.
    Serve(ServeArgs),
    /// Serve MCP over stdio: the `fusion_ask` tool (progress per panel member, judge and
    /// synthesizer; cancellable; `async` queues it), the router's `preemptive_route_task`,
    /// `get_cost_estimate`, `get_free_models`, `clear_openrouter_tracking` and
    /// `set_model_prompting_strategy`, the task tools `route_task`, `get_task_status`,
    /// `cancel_task` and `cancel_job`, code search's `code_index` and `code_search` (also
    /// `retriv_init`, `retriv_search`; stdio only), the loop checker's `looped_start`,
    /// `looped_report`, `looped_check_work`, `looped_fuse_review`, `looped_next` and
    /// `looped_status` (runs in the store; --root-dir writes their trails too), `reload_config`
    /// (with a config file: reload it now and say what changed), the resources
    /// fusion://status, fusion://councils, fusion://usage, fusion://catalog (also /free,
    /// /status), fusion://jobs/active, fusion://tasks/{id} and fusion://models/{id}/prompting,
    /// and every tool, prompt and resource of the child MCP servers in [[mcp.servers]] as
    /// `<server>__<name>` (plus `find_tools`, and `fusion_do`: a model picks and calls them).
    ///
    /// The tools take the argument names of the systems Fusion replaces too (`question`,
    /// `context_length`, camelCase spellings); README's "Coming from …" maps them.
    ///
    /// Stdout carries only MCP messages; logs go to stderr. Speaks both protocol eras: the
    /// `initialize` handshake and the stateless 2026-07-28 `server/discover`. Reloads the
    /// config file (children started, stopped or restarted as [[mcp.servers]] changed; clients
    /// told with list_changed) on SIGHUP and when it changes. Ends when the client closes
    /// stdin. `fusion serve` offers the same server over HTTP at /mcp.
    Mcp(McpArgs),
    /// Benchmark models: run task suites (built-in, or yours in TOML or JSONL) through the
    /// provider registry, validate every answer without a model, keep the results in the store
    /// (the router routes on them), and report quality, latency and cost per model and
    /// category. `fusion bench report` writes Markdown, JSON and SVG charts.
    Bench(crate::commands::bench::BenchArgs),
    /// Measure what Fusion's choices are worth: `council` (hidden issues found by a checker,
    /// one reviewer and councils) and `routing` (the router's cost–quality curve against
    /// baselines).
    #[command(subcommand)]
    Eval(crate::commands::eval::EvalCommand),
    /// Show (or run) a routing decision: which model `router/<priority>` would send TASK to,
    /// every candidate with why it ranked where it did or was rejected, and the estimates
    /// (tokens, complexity, category) it used.
    ///
    /// Exit codes: 0 routed (and answered, with --run), 1 no model qualifies or every routed
    /// call failed, 2 usage or config error.
    Route(RouteArgs),
    /// List every model the registry knows (configured, discovered from the providers, synced
    /// from catalogs) with tier, context window, price, health and p50 latency; `fusion models
    /// sync NAME` imports a provider's catalog (OpenRouter-style `/models` with pricing).
    Models(ModelsArgs),
    /// Show what the model calls cost: totals by model, by provider and by day, from the
    /// usage ledger in the store.
    Usage(UsageArgs),
    /// Build or update the code-search index of each PATH (one index per directory).
    ///
    /// Indexes live in the user data dir (`$FUSION_DATA_DIR/fusion/code-index`). .gitignore and
    /// .ignore are honoured, hidden, binary and large files skipped, files split into
    /// overlapping line chunks. Only changed files are re-read; deleted ones leave the index.
    /// Options not given keep the index's previous values.
    Index(IndexArgs),
    /// Search the code index: ranked chunks with path, line range, score and matching lines.
    ///
    /// BM25 ranking; identifiers match across styles (`parseConfig` finds `parse_config`).
    ///
    /// Exit codes: 0 matches found, 1 no match, 2 usage error or no index.
    Search(SearchArgs),
    /// The durable task queue in the store: list tasks, show one (jobs, decision, result),
    /// cancel one. Tasks are submitted by `route_task` / `fusion_ask` with `async` over MCP or
    /// `POST /api/tasks`, and run by the worker pool of any `fusion serve` or `fusion mcp`
    /// sharing the store.
    ///
    /// Exit codes: 0 done, 1 no such task (or it has already ended, for cancel), 2 usage or
    /// store error.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// The loop checker: one deliberation round for an agent's build loop — the Explorer,
    /// Builder, Critic and Performance Sentinel views in parallel, then the Loop Conductor's
    /// decision (continue, split, pause_for_human, possibly_stuck, complete) and the next
    /// prompt. `fusion loop status|list|export` read the durable runs of the build/check gate
    /// (the MCP `looped_*` tools).
    ///
    /// `fusion looped` is the same command, with the council project's flags (`--runDir`,
    /// `--runId`, `--heartbeat fresh`).
    ///
    /// Exit codes: 0 a decision (also pause_for_human), 1 no such run, 2 usage, config or
    /// store error.
    #[command(visible_alias = "looped")]
    Loop(LoopArgs),
    /// Inspect the configuration, or convert the replaced router's `.env` into one.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The task to route. Read from stdin when absent or `-`.
    pub task: Option<String>,

    /// Tokens of context the task carries (default: counted from TASK).
    #[arg(long, value_name = "N")]
    pub context_length: Option<u64>,

    /// Tokens the answer is expected to need (default: estimated from the category).
    #[arg(long, value_name = "N")]
    pub expected_output: Option<u64>,

    /// How hard the task is, 0 to 1 (default: estimated from TASK).
    #[arg(long, value_name = "X", value_parser = parse_unit)]
    pub complexity: Option<f64>,

    /// What kind of task it is: code, reasoning, writing, summarization or chat (default:
    /// estimated from TASK).
    #[arg(long, value_name = "CATEGORY", value_parser = parse_category)]
    pub category: Option<Category>,

    /// What to optimise for: cost, balanced, quality or speed (default: router.priority from
    /// the config, else balanced).
    #[arg(long, short = 'p', value_name = "PRIORITY", value_parser = parse_priority)]
    pub priority: Option<Priority>,

    /// Print the whole decision as JSON.
    #[arg(long)]
    pub json: bool,

    /// Also send TASK to the chosen model (falling back along the ranking) and print the answer.
    #[arg(long)]
    pub run: bool,
}

fn parse_priority(text: &str) -> Result<Priority, String> {
    Priority::parse(text)
        .ok_or_else(|| format!("`{text}` is not one of cost, balanced, quality, speed"))
}

fn parse_category(text: &str) -> Result<Category, String> {
    Category::parse(text).ok_or_else(|| {
        format!("`{text}` is not one of code, reasoning, writing, summarization, chat")
    })
}

fn parse_unit(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not a number between 0 and 1")),
    }
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: Option<ModelsCommand>,

    /// Print the providers and models as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Import the catalog of provider NAME (`GET {base_url}/models`, OpenRouter's shape with
    /// `pricing` and `context_length`) into the store now: zero-priced models (and `:free` ids)
    /// become tier free, the others paid at their price; entries without a price are left out.
    /// Replaces that provider's previous sync. (`fusion serve` and `fusion mcp` sync catalogs
    /// on their own, see `catalog` and `catalog_refresh`.)
    Sync {
        /// A configured provider (`[[providers]] name`).
        name: String,
        /// Keep only the free models.
        #[arg(long)]
        free_only: bool,
    },
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only calls of the last DURATION (`24h`, `7d`, `30m`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,

    /// Only calls of this model.
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,

    /// Only calls through this provider.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,

    /// Print the report as JSON (the same document as GET /api/usage).
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (write it like 24h or 7d)"))
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question. Read from stdin when absent or `-`.
    pub prompt: Option<String>,

    /// Which council to ask (default: `default`, or the only one configured).
    #[arg(long, short = 'c', value_name = "NAME")]
    pub council: Option<String>,

    /// Print the whole council result (analysis, responses, timings, usage) as JSON.
    #[arg(long)]
    pub json: bool,

    /// No progress on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DoArgs {
    /// What to get done. Read from stdin when absent or `-`.
    pub request: Option<String>,

    /// Only tools of this MCP server (a [[mcp.servers]] name; repeatable).
    #[arg(long = "server", short = 's', value_name = "NAME")]
    pub servers: Vec<String>,

    /// Most model turns (default 5, at most 20).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_steps: Option<u32>,

    /// The model that picks the tools (a configured model id; default: routed, local first).
    #[arg(long, short = 'm', value_name = "ID")]
    pub model: Option<String>,

    /// Let tools run that are annotated destructive or not annotated read-only.
    #[arg(long)]
    pub allow_destructive: bool,

    /// Print the whole answer with its trace as JSON.
    #[arg(long)]
    pub json: bool,

    /// No progress on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: server.listen from the config, else 127.0.0.1:8787).
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["host", "port"])]
    pub listen: Option<String>,

    /// The IP address to listen on, with the port of --port or the config (`localhost` is
    /// 127.0.0.1). --host and --port are the council project's spelling of --listen.
    #[arg(long, value_name = "IP", value_parser = parse_host)]
    pub host: Option<std::net::IpAddr>,

    /// The port to listen on (0: any free port), with the address of --host or the config.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Allow a non-loopback address without API keys (server.api_keys_env).
    #[arg(long)]
    pub allow_unauthenticated: bool,

    /// Runtime worker threads (default 1). One thread serves ~27k req/s of passthrough on a
    /// 2-core VM with the lowest added latency (see BENCHMARKS.md); add threads if a core is
    /// saturated.
    #[arg(long, env = "FUSION_WORKERS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
}

fn parse_host(text: &str) -> Result<std::net::IpAddr, String> {
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(std::net::IpAddr::from([127, 0, 0, 1]));
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("`{text}` is not an IP address like 127.0.0.1, 0.0.0.0 or ::1"))
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(subcommand)]
    pub command: Option<McpCommand>,

    /// Re-index, every DURATION (`10m`, `1h`), the code roots this server knows: the indexed
    /// one enclosing its working directory and those indexed or searched through it. Off by
    /// default.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub reindex_every: Option<std::time::Duration>,

    /// Also write each loop run's trail to DIR/<run_id>/ after every loop tool call that
    /// changed it (state.json, report-N.json, check-N.json, fusion-review-N.json, next-N.json:
    /// the council project's `--rootDir` layout). Runs live in the store either way.
    #[arg(long, visible_alias = "rootDir", value_name = "DIR")]
    pub root_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Start the configured child MCP servers, report each one's transport, state, tools and
    /// last error, and stop them. Exit 1 when any child is not ready.
    Status {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import MCP servers from a desktop client's config file (`{"mcpServers": {...}}` of
    /// Claude Desktop, Cursor, Cline, Windsurf; VS Code's `{"servers": {...}}`): prints them as
    /// `[[mcp.servers]]` TOML, or appends them to the config file with --write.
    Import {
        /// The JSON file to import.
        file: PathBuf,
        /// Append to the config file (--config, else ./fusion.toml) instead of printing.
        #[arg(long)]
        write: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it resolved (env expanded, secrets masked).
    Check,
    /// Convert the `.env` file of LocalLama MCP (the routing server Fusion replaces) into a
    /// fusion.toml, printed on stdout or written with --output.
    ///
    /// Its model servers become providers: LM_STUDIO_ENDPOINT `lmstudio`, OLLAMA_ENDPOINT
    /// `ollama` (Ollama's OpenAI-compatible /v1 instead of its native /api), LLAMA_CPP_ENDPOINT
    /// `llamacpp` (at /v1), all tier local; OPENROUTER_API_KEY the provider `openrouter` with
    /// its catalog, reading the key from the environment (the key itself is never written).
    /// DEFAULT_LOCAL_MODEL becomes a model of the first local provider; TOKEN_, COST_ and
    /// QUALITY_THRESHOLD, PROVIDER_HEALTH_PROBE_INTERVAL_MS and OPENROUTER_FREE_ONLY the
    /// [router] keys; PROVIDER_MAX_CONCURRENT_LOCAL/_REMOTE the [tasks] slots and the
    /// providers' max_concurrency; PROVIDER_TIMEOUT_MS and OLLAMA_TIMEOUT their timeouts.
    ///
    /// Stderr lists every key with no equivalent in Fusion (and why, or what to do instead)
    /// and every value that could not be used, by line. The file is read like dotenv does:
    /// `#` comments, `export `, quoted values, ` # comments` after unquoted ones.
    ///
    /// Exit codes: 0 converted, 2 the file cannot be read, a line is malformed (its number is
    /// given), or --output exists (without --force).
    Import(ConfigImportArgs),
}

#[derive(Debug, Args)]
pub struct ConfigImportArgs {
    /// The `.env` file to convert.
    pub file: PathBuf,

    /// Write the config to PATH instead of stdout (refused when PATH exists, unless --force).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Overwrite the --output file when it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Directories to index (each its own index).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Leave out files matching GLOB (gitignore syntax, relative to PATH; repeatable). Given
    /// at all, the list replaces the index's previous one.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Lines per chunk (default 60).
    #[arg(long, value_name = "N")]
    pub chunk_lines: Option<usize>,

    /// Lines shared by consecutive chunks (default 10).
    #[arg(long, value_name = "N")]
    pub overlap: Option<usize>,

    /// Skip files larger than this many bytes (default 1048576).
    #[arg(long, value_name = "BYTES")]
    pub max_file_bytes: Option<u64>,

    /// BM25 k1, term-frequency saturation (default 1.2); kept with the index for searches.
    #[arg(long, value_name = "K1")]
    pub bm25_k1: Option<f32>,

    /// BM25 b, length normalization from 0 to 1 (default 0.75); kept with the index.
    #[arg(long, value_name = "B")]
    pub bm25_b: Option<f32>,

    /// Rebuild from scratch (options not given take their defaults).
    #[arg(long)]
    pub force: bool,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    /// No progress bar on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for: identifiers in any style, or words.
    pub query: String,

    /// The indexed directory to search (default: the one enclosing the current directory); a
    /// subdirectory of an indexed one searches only under it.
    #[arg(long, value_name = "PATH")]
    pub root: Option<PathBuf>,

    /// Most hits to show.
    #[arg(long, short = 'n', default_value_t = 10, value_name = "N")]
    pub limit: usize,

    /// Only paths matching GLOB (`src/**/*.rs`; without `/` also file names: `*.py`), or a
    /// directory or file path (`crates/mcp`).
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,

    /// Only files of this language (`rust`, `python`, ... or an extension: `rs`, `py`).
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,

    /// Print the hits as JSON (match ranges as character offsets, no highlighting).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Tasks, newest first.
    List(TasksListArgs),
    /// One task: state, progress, queue position, jobs, routing decision and result.
    Show {
        /// The task id (`task_...`).
        id: String,
        /// Print the task as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a task: a queued one at once; a running one is stopped by the process running
    /// it (within its lease renewal, a few seconds).
    Cancel {
        /// The task id (`task_...`).
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct TasksListArgs {
    /// Only tasks in this state.
    #[arg(long, value_enum)]
    pub status: Option<TaskStateArg>,
    /// Only tasks that ran on (or were routed to) this provider.
    #[arg(long)]
    pub provider: Option<String>,
    /// Only tasks that ran on (or were routed to) this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Only tasks whose id, request or result contains this text.
    #[arg(long, short = 'q')]
    pub query: Option<String>,
    /// Page to show, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// Tasks per page.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub page_size: u32,
    /// Print the page as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskStateArg {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}
