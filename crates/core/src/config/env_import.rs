//! `fusion config import`: turns the `.env` file of the routing server Fusion replaces
//! (LocalLama MCP) into `fusion.toml` — its model servers become `[[providers]]`, its default
//! local model a `[[models]]` entry, its thresholds, probe interval and slot counts `[router]`
//! and `[tasks]` keys — and says which keys have no equivalent and which values it could not use.
//!
//! | `.env` key | Fusion |
//! |---|---|
//! | `LM_STUDIO_ENDPOINT` | provider `lmstudio` (openai, local) at the URL, ending in `/v1` |
//! | `OLLAMA_ENDPOINT` | provider `ollama` (openai, local) at the same host's `/v1` |
//! | `LLAMA_CPP_ENDPOINT` | provider `llamacpp` (openai, local) at `<url>/v1` |
//! | `OPENROUTER_API_KEY` | provider `openrouter` (free tier, catalog) with `api_key_env`; the key itself is never written |
//! | `OPENROUTER_FREE_ONLY` | `router.free_only` |
//! | `DEFAULT_LOCAL_MODEL` | a `[[models]]` entry on the first local provider |
//! | `TOKEN_THRESHOLD`, `COST_THRESHOLD`, `QUALITY_THRESHOLD` | `router.*_threshold` |
//! | `RELIABLE_BENCHMARK_COUNT` | `router.reliable_after` |
//! | `PROVIDER_HEALTH_PROBE_INTERVAL_MS` | `router.health_interval` |
//! | `PROVIDER_MAX_CONCURRENT_LOCAL` / `_REMOTE` | `tasks.local_slots` / `tasks.remote_slots`, and `max_concurrency` of the local / remote providers |
//! | `PROVIDER_TIMEOUT_MS` | `timeout` of every provider |
//! | `OLLAMA_TIMEOUT` (seconds) | `timeout` of `ollama` |

mod dotenv;
mod process;
mod unmapped;

pub use process::{ROUTER_ENDPOINT_VARS, import_router_process_env};

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use self::dotenv::Assignment;
use super::bounds::{MAX_CONCURRENCY, MAX_WAIT};
use super::{Config, ConfigError, Tier};

/// What an import made of a `.env` file.
#[derive(Debug, Clone)]
pub struct EnvImport {
    /// The `fusion.toml` text: the notes as comments, then the converted settings.
    pub toml: String,
    /// The same text parsed and validated, as Fusion loads it.
    pub config: Config,
    /// What the user should know about the conversion (`KEY: ...`), in the order applied.
    pub notes: Vec<String>,
    /// Keys with no equivalent in Fusion, in file order.
    pub unmapped: Vec<Unmapped>,
    /// Values of known keys that were not used, by line.
    pub unused: Vec<UnusedValue>,
}

/// A key Fusion has no equivalent for.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmapped {
    pub line: usize,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: no equivalent in Fusion ({})", self.key, self.reason)
    }
}

/// A value that could not be used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct UnusedValue {
    pub line: usize,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for UnusedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// Why a `.env` file could not be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvImportError {
    /// A line that is neither blank, a comment nor `KEY=VALUE`.
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    /// The converted text does not load (a bug of the conversion, never of the input).
    #[error("the converted configuration does not load: {0}")]
    Invalid(ConfigError),
}

/// The `.env` keys this import turns into settings (everything else is reported).
const MAPPED: &[&str] = &[
    "LM_STUDIO_ENDPOINT",
    "OLLAMA_ENDPOINT",
    "LLAMA_CPP_ENDPOINT",
    "OPENROUTER_API_KEY",
    "OPENROUTER_FREE_ONLY",
    "DEFAULT_LOCAL_MODEL",
    "TOKEN_THRESHOLD",
    "COST_THRESHOLD",
    "QUALITY_THRESHOLD",
    "RELIABLE_BENCHMARK_COUNT",
    "PROVIDER_HEALTH_PROBE_INTERVAL_MS",
    "PROVIDER_MAX_CONCURRENT_LOCAL",
    "PROVIDER_MAX_CONCURRENT_REMOTE",
    "PROVIDER_TIMEOUT_MS",
    "OLLAMA_TIMEOUT",
];

/// The local model servers, in the order the replaced server preferred them.
const LOCAL_SERVERS: [(&str, &str, &str); 3] = [
    ("LM_STUDIO_ENDPOINT", "lmstudio", "LM Studio"),
    ("OLLAMA_ENDPOINT", "ollama", "Ollama"),
    ("LLAMA_CPP_ENDPOINT", "llamacpp", "llama-server"),
];

const OPENROUTER_URL: &str = "https://openrouter.ai/api/v1";

