//! The configuration model: typed `fusion.toml` sections (providers, models, councils, router,
//! tasks, mcp, loop), their defaults and validation. Loading (file lookup, `${ENV}` expansion,
//! the legacy JSON council format), masked rendering and zero-config discovery live in the
//! submodules.

pub mod aliases;
mod bounds;
mod discovery;
pub(crate) mod duration;
pub mod edit;
mod env_import;
mod expand;
mod import;
mod legacy;
mod load;
mod looped;
mod mcp;
mod render;
mod router;
mod storage;
mod tasks;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use discovery::{DiscoveredServer, Discovery, ProbeTarget, default_probe_targets, discover};
pub use env_import::{
    EnvImport, EnvImportError, ROUTER_ENDPOINT_VARS, Unmapped, UnusedValue, import_router_env,
    import_router_process_env,
};
pub use expand::EnvSourced;
pub use import::{Imported, import_mcp_servers, render_mcp_servers};
pub use load::{LoadedConfig, check_toml, load, load_file, load_for_loop, parse_text};
pub use looped::{COUNCIL_PREFIX, LoopConfig, LoopRoles};
pub use mcp::{CatalogMode, McpConfig, McpServerConfig, ToolFilter, is_name_char};
pub use render::render_masked;
pub use router::{Category, EscalateConfig, Priority, QualityPriors, RouterConfig};
pub use storage::StorageConfig;
pub use tasks::{OnInterrupt, TasksConfig};

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    #[serde(default)]
    pub councils: BTreeMap<String, CouncilConfig>,
    #[serde(default)]
    pub router: RouterConfig,
    /// `[tasks]`: the durable task queue's worker pool (see `tasks.rs`).
    #[serde(default)]
    pub tasks: TasksConfig,
    #[serde(default)]
    pub mcp: McpConfig,
    /// `[loop]`: the loop checker's role models and gate thresholds (see `looped.rs`).
    #[serde(default, rename = "loop")]
    pub looped: LoopConfig,
    /// `[prompting."MODEL"]`: how a model is prompted on every call, by Fusion model id — a
    /// configured, discovered or catalog (`provider/model`) one (see `crate::prompting`). A
    /// strategy set through MCP (`set_model_prompting_strategy`) wins over this one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompting: BTreeMap<String, crate::prompting::PromptingStrategy>,
    /// `[aliases]`: client model names (globs) → Fusion model ids, for every front door (see
    /// `aliases.rs`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
    /// The values that came from `${ENV}` expansion: dotted key → the text written in the
    /// file. Showing the config shows that text, never the variable's value (see `render.rs`).
    #[serde(skip)]
    pub env_sourced: EnvSourced,
}

/// `[server]`: where `fusion serve` listens, which bearer keys it accepts, and its limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Names of environment variables holding accepted bearer keys.
    #[serde(default)]
    pub api_keys_env: Vec<String>,
    /// Largest request body accepted, in bytes (default 4 MiB); larger ones get HTTP 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long a shutdown waits for in-flight requests before closing them.
    #[serde(default = "default_shutdown_grace", with = "duration")]
    pub shutdown_grace: Duration,
    /// Browser origins (`scheme://host[:port|:*]`) allowed to call `/mcp`, besides loopback
    /// ones; a request from any other `Origin` gets 403.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Host names (or `host:port`) accepted in the `Host` header of `/mcp` requests, besides
    /// loopback names; needed when clients reach Fusion by another name (DNS-rebinding guard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Connections served at once; past it a new connection is closed at once (default 512,
    /// below the usual limit of 1,024 open files).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and the longest an idle keep-alive
    /// connection is kept (default 30 s).
    #[serde(default = "default_header_timeout", with = "duration")]
    pub header_timeout: Duration,
    /// Longest pause while a request body arrives (default 60 s).
    #[serde(default = "default_body_timeout", with = "duration")]
    pub body_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            api_keys_env: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
            shutdown_grace: default_shutdown_grace(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_connections: default_max_connections(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
        }
    }
}

fn default_max_connections() -> usize {
    512
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_body_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_body_bytes() -> usize {
    4 * 1024 * 1024
}

fn default_shutdown_grace() -> Duration {
    Duration::from_secs(10)
}

fn default_listen() -> String {
    "127.0.0.1:8787".to_owned()
}

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible `/chat/completions` server.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// A command-line agent: prompt in, answer on stdout.
    Exec,
}

/// Where a model runs, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Local,
    Free,
    Paid,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Free => "free",
            Self::Paid => "paid",
        }
    }
}

/// How an `exec` provider receives the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PromptVia {
    #[default]
    Stdin,
    /// Appended as the last argument of the command.
    Argument,
}

impl PromptVia {
    fn is_stdin(&self) -> bool {
        *self == Self::Stdin
    }
}

