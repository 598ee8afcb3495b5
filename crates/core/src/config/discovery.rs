//! Zero-config start: probing local model servers (Ollama, LM Studio, llama.cpp, vLLM) on their
//! default ports through the OpenAI `GET /models` listing, and building a config with a default
//! council from whatever answers.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::{Config, CouncilConfig, MemberConfig, ModelConfig, PromptVia, ProviderConfig};
use super::{ProviderKind, Tier};
use crate::providers::listing;
use crate::{ErrorKind, Result};

/// Environment variable replacing the default probe targets (`name=url,name=url`).
const TARGETS_ENV: &str = "FUSION_DISCOVERY_TARGETS";

/// At most this many answering servers contribute a model to the default council.
const MAX_MODELS: usize = 3;

/// Bytes of a probed server's model listing read at most (a longer one is not a listing).
const MAX_LISTING_BYTES: u64 = 4 * 1024 * 1024;

/// A place where a model server might be listening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// Becomes the provider name when the server answers (`ollama`).
    pub name: String,
    /// Base URL up to and including the API version (`http://127.0.0.1:11434/v1`).
    pub base_url: String,
}

impl ProbeTarget {
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into(),
        }
    }
}

/// A target that answered, with the models it lists (in its order).
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredServer {
    pub target: ProbeTarget,
    pub models: Vec<String>,
}

/// The result of discovery: a ready config and the servers it was built from.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// Providers (tier local), models (`<provider>/<model>`) and a `default` council whose
    /// `notes` say how it was assembled.
    pub config: Config,
    /// Every server that answered, in probe order.
    pub servers: Vec<DiscoveredServer>,
}

/// Where discovery looks: Ollama (11434), LM Studio (1234), llama.cpp's `llama-server` (8080)
/// and vLLM (8000), each at `http://127.0.0.1:PORT/v1`.
///
/// The environment variable `FUSION_DISCOVERY_TARGETS`, when set and not empty, replaces this
/// list: comma-separated `name=url` pairs such as
/// `ollama=http://127.0.0.1:11434/v1,gpu-box=http://10.0.0.5:8000/v1` (used by tests and for
/// servers on non-default ports). Malformed entries are skipped with a warning.
pub fn default_probe_targets() -> Vec<ProbeTarget> {
    match std::env::var(TARGETS_ENV) {
        Ok(spec) if !spec.trim().is_empty() => parse_targets(&spec),
        _ => [
            ("ollama", 11434),
            ("lm-studio", 1234),
            ("llama.cpp", 8080),
            ("vllm", 8000),
        ]
        .into_iter()
        .map(|(name, port)| ProbeTarget::new(name, format!("http://127.0.0.1:{port}/v1")))
        .collect(),
    }
}

fn parse_targets(spec: &str) -> Vec<ProbeTarget> {
    spec.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let parsed = entry
                .split_once('=')
                .map(|(name, url)| (name.trim(), url.trim().trim_end_matches('/')))
                .filter(|(name, url)| !name.is_empty() && reqwest::Url::parse(url).is_ok());
            if parsed.is_none() {
                tracing::warn!(
                    "{TARGETS_ENV}: ignoring `{entry}`; expected name=http://host:port/v1"
                );
            }
            parsed.map(|(name, url)| ProbeTarget::new(name, url))
        })
        .collect()
}

/// Probes every target in parallel (`GET {base_url}/models`, each bounded by `timeout`) and
/// builds a config from those that list at least one model.
///
/// With two or more servers the panel is the first model of each (at most three), judged and
/// synthesized by the first. With a single server the panel is its model asked from three
/// perspectives. When nothing answers: [`ErrorKind::NoModelServer`] naming every target probed.
pub async fn discover(targets: &[ProbeTarget], timeout: Duration) -> Result<Discovery> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| ErrorKind::Invalid(format!("discovery: cannot build HTTP client: {e}")))?;
    let answers =
        futures::future::join_all(targets.iter().map(|t| probe(&client, t, timeout))).await;
    let servers: Vec<DiscoveredServer> = targets
        .iter()
        .zip(answers)
        .filter_map(|(target, models)| {
            models.map(|models| DiscoveredServer {
                target: target.clone(),
                models,
            })
        })
        .collect();
    if servers.is_empty() {
        return Err(no_model_server(targets).into());
    }
    Ok(Discovery {
        config: build_config(&servers),
        servers,
    })
}

