//! The JSON council config of the project Fusion replaces (`panel`, `judge`, `synthesizer`,
//! `parallel`, `timeoutMs`; members with `baseUrl`, `apiKeyEnv`, `apiKey`, `model`, ...), loaded
//! unchanged and converted into a [`Config`] with providers, models and a `default` council.
//! Members with `backend: "pi"` (`provider` + `modelId`) become models of one `exec` provider
//! running the `pi` CLI headless; `model_roster` / `role_model_policy` (the loop's files) become
//! `[loop]` roles (see `roster.rs`).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::load::key_path;

mod roster;
use super::{
    Config, ConfigError, CouncilConfig, MemberConfig, ModelConfig, PromptVia, ProviderConfig,
    ProviderKind, Tier,
};

/// The top level of a legacy file. Required fields are optional here so that their absence is
/// reported with the legacy key name; unknown keys are kept to be warned about.
#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "a JSON object with `panel` and `judge`"
)]
struct LegacyFile {
    parallel: Option<bool>,
    timeout_ms: Option<u64>,
    panel: Option<Vec<LegacyMember>>,
    judge: Option<LegacyMember>,
    synthesizer: Option<LegacyMember>,
    /// The loop's models by roster name (read by `roster.rs`).
    #[serde(rename = "model_roster", alias = "modelRoster")]
    model_roster: Option<serde_json::Value>,
    /// The loop's roles → roster names.
    #[serde(rename = "role_model_policy", alias = "roleModelPolicy")]
    role_model_policy: Option<serde_json::Value>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "a JSON object describing a council member"
)]
struct LegacyMember {
    name: Option<String>,
    /// `openai` (default) or `pi`.
    backend: Option<String>,
    /// `pi`: Pi's provider (`zai`, `openai-codex`, ...).
    provider: Option<String>,
    /// `pi`: Pi's model id within `provider`.
    model_id: Option<String>,
    base_url: Option<String>,
    api_key_env: Option<String>,
    api_key: Option<String>,
    model: Option<String>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    system: Option<String>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_json::Value>,
}

/// Parses and converts a legacy JSON council config. Returns the config (not yet validated) and
/// warnings about keys the converter ignored.
pub(super) fn parse_legacy(text: &str, file: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let legacy: LegacyFile = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ConfigError::new(file, key_path(e.path()), e.inner().to_string()))?;
    de.end()
        .map_err(|e| ConfigError::new(file, "-", e.to_string()))?;
    Converter::new(file).convert(legacy)
}

/// Where a member's calls go, once its backend's required fields were checked.
enum Target<'a> {
    /// An OpenAI-compatible endpoint.
    Openai {
        base_url: &'a str,
        url: reqwest::Url,
    },
    /// Pi's `provider/modelId`, run by the `pi` CLI.
    Pi { model: String },
}

/// What makes two members share a provider: base URL, inline key, key variable.
type ProviderIdentity = (String, Option<String>, Option<String>);

/// The identity of the one provider all `backend: "pi"` members share.
const PI_IDENTITY: &str = "exec:pi";

/// The command a `pi` member runs: print mode, no session file, the model from the call;
/// the prompt goes on stdin.
pub(super) const PI_COMMAND: [&str; 5] = ["pi", "--print", "--no-session", "--model", "{model}"];

/// Builds providers and models while walking the seats, deduplicating as it goes.
struct Converter<'f> {
    file: &'f Path,
    config: Config,
    /// Provider identity → provider name.
    providers: Vec<(ProviderIdentity, String)>,
    /// (provider name, upstream model) → model id.
    models: Vec<((String, String), String)>,
    warnings: Vec<String>,
}