/// `[[providers]]`: one upstream and how to call it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Base URL up to and including the API version (`http://127.0.0.1:11434/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// An inline key; only the legacy JSON format can set it (TOML takes `api_key_env`).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Extra HTTP headers sent on every call (`${ENV}` is expanded).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub tier: Tier,
    /// Calls in flight at once; default 1 for `exec`, 8 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// Calls allowed to wait for a free slot; beyond that a call is refused at once (HTTP 429).
    /// Default 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue: Option<usize>,
    /// Per-call timeout (`"120s"`, `"2m"`).
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Extra attempts after a retryable failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// `exec`: the command and its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `exec`: how the prompt is passed.
    #[serde(default, skip_serializing_if = "PromptVia::is_stdin")]
    pub prompt_via: PromptVia,
    /// `exec`: extra environment for the command.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `exec`: working directory for the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Whether the provider lists an OpenRouter-style catalog (prices and context windows per
    /// model) that is synced at start and every `catalog_refresh`. Unset: detected from the
    /// first listing (entries with `pricing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<bool>,
    /// How often a catalog is synced again (default 24 h).
    #[serde(default = "default_catalog_refresh", with = "duration")]
    pub catalog_refresh: Duration,
    /// Largest non-streamed upstream answer read, in bytes (default 32 MiB); a larger one
    /// fails the call with HTTP 502 `upstream_response_too_large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// `kind = "openai"` only: the server also speaks OpenAI's Responses API
    /// (`POST {base_url}/responses`, as OpenAI does), so `/v1/responses` for its models is passed
    /// through as the client wrote it instead of translated to chat completions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub responses: bool,
}

impl ProviderConfig {
    /// The concurrency limit with its per-kind default.
    pub fn concurrency(&self) -> usize {
        self.max_concurrency
            .unwrap_or(match self.kind {
                ProviderKind::Exec => 1,
                _ => 8,
            })
            .max(1)
    }

    /// How many calls may wait for a slot.
    pub fn queue_limit(&self) -> usize {
        self.max_queue.unwrap_or(256)
    }

    /// The cap on a non-streamed upstream answer, with its default.
    pub fn response_limit(&self) -> u64 {
        self.max_response_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES)
    }
}

/// Default cap on a non-streamed upstream answer: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

fn default_catalog_refresh() -> Duration {
    Duration::from_secs(24 * 60 * 60)
}

fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_retries() -> u32 {
    2
}

/// Price per million tokens, in US dollars.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(default)]
    pub input_per_mtok: f64,
    #[serde(default)]
    pub output_per_mtok: f64,
}

/// `[[models]]`: a model under the name Fusion uses for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name used everywhere in Fusion.
    pub id: String,
    pub provider: String,
    /// The name the upstream expects; defaults to `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Quality priors per task category (0–1), used by the router until measured scores
    /// exist: `quality = { default = 0.6, code = 0.8 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityPriors>,
}

impl ModelConfig {
    /// The model name sent upstream.
    pub fn upstream_name(&self) -> &str {
        self.model.as_deref().unwrap_or(&self.id)
    }
}

/// `[councils.NAME]`: a panel, a judge and a synthesizer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CouncilConfig {
    /// Ask the panel concurrently (default) or one member after another.
    #[serde(default = "default_true")]
    pub parallel: bool,
    /// The panel deadline (also spelled `deadline`): when it passes the council goes on with
    /// the members that answered; those still running are cut (their calls cancelled) and
    /// counted as failed.
    #[serde(
        default = "default_council_timeout",
        with = "duration",
        alias = "deadline"
    )]
    pub timeout: Duration,
    /// Go to the judge as soon as this many members answered (1 to the panel's size); the
    /// others are cut, their calls cancelled. `None`: wait for the whole panel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<usize>,
    pub panel: Vec<MemberConfig>,
    pub judge: MemberConfig,
    /// Defaults to the judge's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthesizer: Option<MemberConfig>,
    /// Facts about how this council was assembled, copied into every trace.
    #[serde(skip)]
    pub notes: Vec<String>,
}

fn default_true() -> bool {
    true
}

fn default_council_timeout() -> Duration {
    Duration::from_secs(180)
}