/// The models a target lists (through the providers' listing request, as a local provider
/// bounded by `timeout` and [`MAX_LISTING_BYTES`]), or `None` when it does not answer usefully.
async fn probe(
    client: &reqwest::Client,
    target: &ProbeTarget,
    timeout: Duration,
) -> Option<Vec<String>> {
    let url = format!("{}/models", target.base_url.trim_end_matches('/'));
    let parsed = match reqwest::Url::parse(&url) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::debug!(target = %target.name, %url, error = %e, "discovery: not a URL");
            return None;
        }
    };
    let provider = ProviderConfig {
        timeout,
        // A listing is small; a probed port that streams without end must not fill memory.
        max_response_bytes: Some(MAX_LISTING_BYTES),
        ..local_provider(&target.name, &target.base_url)
    };
    let models: Vec<String> = match listing::fetch(client, &provider, &parsed).await {
        Ok(listed) => listed.into_iter().map(|m| m.id).collect(),
        Err(e) => {
            tracing::debug!(target = %target.name, %url, error = %crate::error::chain_message(&e), "discovery: no model listing");
            return None;
        }
    };
    if models.is_empty() {
        tracing::debug!(target = %target.name, %url, "discovery: server lists no models");
        return None;
    }
    tracing::debug!(target = %target.name, %url, count = models.len(), "discovery: found models");
    Some(models)
}

fn no_model_server(targets: &[ProbeTarget]) -> ErrorKind {
    let probed = targets
        .iter()
        .map(|t| format!("{} ({})", t.name, t.base_url))
        .collect::<Vec<_>>()
        .join(", ");
    let hint = "Start a local model server — `ollama serve` (then `ollama pull qwen2.5:7b`), \
                LM Studio's local server (port 1234), \
                `llama-server -m MODEL.gguf --port 8080` or `vllm serve MODEL` — \
                or write a config file (fusion.toml, see the README) and pass it with --config."
        .to_owned();
    ErrorKind::NoModelServer { probed, hint }
}

/// The three perspectives a lone model is asked from: (member suffix, system prompt).
const PERSPECTIVES: [(&str, &str); 3] = [
    (
        "analyst",
        "You are the analyst on a panel. Work through the question carefully and step by step: \
         restate what is asked, reason it out, check your work, then give your answer.",
    ),
    (
        "skeptic",
        "You are the skeptic on a panel. Challenge the assumptions behind the question and the \
         obvious answer, name the risks, edge cases and ways it could be wrong, then give the \
         answer you can defend.",
    ),
    (
        "pragmatist",
        "You are the pragmatist on a panel. Give the most practical answer: concise, concrete \
         and directly usable, without hedging or padding.",
    ),
];

/// Providers, models and the `default` council for the servers that answered (at least one).
fn build_config(servers: &[DiscoveredServer]) -> Config {
    let mut config = Config::default();
    let mut taken = HashSet::new();
    let mut chosen = Vec::new(); // (model id, base URL)
    for server in servers.iter().take(MAX_MODELS) {
        let Some(model) = pick_model(&server.models) else {
            continue;
        };
        let name = unique_name(&server.target.name, &taken);
        taken.insert(name.clone());
        let base_url = server.target.base_url.trim_end_matches('/').to_owned();
        let id = format!("{name}/{model}");
        config.providers.push(local_provider(&name, &base_url));
        config.models.push(ModelConfig {
            id: id.clone(),
            provider: name,
            model: Some(model.to_owned()),
            context_window: None,
            price: None,
            quality: None,
        });
        chosen.push((id, base_url));
    }

    let mut notes = vec![found_note(servers)];
    let seat = |model: &str| MemberConfig {
        model: model.to_owned(),
        ..MemberConfig::default()
    };
    let (panel, lead) = match chosen.as_slice() {
        [(id, url)] => {
            notes.push(format!(
                "zero-config: only one model was found ({id} at {url}); the panel is that model \
                 asked from three perspectives (analyst, skeptic, pragmatist)"
            ));
            let panel = PERSPECTIVES
                .iter()
                .map(|(role, system)| MemberConfig {
                    name: Some(format!("{id}#{role}")),
                    system: Some((*system).to_owned()),
                    ..seat(id)
                })
                .collect();
            (panel, id.as_str())
        }
        _ => {
            let ids: Vec<&str> = chosen.iter().map(|(id, _)| id.as_str()).collect();
            let lead = ids.first().copied().unwrap_or_default();
            notes.push(format!(
                "zero-config: the panel is {}; {lead} judges and synthesizes",
                ids.join(", ")
            ));
            (ids.iter().map(|id| seat(id)).collect(), lead)
        }
    };
    if servers.len() > MAX_MODELS {
        notes.push(format!(
            "zero-config: only the first {MAX_MODELS} servers that answered sit on the panel"
        ));
    }
    config.councils.insert(
        "default".to_owned(),
        CouncilConfig {
            parallel: true,
            timeout: super::default_council_timeout(),
            quorum: None,
            panel,
            judge: seat(lead),
            synthesizer: Some(seat(lead)),
            notes,
        },
    );
    config
}