impl<'f> Converter<'f> {
    fn new(file: &'f Path) -> Self {
        Self {
            file,
            config: Config::default(),
            providers: Vec::new(),
            models: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn error(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, key, reason)
    }

    fn convert(mut self, legacy: LegacyFile) -> Result<(Config, Vec<String>), ConfigError> {
        self.warn_unknown("", &legacy.unknown);
        let timeout = match legacy.timeout_ms {
            Some(0) => return Err(self.error("timeoutMs", "must be positive")),
            Some(ms) => Some(Duration::from_millis(ms)),
            None => None,
        };
        // A loop file (with a roster) may leave the council out.
        let has_roster = legacy.model_roster.is_some();
        if legacy.panel.is_some() || legacy.judge.is_some() || !has_roster {
            self.council(&legacy, timeout)?;
        }
        match (&legacy.model_roster, &legacy.role_model_policy) {
            (Some(roster), Some(policy)) => {
                self.config.looped.roles = roster::convert(&mut self, roster, policy, timeout)?;
            }
            (Some(_), None) => {
                return Err(self.error(
                    "role_model_policy",
                    "missing; with a model_roster, say which roster entries play each role \
                     (explorer, builder, critic, performance_sentinel, loop_conductor)",
                ));
            }
            (None, Some(_)) => {
                return Err(self.error(
                    "model_roster",
                    "missing; role_model_policy names entries of a model_roster",
                ));
            }
            (None, None) => {}
        }
        Ok((self.config, self.warnings))
    }

    /// The `default` council from `panel`, `judge` and `synthesizer`.
    fn council(
        &mut self,
        legacy: &LegacyFile,
        timeout: Option<Duration>,
    ) -> Result<(), ConfigError> {
        let Some(panel) = &legacy.panel else {
            return Err(self.error("panel", "missing; list the council members under `panel`"));
        };
        if panel.is_empty() {
            return Err(self.error("panel", "needs at least one member"));
        }
        let Some(judge) = &legacy.judge else {
            return Err(self.error("judge", "missing; name the member that judges the panel"));
        };
        let mut members = Vec::with_capacity(panel.len());
        for (i, member) in panel.iter().enumerate() {
            members.push(self.seat(format!("panel[{i}]"), member, timeout)?);
        }
        let judge = self.seat("judge".to_owned(), judge, timeout)?;
        let synthesizer = legacy
            .synthesizer
            .as_ref()
            .map(|member| self.seat("synthesizer".to_owned(), member, timeout))
            .transpose()?;

        let council = CouncilConfig {
            parallel: legacy.parallel.unwrap_or(true),
            timeout: timeout.unwrap_or_else(super::default_council_timeout),
            quorum: None,
            panel: members,
            judge,
            synthesizer,
            notes: vec![format!(
                "converted from the legacy JSON council config {}",
                self.file.display()
            )],
        };
        self.config.councils.insert("default".to_owned(), council);
        Ok(())
    }

    /// Checks one member, registers its provider and model, and returns its seat.
    fn seat(
        &mut self,
        key: String,
        member: &LegacyMember,
        timeout: Option<Duration>,
    ) -> Result<MemberConfig, ConfigError> {
        self.warn_unknown(&key, &member.unknown);
        let name = member.name.as_deref().filter(|n| !n.trim().is_empty());
        let (provider, upstream) = match self.target(&key, member)? {
            Target::Openai { base_url, url } => {
                let Some(model) = member.model.as_deref() else {
                    return Err(
                        self.error(format!("{key}.model"), "missing; name the upstream model")
                    );
                };
                let identity: ProviderIdentity = (
                    base_url.trim_end_matches('/').to_owned(),
                    member.api_key.clone(),
                    member.api_key_env.clone(),
                );
                let tier = if is_loopback(&url) {
                    Tier::Local
                } else {
                    Tier::Paid
                };
                let provider = self.provider_for(identity, name.unwrap_or(model), tier, timeout);
                (provider, model.to_owned())
            }
            Target::Pi { model } => {
                let identity: ProviderIdentity = (PI_IDENTITY.to_owned(), None, None);
                (
                    self.provider_for(identity, "pi", Tier::Paid, timeout),
                    model,
                )
            }
        };
        let model_id = self.model_for(name.unwrap_or(&upstream), provider, upstream.clone());
        let pi = member.backend.as_deref() == Some("pi");
        Ok(MemberConfig {
            model: model_id,
            name: name.map(str::to_owned),
            system: member.system.clone(),
            // Pi takes no sampling settings (as in the council project, they are ignored).
            temperature: member.temperature.filter(|_| !pi),
            max_tokens: member.max_tokens.filter(|_| !pi),
        })
    }

    /// Reads the member's backend and the fields it requires.
    fn target<'m>(&self, key: &str, member: &'m LegacyMember) -> Result<Target<'m>, ConfigError> {
        match member.backend.as_deref().unwrap_or("openai") {
            "openai" => {
                let Some(base_url) = member.base_url.as_deref() else {
                    return Err(self.error(
                        format!("{key}.baseUrl"),
                        "missing; every member needs the base URL of an OpenAI-compatible API \
                         (for example http://127.0.0.1:11434/v1), or `backend: \"pi\"` with \
                         `provider` and `modelId`",
                    ));
                };
                let Ok(url) = reqwest::Url::parse(base_url) else {
                    return Err(self.error(
                        format!("{key}.baseUrl"),
                        format!("`{base_url}` is not a valid URL"),
                    ));
                };
                Ok(Target::Openai { base_url, url })
            }
            "pi" => {
                let provider = member.provider.as_deref().map(str::trim);
                let model_id = member.model_id.as_deref().map(str::trim);
                match (provider, model_id) {
                    (Some(p), Some(m)) if !p.is_empty() && !m.is_empty() => Ok(Target::Pi {
                        model: format!("{p}/{m}"),
                    }),
                    // `modelId` may carry the provider itself (`zai/glm-5.2`).
                    (None, Some(m)) if m.contains('/') => Ok(Target::Pi {
                        model: m.to_owned(),
                    }),
                    (None | Some(""), _) => Err(self.error(
                        format!("{key}.provider"),
                        "missing; a `backend: \"pi\"` member names Pi's provider and model \
                         (`provider: \"zai\"`, `modelId: \"glm-5.2\"`; see `pi --list-models`)",
                    )),
                    _ => Err(self.error(
                        format!("{key}.modelId"),
                        "missing; a `backend: \"pi\"` member names Pi's model within its \
                         provider (see `pi --list-models`)",
                    )),
                }
            }
            other => Err(self.error(
                format!("{key}.backend"),
                format!("unknown backend `{other}`; use \"openai\" or \"pi\""),
            )),
        }
    }

    /// The provider for an identity, created on first use and named after `base`. The `pi`
    /// provider runs one call at a time, as the council project's single Pi subprocess did.
    fn provider_for(
        &mut self,
        identity: ProviderIdentity,
        base: &str,
        tier: Tier,
        timeout: Option<Duration>,
    ) -> String {
        if let Some((_, name)) = self.providers.iter().find(|(id, _)| *id == identity) {
            return name.clone();
        }
        let taken: HashSet<&str> = self.providers.iter().map(|(_, n)| n.as_str()).collect();
        let name = unique(base, &taken);
        let pi = identity.0 == PI_IDENTITY;
        self.config.providers.push(ProviderConfig {
            name: name.clone(),
            kind: if pi {
                ProviderKind::Exec
            } else {
                ProviderKind::Openai
            },
            base_url: (!pi).then(|| identity.0.clone()),
            api_key_env: identity.2.clone(),
            api_key: identity.1.clone(),
            headers: BTreeMap::new(),
            tier,
            max_concurrency: pi.then_some(1),
            max_queue: None,
            timeout: timeout.unwrap_or_else(super::default_timeout),
            retries: super::default_retries(),
            command: pi.then(|| PI_COMMAND.iter().map(|arg| (*arg).to_owned()).collect()),
            prompt_via: PromptVia::default(),
            env: BTreeMap::new(),
            cwd: None,
            catalog: None,
            catalog_refresh: super::default_catalog_refresh(),
            max_response_bytes: None,
            responses: false,
        });
        self.providers.push((identity, name.clone()));
        name
    }

    /// The model id for a (provider, upstream model) pair, created on first use and named
    /// `base` (the member's name; made unique when two members share a name but not a model).
    fn model_for(&mut self, base: &str, provider: String, upstream: String) -> String {
        let identity = (provider, upstream);
        if let Some((_, id)) = self.models.iter().find(|(key, _)| *key == identity) {
            return id.clone();
        }
        let taken: HashSet<&str> = self.models.iter().map(|(_, id)| id.as_str()).collect();
        let id = unique(base, &taken);
        self.config.models.push(ModelConfig {
            id: id.clone(),
            provider: identity.0.clone(),
            model: Some(identity.1.clone()),
            context_window: None,
            price: None,
            quality: None,
        });
        self.models.push((identity, id.clone()));
        id
    }

    fn warn_unknown(&mut self, at: &str, unknown: &BTreeMap<String, serde_json::Value>) {
        for key in unknown.keys() {
            let key = super::expand::child_key(at, key);
            self.warnings.push(format!(
                "legacy config: ignored unknown key `{key}` (Fusion has no such setting)"
            ));
        }
    }
}

/// `base`, or `base-2`, `base-3`, ... whichever is not taken yet.
fn unique(base: &str, taken: &HashSet<&str>) -> String {
    if !taken.contains(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken.contains(candidate.as_str()))
        .unwrap_or_else(|| base.to_owned())
}

/// Whether a URL points at this machine (`localhost`, `127.0.0.0/8`, `::1`).
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests;