/// Converts the text of a LocalLama MCP `.env` file (see the module doc for the mapping).
/// Secrets are never copied: the OpenRouter key is referenced by its variable name. When a key
/// is set twice the last value wins, as with `dotenv`.
pub fn import_router_env(text: &str) -> Result<EnvImport, EnvImportError> {
    let assignments =
        dotenv::parse(text).map_err(|(line, reason)| EnvImportError::Malformed { line, reason })?;
    convert(&assignments)
}

/// Converts assignments read from a `.env` file or the process environment.
fn convert(assignments: &[Assignment]) -> Result<EnvImport, EnvImportError> {
    let mut draft = Draft::default();
    let mut latest: HashMap<&str, &Assignment> = HashMap::new();
    for a in assignments {
        if let Some(earlier) = latest.insert(a.key.as_str(), a) {
            draft.unused(
                earlier,
                format!("set again on line {}, whose value is used", a.line),
            );
        }
    }
    for a in assignments {
        let is_latest = latest.get(a.key.as_str()).is_some_and(|l| l.line == a.line);
        if !is_latest || MAPPED.contains(&a.key.as_str()) {
            continue;
        }
        let reason = unmapped::reason(a, &mut draft.unused);
        draft.unmapped.push(Unmapped {
            line: a.line,
            key: a.key.clone(),
            reason: reason.unwrap_or_else(|| "unknown key".to_owned()),
        });
    }
    let get = |key: &str| latest.get(key).copied().filter(|a| !a.value.is_empty());
    for key in MAPPED {
        if let Some(a) = latest.get(key).filter(|a| a.value.is_empty()) {
            let adds_provider = key.ends_with("_ENDPOINT") || *key == "OPENROUTER_API_KEY";
            let reason = if adds_provider {
                "empty, so no provider is added"
            } else {
                "empty, so Fusion's default applies"
            };
            draft.unused(a, reason.to_owned());
        }
    }
    draft.providers(&get);
    draft.settings(&get);
    draft.finish()
}

/// One `[[providers]]` entry being built.
struct Provider {
    name: &'static str,
    base_url: String,
    tier: Tier,
    api_key_env: Option<&'static str>,
    catalog: bool,
    max_concurrency: Option<usize>,
    timeout: Option<Duration>,
}