/// One seat of a council: a model and how it is asked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    pub model: String,
    /// The member's name in traces; defaults to the model id (suffixed when repeated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// An invalid configuration: which file, which key, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {key}: {reason}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path of the offending key (`providers[1].timeout`), or `-` for the whole file.
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl Config {
    /// The council to run: `wanted` when given, else the one named `default`, else the only one.
    /// The error says which councils exist, for the caller to show as is.
    pub fn pick_council(&self, wanted: Option<&str>) -> Result<&str, String> {
        let known = || {
            let names: Vec<&str> = self.councils.keys().map(String::as_str).collect();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        };
        if let Some(name) = wanted {
            return match self.councils.get_key_value(name) {
                Some((name, _)) => Ok(name),
                None => Err(format!(
                    "no council named `{name}`; configured councils: {}",
                    known()
                )),
            };
        }
        if let Some((name, _)) = self.councils.get_key_value("default") {
            return Ok(name);
        }
        match self.councils.keys().next() {
            Some(only) if self.councils.len() == 1 => Ok(only),
            Some(_) => Err(format!(
                "several councils are configured and none is named `default`; name one ({})",
                known()
            )),
            None => Err(
                "no council is configured; add a [councils.default] section (see README)"
                    .to_owned(),
            ),
        }
    }

    /// Checks cross-references and required fields. Returns the first problem found.
    pub fn validate(&self, file: &std::path::Path) -> Result<(), ConfigError> {
        let err = |key: String, reason: String| Err(ConfigError::new(file, key, reason));
        let mut provider_names = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            if p.name.trim().is_empty() {
                return err(format!("providers[{i}].name"), "must not be empty".into());
            }
            if !provider_names.insert(p.name.as_str()) {
                return err(
                    format!("providers[{i}].name"),
                    format!("duplicate provider name `{}`", p.name),
                );
            }
            match p.kind {
                ProviderKind::Openai | ProviderKind::Anthropic => {
                    let Some(url) = &p.base_url else {
                        if p.kind == ProviderKind::Anthropic {
                            continue; // defaults to https://api.anthropic.com/v1
                        }
                        return err(
                            format!("providers[{i}].base_url"),
                            "required for kind = \"openai\"".into(),
                        );
                    };
                    if reqwest::Url::parse(url).is_err() {
                        return err(
                            format!("providers[{i}].base_url"),
                            format!("`{url}` is not a valid URL"),
                        );
                    }
                }
                ProviderKind::Exec => {
                    if p.command.as_ref().is_none_or(|c| c.is_empty()) {
                        return err(
                            format!("providers[{i}].command"),
                            "required for kind = \"exec\" (for example [\"claude\", \"-p\"])"
                                .into(),
                        );
                    }
                }
            }
            if p.timeout.is_zero() {
                return err(format!("providers[{i}].timeout"), "must be positive".into());
            }
            if p.responses && p.kind != ProviderKind::Openai {
                return err(
                    format!("providers[{i}].responses"),
                    "only a kind = \"openai\" provider can speak OpenAI's Responses API".into(),
                );
            }
        }
        let mut model_ids = std::collections::HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            if !model_ids.insert(m.id.as_str()) {
                return err(
                    format!("models[{i}].id"),
                    format!("duplicate model id `{}`", m.id),
                );
            }
            if !provider_names.contains(m.provider.as_str()) {
                return err(
                    format!("models[{i}].provider"),
                    format!("no provider named `{}`", m.provider),
                );
            }
            if let Some(priors) = &m.quality
                && let Err((key, reason)) = router::validate_priors(priors)
            {
                return err(format!("models[{i}].quality.{key}"), reason);
            }
        }
        if let Err((key, reason)) = router::validate(&self.router) {
            return err(key, reason);
        }
        if let Err((key, reason)) = router::validate_escalate(&self.router, &self.councils) {
            return err(key, reason);
        }
        if let Err((key, reason)) = tasks::validate(&self.tasks, &self.providers) {
            return err(key, reason);
        }
        if let Err((key, reason)) = aliases::validate(&self.aliases) {
            return err(key, reason);
        }
        for (name, council) in &self.councils {
            let seats = council
                .panel
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("councils.{name}.panel[{i}].model"), m))
                .chain([(format!("councils.{name}.judge.model"), &council.judge)])
                .chain(
                    council
                        .synthesizer
                        .iter()
                        .map(|m| (format!("councils.{name}.synthesizer.model"), m)),
                );
            for (key, seat) in seats {
                if !model_ids.contains(seat.model.as_str()) {
                    return err(key, format!("no model with id `{}`", seat.model));
                }
            }
            if council.panel.is_empty() {
                return err(
                    format!("councils.{name}.panel"),
                    "needs at least one member".into(),
                );
            }
        }
        for (model, strategy) in &self.prompting {
            if model.trim().is_empty() {
                return err("prompting".into(), "a model id must not be empty".into());
            }
            if let Err((field, problem)) = strategy.check() {
                return err(format!("prompting.{model}.{field}"), problem);
            }
        }
        looped::validate(self).or_else(|(key, reason)| err(key, reason))?;
        mcp::validate(&self.mcp).or_else(|(key, reason)| err(key, reason))?;
        storage::validate(&self.storage).or_else(|(key, reason)| err(key, reason))?;
        bounds::validate(self).or_else(|(key, reason)| err(key, reason))
    }
}
