//! The legacy converter: shapes, keys named in errors, shared providers, Pi members, the roster.

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

/// The council project's shipped Pi council (GLM + GPT + Kimi panel, Kimi judge, GPT
/// synthesizer) with one local member mixed in.
const PI_COUNCIL: &str = r#"{ "parallel": true, "timeoutMs": 300000,
  "panel": [
    {"name": "glm", "backend": "pi", "provider": "zai", "modelId": "glm-5.2", "system": "Generalist."},
    {"name": "gpt", "backend": "pi", "provider": "openai-codex", "modelId": "gpt-5.4", "temperature": 0.3},
    {"name": "local", "baseUrl": "http://127.0.0.1:8080/v1", "apiKey": "x", "model": "qwen"} ],
  "judge": {"name": "kimi", "backend": "pi", "provider": "kimi-coding", "modelId": "kimi-k2-thinking"},
  "synthesizer": {"name": "gpt", "backend": "pi", "provider": "openai-codex", "modelId": "gpt-5.4"} }"#;

#[test]
fn pi_members_become_models_of_one_serial_exec_provider_running_pi() {
    let (config, warnings) = parse(PI_COUNCIL).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    config.validate(Path::new("council.json")).unwrap();
    let pi: Vec<_> = config
        .providers
        .iter()
        .filter(|p| p.kind == ProviderKind::Exec)
        .collect();
    assert_eq!(pi.len(), 1, "{:?}", config.providers);
    assert_eq!(pi[0].name, "pi");
    assert_eq!(pi[0].max_concurrency, Some(1));
    assert_eq!(pi[0].timeout, Duration::from_millis(300_000));
    assert_eq!(
        pi[0].command.as_deref().unwrap(),
        ["pi", "--print", "--no-session", "--model", "{model}"]
    );
    let upstream = |id: &str| {
        let model = config.models.iter().find(|m| m.id == id).unwrap();
        (model.provider.as_str(), model.upstream_name().to_owned())
    };
    assert_eq!(upstream("glm"), ("pi", "zai/glm-5.2".to_owned()));
    assert_eq!(
        upstream("kimi"),
        ("pi", "kimi-coding/kimi-k2-thinking".to_owned())
    );
    assert_eq!(upstream("local").0, "local");
    let council = &config.councils["default"];
    // The synthesizer shares the panel's GPT model; Pi ignores sampling settings.
    assert_eq!(council.synthesizer.as_ref().unwrap().model, "gpt");
    assert_eq!(council.panel[1].temperature, None);
    assert_eq!(council.panel[0].system.as_deref(), Some("Generalist."));
}

#[test]
fn pi_members_without_provider_or_model_id_name_the_missing_key() {
    let err = parse(
        r#"{"panel": [{"backend": "pi", "modelId": "glm-5.2"}], "judge": {"backend": "pi", "provider": "zai", "modelId": "x"}}"#,
    )
    .unwrap_err();
    assert_eq!(err.key, "panel[0].provider", "{err}");
    let err = parse(r#"{"panel": [{"backend": "pi", "provider": "zai"}], "judge": {"backend": "pi", "modelId": "zai/x"}}"#)
        .unwrap_err();
    assert_eq!(err.key, "panel[0].modelId", "{err}");
    let err = parse(r#"{"panel": [{"backend": "grpc", "model": "m"}], "judge": {"backend": "pi", "modelId": "zai/x"}}"#)
        .unwrap_err();
    assert_eq!(err.key, "panel[0].backend", "{err}");
    assert!(err.reason.contains("\"openai\" or \"pi\""), "{err}");
}

const LOOPED: &str = r#"{ "timeoutMs": 60000,
  "panel": [{"name": "qwen", "baseUrl": "http://127.0.0.1:8080/v1", "model": "qwen"}],
  "judge": {"name": "qwen", "baseUrl": "http://127.0.0.1:8080/v1", "model": "qwen"},
  "model_roster": {
    "glm": {"backend": "pi", "provider": "zai", "modelId": "glm-5.2"},
    "qwen": {"baseUrl": "http://127.0.0.1:8080/v1", "model": "qwen"},
    "coder": {"baseUrl": "http://127.0.0.1:8081/v1", "model": "qwen-coder"}
  },
  "role_model_policy": {
    "explorer": "coder",
    "builder": ["coder", "glm"],
    "critic": {"fallback": ["qwen"], "primary": "glm"},
    "Performance-Sentinel": "qwen",
    "loop_conductor": "glm",
    "summarizer": "qwen"
  } }"#;

#[test]
fn roster_and_role_policy_become_loop_roles_preferred_first() {
    let (config, warnings) = parse(LOOPED).unwrap();
    config.validate(Path::new("looped.json")).unwrap();
    let roles = &config.looped.roles;
    assert_eq!(roles.explorer, ["coder"]);
    assert_eq!(roles.builder, ["coder", "glm"]);
    assert_eq!(roles.critic, ["glm", "qwen"]);
    assert_eq!(roles.sentinel, ["qwen"]);
    assert_eq!(roles.conductor, ["glm"]);
    assert!(roles.checker.is_empty());
    // The roster's qwen is the panel's model, not a second one.
    assert_eq!(
        config
            .models
            .iter()
            .filter(|m| m.upstream_name() == "qwen")
            .count(),
        1
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("role_model_policy.summarizer"),
        "{warnings:?}"
    );
}

#[test]
fn a_loop_file_without_a_panel_loads_roles_without_a_council() {
    let text = r#"{"model_roster": [{"name": "a", "baseUrl": "http://127.0.0.1:9/v1", "model": "m"}],
                   "role_model_policy": {"conductor": "a"}}"#;
    let (config, _) = parse(text).unwrap();
    assert!(config.councils.is_empty());
    assert_eq!(config.looped.roles.conductor, ["a"]);
}

#[test]
fn role_policy_errors_name_the_key_and_the_roster() {
    let text = LOOPED.replace(r#""explorer": "coder""#, r#""explorer": ["coder", "gpt"]"#);
    let err = parse(&text).unwrap_err();
    assert_eq!(err.key, "role_model_policy.explorer[1]", "{err}");
    assert!(err.reason.contains("coder, glm, qwen"), "{err}");
    let err =
        parse(r#"{"model_roster": {"a": {"model": "m"}}, "role_model_policy": {}}"#).unwrap_err();
    assert_eq!(err.key, "model_roster.a.baseUrl", "{err}");
    let err =
        parse(r#"{"model_roster": {"a": {"baseUrl": "http://127.0.0.1:9/v1", "model": "m"}}}"#)
            .unwrap_err();
    assert_eq!(err.key, "role_model_policy", "{err}");
    let err = parse(
        r#"{"model_roster": {"a": {"baseUrl": "http://127.0.0.1:9/v1", "model": "m"}},
                        "role_model_policy": {"critic": 3}}"#,
    )
    .unwrap_err();
    assert_eq!(err.key, "role_model_policy.critic", "{err}");
}