/// The conversion so far: what will be written, and what to tell the user.
#[derive(Default)]
struct Draft {
    providers: Vec<Provider>,
    model: Option<(String, &'static str)>,
    /// `[router]` and `[tasks]` keys with their values, in the order they are written.
    router: Vec<(&'static str, toml::Value)>,
    tasks: Vec<(&'static str, toml::Value)>,
    notes: Vec<String>,
    unmapped: Vec<Unmapped>,
    unused: Vec<UnusedValue>,
}

type Lookup<'a, 'b> = dyn Fn(&str) -> Option<&'a Assignment> + 'b;

impl Draft {
    fn unused(&mut self, a: &Assignment, reason: String) {
        self.unused.push(UnusedValue {
            line: a.line,
            key: a.key.clone(),
            reason,
        });
    }

    fn note(&mut self, key: &str, text: String) {
        self.notes.push(format!("{key}: {text}"));
    }

    /// The model servers and OpenRouter.
    fn providers(&mut self, get: &Lookup<'_, '_>) {
        for (key, name, server) in LOCAL_SERVERS {
            let Some(a) = get(key) else { continue };
            match openai_base_url(&a.value, name == "ollama") {
                Ok(url) => {
                    if url != a.value.trim_end_matches('/') {
                        let native = if name == "ollama" && url != format!("{}/v1", a.value) {
                            " is Ollama's native API;"
                        } else {
                            ":"
                        };
                        self.note(
                            key,
                            format!(
                                "`{}`{native} Fusion calls {server}'s OpenAI-compatible API at \
                                 `{url}` (provider `{name}`)",
                                a.value
                            ),
                        );
                    }
                    self.providers.push(Provider {
                        name,
                        base_url: url,
                        tier: Tier::Local,
                        api_key_env: None,
                        catalog: false,
                        max_concurrency: None,
                        timeout: None,
                    });
                }
                Err(reason) => self.unused(a, format!("{reason}; no `{name}` provider added")),
            }
        }
        if let Some(a) = get("OPENROUTER_API_KEY") {
            let placeholder = if looks_like_placeholder(&a.value) {
                " (the value in the .env file looks like a placeholder, not a key)"
            } else {
                ""
            };
            self.note(
                "OPENROUTER_API_KEY",
                format!(
                    "the key is not copied into fusion.toml; provider `openrouter` reads it from \
                     the environment: export OPENROUTER_API_KEY=<your key> before starting \
                     Fusion{placeholder}"
                ),
            );
            self.providers.push(Provider {
                name: "openrouter",
                base_url: OPENROUTER_URL.to_owned(),
                tier: Tier::Free,
                api_key_env: Some("OPENROUTER_API_KEY"),
                catalog: true,
                max_concurrency: None,
                timeout: None,
            });
        }
    }

    /// Everything that is not a provider: the default model, router and task settings,
    /// concurrency and timeouts.
    fn settings(&mut self, get: &Lookup<'_, '_>) {
        if let Some(a) = get("DEFAULT_LOCAL_MODEL") {
            match self.providers.iter().find(|p| p.tier == Tier::Local) {
                Some(p) => {
                    let provider = p.name;
                    self.note(
                        "DEFAULT_LOCAL_MODEL",
                        format!(
                            "model `{}` on provider `{provider}`; Fusion has no single default \
                             model: router/auto picks among every model, local first, and the \
                             other models each local server lists join on their own",
                            a.value
                        ),
                    );
                    self.model = Some((a.value.clone(), provider));
                }
                None => self.unused(
                    a,
                    "no local provider to put it on (LM_STUDIO_ENDPOINT, OLLAMA_ENDPOINT and \
                     LLAMA_CPP_ENDPOINT are unset)"
                        .to_owned(),
                ),
            }
        }
        if let Some(a) = get("TOKEN_THRESHOLD") {
            let value = whole(&a.value, 1, u64::from(u32::MAX));
            self.set_router(a, "token_threshold", value.map(integer));
        }
        if let Some(a) = get("COST_THRESHOLD") {
            let value = number(
                &a.value,
                0.0,
                f64::MAX,
                "a non-negative number of US dollars",
            );
            self.set_router(a, "cost_threshold", value.map(toml::Value::Float));
        }
        if let Some(a) = get("RELIABLE_BENCHMARK_COUNT") {
            let value = whole(&a.value, 1, u64::from(u32::MAX));
            self.set_router(a, "reliable_after", value.map(integer));
        }
        if let Some(a) = get("QUALITY_THRESHOLD") {
            let value = number(&a.value, 0.0, 1.0, "a number between 0 and 1");
            self.set_router(a, "quality_threshold", value.map(toml::Value::Float));
        }
        if let Some(a) = get("OPENROUTER_FREE_ONLY") {
            let value = boolean(&a.value);
            if value == Ok(true) {
                self.note(
                    "OPENROUTER_FREE_ONLY",
                    "router.free_only = true routes only to local and free models, whatever \
                     their provider"
                        .to_owned(),
                );
            }
            self.set_router(a, "free_only", value.map(toml::Value::Boolean));
        }
        if let Some(a) = get("PROVIDER_HEALTH_PROBE_INTERVAL_MS") {
            let value = duration(&a.value, Duration::from_millis, "milliseconds");
            self.set_router(a, "health_interval", value.map(duration_value));
        }
        for (key, slots, local) in [
            ("PROVIDER_MAX_CONCURRENT_LOCAL", "local_slots", true),
            ("PROVIDER_MAX_CONCURRENT_REMOTE", "remote_slots", false),
        ] {
            let Some(a) = get(key) else { continue };
            match whole(&a.value, 1, MAX_CONCURRENCY as u64) {
                Ok(n) => {
                    let n = usize::try_from(n).unwrap_or(MAX_CONCURRENCY);
                    self.tasks.push((slots, integer(n as u64)));
                    let mut names = Vec::new();
                    for p in &mut self.providers {
                        if (p.tier == Tier::Local) == local {
                            p.max_concurrency = Some(n);
                            names.push(format!("`{}`", p.name));
                        }
                    }
                    let providers = if names.is_empty() {
                        String::new()
                    } else {
                        format!(" and max_concurrency of {}", names.join(", "))
                    };
                    self.note(key, format!("tasks.{slots}{providers}"));
                }
                Err(reason) => self.unused(a, reason),
            }
        }
        if let Some(a) = get("PROVIDER_TIMEOUT_MS") {
            match duration(&a.value, Duration::from_millis, "milliseconds") {
                Ok(_) if self.providers.is_empty() => {
                    self.unused(a, "no provider was converted to take it".to_owned());
                }
                Ok(timeout) => self
                    .providers
                    .iter_mut()
                    .for_each(|p| p.timeout = Some(timeout)),
                Err(reason) => self.unused(a, reason),
            }
        }
        if let Some(a) = get("OLLAMA_TIMEOUT") {
            let timeout = duration(&a.value, Duration::from_secs, "seconds");
            match (
                timeout,
                self.providers.iter_mut().find(|p| p.name == "ollama"),
            ) {
                (Ok(timeout), Some(ollama)) => ollama.timeout = Some(timeout),
                (Ok(_), None) => self.unused(
                    a,
                    "no `ollama` provider to take it (OLLAMA_ENDPOINT is unset or unusable)"
                        .to_owned(),
                ),
                (Err(reason), _) => self.unused(a, reason),
            }
        }
    }

    fn set_router(
        &mut self,
        a: &Assignment,
        key: &'static str,
        value: Result<toml::Value, String>,
    ) {
        match value {
            Ok(value) => self.router.push((key, value)),
            Err(reason) => self.unused(a, reason),
        }
    }

    /// Renders the text, and checks that it loads.
    fn finish(mut self) -> Result<EnvImport, EnvImportError> {
        let toml = self.render();
        // Every `${` was escaped, so no variable is looked up.
        let (config, _) = super::load::parse_text(&toml, Path::new("fusion.toml"), &|_| None)
            .map_err(EnvImportError::Invalid)?;
        self.unused.sort_by_key(|u| u.line);
        Ok(EnvImport {
            toml,
            config,
            notes: self.notes,
            unmapped: self.unmapped,
            unused: self.unused,
        })
    }

    fn render(&mut self) -> String {
        let mut out = String::from(
            "# fusion.toml converted from LocalLama MCP's .env by `fusion config import`.\n",
        );
        if !self.notes.is_empty() {
            out.push_str("#\n");
        }
        for note in &self.notes {
            out.push_str(&format!("# {note}\n"));
        }
        for p in &self.providers {
            let mut entries = vec![
                ("name", text(p.name)),
                ("kind", text("openai")),
                ("base_url", text(&p.base_url)),
            ];
            if let Some(env) = p.api_key_env {
                entries.push(("api_key_env", text(env)));
            }
            entries.push(("tier", text(p.tier.as_str())));
            if p.catalog {
                entries.push(("catalog", toml::Value::Boolean(true)));
            }
            if let Some(n) = p.max_concurrency {
                entries.push(("max_concurrency", integer(n as u64)));
            }
            if let Some(timeout) = p.timeout {
                entries.push(("timeout", duration_value(timeout)));
            }
            section(&mut out, "[[providers]]", &entries);
        }
        if let Some((id, provider)) = &self.model {
            section(
                &mut out,
                "[[models]]",
                &[("id", text(id)), ("provider", text(provider))],
            );
        }
        section(&mut out, "[router]", &self.router);
        section(&mut out, "[tasks]", &self.tasks);
        out
    }
}

/// Appends `header` and its `key = value` lines (nothing when there are none).
fn section(out: &mut String, header: &str, entries: &[(&str, toml::Value)]) {
    if entries.is_empty() {
        return;
    }
    out.push('\n');
    out.push_str(header);
    out.push('\n');
    for (key, value) in entries {
        out.push_str(&format!("{key} = {value}\n"));
    }
}

/// A string as written to `fusion.toml`, kept literal: `${` would be expanded there.
fn text(value: &str) -> toml::Value {
    toml::Value::String(value.replace("${", "$${"))
}

fn integer(n: u64) -> toml::Value {
    toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn duration_value(d: Duration) -> toml::Value {
    toml::Value::String(humantime::format_duration(d).to_string())
}

/// The OpenAI-compatible base URL of a local server: the URL without a trailing `/`, ending in
/// `/v1` (Ollama's native `/api` is replaced by `/v1`).
fn openai_base_url(value: &str, ollama: bool) -> Result<String, String> {
    let parsed = reqwest::Url::parse(value).map_err(|e| format!("`{value}` is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("`{value}` is not an http(s) URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "`{value}` has a query or fragment; expected a base URL"
        ));
    }
    let mut url = value.trim_end_matches('/');
    if ollama {
        url = url.strip_suffix("/api").unwrap_or(url);
    }
    Ok(if url.ends_with("/v1") {
        url.to_owned()
    } else {
        format!("{url}/v1")
    })
}

/// Whether an API key value is a template's placeholder rather than a key.
fn looks_like_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    ["your", "here", "placeholder", "changeme", "xxx", "<"]
        .iter()
        .any(|word| lower.contains(word))
}

/// A whole number in `min..=max`.
fn whole(value: &str, min: u64, max: u64) -> Result<u64, String> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!(
            "{n} is out of range: it must be between {min} and {max}"
        )),
        Err(_) => Err(format!("`{value}` is not a whole number")),
    }
}

/// A finite number in `min..=max`; `what` describes the range.
fn number(value: &str, min: f64, max: f64, what: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("`{value}` is not {what}")),
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), in any case.
fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("`{value}` is not true or false")),
    }
}

/// A positive whole number of `unit`s, at most Fusion's longest wait (24 h).
fn duration(value: &str, from: fn(u64) -> Duration, unit: &str) -> Result<Duration, String> {
    let n = value
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("`{value}` is not a whole number of {unit}"))?;
    let d = from(n);
    if d.is_zero() || d > MAX_WAIT {
        return Err(format!(
            "{n} {unit} is out of range: it must be positive and at most {}",
            humantime::format_duration(MAX_WAIT)
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