/// The first listed model that is not an embedding model (those cannot chat), else the first.
fn pick_model(models: &[String]) -> Option<&str> {
    models
        .iter()
        .find(|m| !m.to_ascii_lowercase().contains("embed"))
        .or(models.first())
        .map(String::as_str)
}

fn unique_name(base: &str, taken: &HashSet<String>) -> String {
    if !taken.contains(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| base.to_owned())
}

fn local_provider(name: &str, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        name: name.to_owned(),
        kind: ProviderKind::Openai,
        base_url: Some(base_url.to_owned()),
        api_key_env: None,
        api_key: None,
        headers: BTreeMap::new(),
        tier: Tier::Local,
        max_concurrency: None,
        max_queue: None,
        timeout: super::default_timeout(),
        retries: super::default_retries(),
        command: None,
        prompt_via: PromptVia::default(),
        env: BTreeMap::new(),
        cwd: None,
        catalog: None,
        catalog_refresh: super::default_catalog_refresh(),
        max_response_bytes: None,
        responses: false,
    }
}

/// "zero-config: found ollama at http://127.0.0.1:11434/v1 (2 models: a, b), ..."
fn found_note(servers: &[DiscoveredServer]) -> String {
    const SHOWN: usize = 5;
    let found = servers
        .iter()
        .map(|s| {
            let mut listed = s
                .models
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if s.models.len() > SHOWN {
                listed.push_str(", ...");
            }
            let count = s.models.len();
            let plural = if count == 1 { "" } else { "s" };
            format!(
                "{} at {} ({count} model{plural}: {listed})",
                s.target.name, s.target.base_url
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!("zero-config: found {found}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, port: u16, models: &[&str]) -> DiscoveredServer {
        DiscoveredServer {
            target: ProbeTarget::new(name, format!("http://127.0.0.1:{port}/v1")),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    #[test]
    fn one_model_becomes_three_perspective_members_with_a_note() {
        let config = build_config(&[server("ollama", 11434, &["qwen2.5:7b", "llama3"])]);
        config
            .validate(std::path::Path::new("<discovery>"))
            .unwrap();
        assert_eq!(config.providers.len(), 1);
        assert_eq!(config.providers[0].tier, Tier::Local);
        assert_eq!(config.models[0].id, "ollama/qwen2.5:7b");
        assert_eq!(config.models[0].upstream_name(), "qwen2.5:7b");
        let council = &config.councils["default"];
        let names: Vec<_> = council
            .panel
            .iter()
            .filter_map(|m| m.name.as_deref())
            .collect();
        assert_eq!(
            names,
            [
                "ollama/qwen2.5:7b#analyst",
                "ollama/qwen2.5:7b#skeptic",
                "ollama/qwen2.5:7b#pragmatist"
            ]
        );
        assert!(council.panel.iter().all(|m| m.model == "ollama/qwen2.5:7b"));
        let prompts: HashSet<_> = council
            .panel
            .iter()
            .filter_map(|m| m.system.as_deref())
            .collect();
        assert_eq!(prompts.len(), 3);
        assert_eq!(council.judge.model, "ollama/qwen2.5:7b");
        assert!(council.notes.iter().any(|n| n
            == "zero-config: only one model was found (ollama/qwen2.5:7b at \
                http://127.0.0.1:11434/v1); the panel is that model asked from three \
                perspectives (analyst, skeptic, pragmatist)"));
        assert!(council.notes[0].contains("found ollama at http://127.0.0.1:11434/v1 (2 models"));
    }

    #[test]
    fn several_servers_give_one_member_each_up_to_three() {
        let servers = [
            server("ollama", 1, &["nomic-embed-text", "qwen2.5:7b"]),
            server("lm-studio", 2, &["phi-4"]),
            server("llama.cpp", 3, &["gguf"]),
            server("vllm", 4, &["mistral"]),
        ];
        let config = build_config(&servers);
        config
            .validate(std::path::Path::new("<discovery>"))
            .unwrap();
        let council = &config.councils["default"];
        let seats: Vec<_> = council.panel.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(
            seats,
            ["ollama/qwen2.5:7b", "lm-studio/phi-4", "llama.cpp/gguf"]
        );
        assert!(
            council
                .panel
                .iter()
                .all(|m| m.name.is_none() && m.system.is_none())
        );
        assert_eq!(council.judge.model, "ollama/qwen2.5:7b");
        assert_eq!(
            council.synthesizer.as_ref().map(|s| s.model.as_str()),
            Some("ollama/qwen2.5:7b")
        );
        assert!(council.notes.iter().any(|n| n.contains("first 3 servers")));
    }

    #[test]
    fn duplicate_target_names_get_unique_provider_names() {
        let config = build_config(&[server("box", 1, &["a"]), server("box", 2, &["b"])]);
        let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["box", "box-2"]);
        config
            .validate(std::path::Path::new("<discovery>"))
            .unwrap();
    }

    #[test]
    fn target_list_parses_name_url_pairs_and_skips_malformed_entries() {
        let targets = parse_targets(
            " a=http://127.0.0.1:1/v1/ , broken, =http://x/v1, b=not a url,c=http://h:2/v1",
        );
        assert_eq!(
            targets,
            [
                ProbeTarget::new("a", "http://127.0.0.1:1/v1"),
                ProbeTarget::new("c", "http://h:2/v1")
            ]
        );
    }

    #[test]
    fn default_targets_cover_the_four_local_servers() {
        if std::env::var_os(TARGETS_ENV).is_some() {
            return; // overridden for this run
        }
        let targets = default_probe_targets();
        let urls: Vec<_> = targets.iter().map(|t| t.base_url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:11434/v1",
                "http://127.0.0.1:1234/v1",
                "http://127.0.0.1:8080/v1",
                "http://127.0.0.1:8000/v1"
            ]
        );
    }

    fn unused_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}/v1")
    }

    #[tokio::test]
    async fn nothing_answering_is_no_model_server_listing_every_target() {
        let targets = [
            ProbeTarget::new("first", unused_url()),
            ProbeTarget::new("second", unused_url()),
        ];
        let err = discover(&targets, Duration::from_millis(400))
            .await
            .unwrap_err();
        let ErrorKind::NoModelServer { probed, hint } = err.kind() else {
            panic!("expected NoModelServer, got {err}");
        };
        assert_eq!(
            *probed,
            format!(
                "first ({}), second ({})",
                targets[0].base_url, targets[1].base_url
            )
        );
        assert!(
            hint.contains("ollama serve") && hint.contains("fusion.toml"),
            "{hint}"
        );
        assert_eq!(err.status_code(), 503);
    }

    async fn mock(models: &[&str]) -> fusion_mock_provider::MockProvider {
        use fusion_mock_provider::{MockProvider, ModelScript, Script};
        let script = models.iter().fold(Script::new(), |script, model| {
            script.with_model(*model, ModelScript::echo())
        });
        MockProvider::start(script).await.unwrap()
    }

    #[tokio::test]
    async fn one_live_server_with_one_model_gives_a_three_perspective_panel() {
        let server = mock(&["tiny"]).await;
        let targets = [
            ProbeTarget::new("down", unused_url()),
            ProbeTarget::new("mock", server.base_url()),
        ];
        let found = discover(&targets, Duration::from_millis(400))
            .await
            .unwrap();
        assert_eq!(found.servers.len(), 1);
        assert_eq!(found.servers[0].target.name, "mock");
        assert_eq!(found.servers[0].models, ["tiny"]);
        let config = &found.config;
        config
            .validate(std::path::Path::new("<discovery>"))
            .unwrap();
        assert_eq!(
            config.providers[0].base_url.as_deref(),
            Some(server.base_url().as_str())
        );
        let council = &config.councils["default"];
        let names: Vec<_> = council
            .panel
            .iter()
            .filter_map(|m| m.name.as_deref())
            .collect();
        assert_eq!(
            names,
            [
                "mock/tiny#analyst",
                "mock/tiny#skeptic",
                "mock/tiny#pragmatist"
            ]
        );
        let note = format!(
            "zero-config: only one model was found (mock/tiny at {}); the panel is that model \
             asked from three perspectives (analyst, skeptic, pragmatist)",
            server.base_url()
        );
        assert!(council.notes.contains(&note), "{:?}", council.notes);
    }

    #[tokio::test]
    async fn two_live_servers_give_a_two_member_panel() {
        let first = mock(&["alpha", "beta"]).await;
        let second = mock(&["gamma"]).await;
        let targets = [
            ProbeTarget::new("one", first.base_url()),
            ProbeTarget::new("down", unused_url()),
            ProbeTarget::new("two", second.base_url()),
        ];
        let found = discover(&targets, Duration::from_millis(400))
            .await
            .unwrap();
        let names: Vec<_> = found
            .servers
            .iter()
            .map(|s| s.target.name.as_str())
            .collect();
        assert_eq!(names, ["one", "two"]);
        let council = &found.config.councils["default"];
        let seats: Vec<_> = council.panel.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(seats.len(), 2);
        assert!(
            seats[0].starts_with("one/") && seats[1] == "two/gamma",
            "{seats:?}"
        );
        assert_eq!(council.judge.model, seats[0]);
        found
            .config
            .validate(std::path::Path::new("<discovery>"))
            .unwrap();
    }
}
