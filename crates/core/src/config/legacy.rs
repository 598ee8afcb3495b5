//! The JSON council config of the project Fusion replaces (`panel`, `judge`, `synthesizer`,
//! `parallel`, `timeoutMs`; members with `baseUrl`, `apiKeyEnv`, `apiKey`, `model`, ...), loaded
//! unchanged and converted into a [`Config`] with providers, models and a `default` council.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::load::key_path;
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

/// One member after its required fields were checked.
struct Seat<'a> {
    name: Option<&'a str>,
    base_url: &'a str,
    model: &'a str,
    member: &'a LegacyMember,
}

/// What makes two members share a provider: base URL, inline key, key variable.
type ProviderIdentity = (String, Option<String>, Option<String>);

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
        let Some(panel) = &legacy.panel else {
            return Err(self.error("panel", "missing; list the council members under `panel`"));
        };
        if panel.is_empty() {
            return Err(self.error("panel", "needs at least one member"));
        }
        let Some(judge) = &legacy.judge else {
            return Err(self.error("judge", "missing; name the member that judges the panel"));
        };
        let timeout = match legacy.timeout_ms {
            Some(0) => return Err(self.error("timeoutMs", "must be positive")),
            Some(ms) => Some(Duration::from_millis(ms)),
            None => None,
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
            panel: members,
            judge,
            synthesizer,
            notes: vec![format!(
                "converted from the legacy JSON council config {}",
                self.file.display()
            )],
        };
        self.config.councils.insert("default".to_owned(), council);
        Ok((self.config, self.warnings))
    }

    /// Checks one member, registers its provider and model, and returns its seat.
    fn seat(
        &mut self,
        key: String,
        member: &LegacyMember,
        timeout: Option<Duration>,
    ) -> Result<MemberConfig, ConfigError> {
        self.warn_unknown(&key, &member.unknown);
        let Some(base_url) = member.base_url.as_deref() else {
            return Err(self.error(
                format!("{key}.baseUrl"),
                "missing; every member needs the base URL of an OpenAI-compatible API \
                 (for example http://127.0.0.1:11434/v1)",
            ));
        };
        let Some(model) = member.model.as_deref() else {
            return Err(self.error(format!("{key}.model"), "missing; name the upstream model"));
        };
        let Ok(url) = reqwest::Url::parse(base_url) else {
            return Err(self.error(
                format!("{key}.baseUrl"),
                format!("`{base_url}` is not a valid URL"),
            ));
        };
        let seat = Seat {
            name: member.name.as_deref().filter(|n| !n.trim().is_empty()),
            base_url,
            model,
            member,
        };
        let provider = self.provider_for(&seat, &url, timeout);
        let model_id = self.model_for(&seat, provider);
        Ok(MemberConfig {
            model: model_id,
            name: seat.name.map(str::to_owned),
            system: member.system.clone(),
            temperature: member.temperature,
            max_tokens: member.max_tokens,
        })
    }

    /// The provider for a seat's (base URL, key) pair, created on first use.
    fn provider_for(
        &mut self,
        seat: &Seat<'_>,
        url: &reqwest::Url,
        timeout: Option<Duration>,
    ) -> String {
        let identity: ProviderIdentity = (
            seat.base_url.trim_end_matches('/').to_owned(),
            seat.member.api_key.clone(),
            seat.member.api_key_env.clone(),
        );
        if let Some((_, name)) = self.providers.iter().find(|(id, _)| *id == identity) {
            return name.clone();
        }
        let taken: HashSet<&str> = self.providers.iter().map(|(_, n)| n.as_str()).collect();
        let name = unique(seat.name.unwrap_or(seat.model), &taken);
        self.config.providers.push(ProviderConfig {
            name: name.clone(),
            kind: ProviderKind::Openai,
            base_url: Some(identity.0.clone()),
            api_key_env: identity.2.clone(),
            api_key: identity.1.clone(),
            headers: BTreeMap::new(),
            tier: if is_loopback(url) {
                Tier::Local
            } else {
                Tier::Paid
            },
            max_concurrency: None,
            max_queue: None,
            timeout: timeout.unwrap_or_else(super::default_timeout),
            retries: super::default_retries(),
            command: None,
            prompt_via: PromptVia::default(),
            env: BTreeMap::new(),
            cwd: None,
            catalog: None,
            catalog_refresh: super::default_catalog_refresh(),
            max_response_bytes: None,
        });
        self.providers.push((identity, name.clone()));
        name
    }

    /// The model id for a seat's (provider, model) pair, created on first use and named after
    /// the member (made unique when two members share a name but not a model).
    fn model_for(&mut self, seat: &Seat<'_>, provider: String) -> String {
        let identity = (provider, seat.model.to_owned());
        if let Some((_, id)) = self.models.iter().find(|(key, _)| *key == identity) {
            return id.clone();
        }
        let taken: HashSet<&str> = self.models.iter().map(|(_, id)| id.as_str()).collect();
        let id = unique(seat.name.unwrap_or(seat.model), &taken);
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
mod tests {
    use super::*;

    const SEED: &str = r#"{ "parallel": true, "timeoutMs": 120000,
      "panel": [ {"name": "gpt", "baseUrl": "https://api.openai.com/v1", "apiKeyEnv": "OPENAI_API_KEY",
                  "model": "gpt-4o-mini", "temperature": 0.7, "maxTokens": 1024, "system": "You are careful."},
                 {"name": "local", "baseUrl": "http://127.0.0.1:11434/v1", "apiKey": "ollama", "model": "qwen2.5:7b"} ],
      "judge": {"name": "judge", "baseUrl": "https://api.openai.com/v1", "apiKeyEnv": "OPENAI_API_KEY",
                "model": "gpt-4o", "temperature": 0},
      "synthesizer": {"name": "synth", "baseUrl": "http://localhost:11434/v1/", "apiKey": "ollama",
                      "model": "qwen2.5:7b"} }"#;

    fn parse(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        parse_legacy(text, Path::new("council.json"))
    }

    #[test]
    fn seed_config_converts_to_providers_models_and_default_council() {
        let (config, warnings) = parse(SEED).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        config.validate(Path::new("council.json")).unwrap();

        let providers: Vec<_> = config
            .providers
            .iter()
            .map(|p| (p.name.as_str(), p.base_url.as_deref(), p.tier))
            .collect();
        assert_eq!(
            providers,
            [
                ("gpt", Some("https://api.openai.com/v1"), Tier::Paid),
                ("local", Some("http://127.0.0.1:11434/v1"), Tier::Local),
                ("synth", Some("http://localhost:11434/v1"), Tier::Local),
            ]
        );
        assert_eq!(
            config.providers[0].api_key_env.as_deref(),
            Some("OPENAI_API_KEY")
        );
        assert_eq!(config.providers[1].api_key.as_deref(), Some("ollama"));
        assert_eq!(config.providers[0].timeout, Duration::from_millis(120_000));

        let models: Vec<_> = config
            .models
            .iter()
            .map(|m| (m.id.as_str(), m.provider.as_str(), m.upstream_name()))
            .collect();
        assert_eq!(
            models,
            [
                ("gpt", "gpt", "gpt-4o-mini"),
                ("local", "local", "qwen2.5:7b"),
                ("judge", "gpt", "gpt-4o"),
                ("synth", "synth", "qwen2.5:7b"),
            ]
        );

        let council = &config.councils["default"];
        assert!(council.parallel);
        assert_eq!(council.timeout, Duration::from_secs(120));
        assert_eq!(council.panel.len(), 2);
        let gpt = &council.panel[0];
        assert_eq!(gpt.model, "gpt");
        assert_eq!(gpt.name.as_deref(), Some("gpt"));
        assert_eq!(gpt.system.as_deref(), Some("You are careful."));
        assert_eq!(gpt.temperature, Some(0.7));
        assert_eq!(gpt.max_tokens, Some(1024));
        assert_eq!(council.judge.model, "judge");
        assert_eq!(council.judge.temperature, Some(0.0));
        assert_eq!(
            council.synthesizer.as_ref().map(|s| s.model.as_str()),
            Some("synth")
        );
    }

    #[test]
    fn members_sharing_a_name_but_not_a_model_get_unique_ids() {
        let text = r#"{"panel": [
            {"name": "m", "baseUrl": "http://127.0.0.1:1/v1", "model": "a"},
            {"name": "m", "baseUrl": "http://127.0.0.1:1/v1", "model": "b"},
            {"name": "m", "baseUrl": "http://127.0.0.1:1/v1", "model": "a"}],
            "judge": {"baseUrl": "http://127.0.0.1:1/v1", "model": "a"}}"#;
        let (config, _) = parse(text).unwrap();
        assert_eq!(config.providers.len(), 1);
        let ids: Vec<_> = config.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m", "m-2"]);
        let seats: Vec<_> = config.councils["default"]
            .panel
            .iter()
            .map(|m| m.model.as_str())
            .collect();
        assert_eq!(seats, ["m", "m-2", "m"]);
        assert_eq!(config.councils["default"].judge.model, "m");
        assert!(config.councils["default"].synthesizer.is_none());
    }

    #[test]
    fn missing_judge_is_an_error_naming_the_key() {
        let err = parse(r#"{"panel": [{"baseUrl": "http://x/v1", "model": "m"}]}"#).unwrap_err();
        assert_eq!(err.key, "judge");
        assert_eq!(err.file, Path::new("council.json"));
    }

    #[test]
    fn missing_member_fields_name_the_legacy_key() {
        let text = r#"{"panel": [{"baseUrl": "http://x/v1", "model": "m"}, {"model": "m"}],
                       "judge": {"baseUrl": "http://x/v1", "model": "m"}}"#;
        assert_eq!(parse(text).unwrap_err().key, "panel[1].baseUrl");
        let text = r#"{"panel": [{"baseUrl": "http://x/v1"}], "judge": {}}"#;
        assert_eq!(parse(text).unwrap_err().key, "panel[0].model");
        let text = r#"{"judge": {"baseUrl": "http://x/v1", "model": "m"}}"#;
        assert_eq!(parse(text).unwrap_err().key, "panel");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let text = r#"{"panel": [{"baseUrl": "http://x/v1", "model": "m", "temperature": "hot"}],
                       "judge": {"baseUrl": "http://x/v1", "model": "m"}}"#;
        let err = parse(text).unwrap_err();
        assert_eq!(err.key, "panel[0].temperature");
        let err = parse(r#"{"timeoutMs": "soon"}"#).unwrap_err();
        assert_eq!(err.key, "timeoutMs");
        let err = parse("[1, 2]").unwrap_err();
        assert!(
            err.reason
                .contains("a JSON object with `panel` and `judge`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_accepted_with_a_warning() {
        let text = r#"{"rounds": 2, "panel": [{"baseUrl": "http://x/v1", "model": "m", "topP": 0.9}],
                       "judge": {"baseUrl": "http://x/v1", "model": "m"}}"#;
        let (_, warnings) = parse(text).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("`rounds`"), "{warnings:?}");
        assert!(warnings[1].contains("`panel[0].topP`"), "{warnings:?}");
    }

    #[test]
    fn zero_timeout_is_rejected() {
        let text = r#"{"timeoutMs": 0, "panel": [{"baseUrl": "http://x/v1", "model": "m"}],
                       "judge": {"baseUrl": "http://x/v1", "model": "m"}}"#;
        assert_eq!(parse(text).unwrap_err().key, "timeoutMs");
    }

    #[test]
    fn loopback_hosts_are_local_tier() {
        for (url, local) in [
            ("http://127.0.0.1:11434/v1", true),
            ("http://localhost:1234/v1", true),
            ("http://[::1]:8080/v1", true),
            ("https://api.openai.com/v1", false),
            ("http://192.168.1.20:11434/v1", false),
        ] {
            let url = reqwest::Url::parse(url).unwrap();
            assert_eq!(is_loopback(&url), local, "{url}");
        }
    }
}
