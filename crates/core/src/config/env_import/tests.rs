//! Unit tests of `fusion config import`: the replaced server's documented `.env` converts with
//! exactly the expected keys left over, secrets stay out, and every rule has its case.

use std::collections::BTreeSet;

use super::*;
use crate::config::ProviderKind;

/// The `.env` block of the replaced server's README, verbatim (its last comment line carries
/// the page's next heading, as scraped).
const SEED: &str = include_str!("locallama.env");

fn import(text: &str) -> EnvImport {
    import_router_env(text).unwrap()
}

fn provider<'a>(out: &'a EnvImport, name: &str) -> &'a crate::config::ProviderConfig {
    out.config
        .providers
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no provider `{name}` in\n{}", out.toml))
}

fn note<'a>(out: &'a EnvImport, key: &str) -> &'a str {
    out.notes
        .iter()
        .find(|n| n.starts_with(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no note for {key}: {:?}", out.notes))
}

fn unused_keys(out: &EnvImport) -> Vec<(usize, &str)> {
    out.unused
        .iter()
        .map(|u| (u.line, u.key.as_str()))
        .collect()
}

#[test]
fn the_seed_env_converts_and_exactly_its_unmappable_keys_are_reported() {
    let out = import(SEED);
    let unmapped: BTreeSet<&str> = out.unmapped.iter().map(|u| u.key.as_str()).collect();
    let expected: BTreeSet<&str> = [
        "CODE_SEARCH_ENABLED",
        "CODE_SEARCH_EXCLUDE_PATTERNS",
        "CODE_SEARCH_INDEX_ON_START",
        "CODE_SEARCH_REINDEX_INTERVAL",
        "BENCHMARK_RUNS_PER_TASK",
        "BENCHMARK_PARALLEL",
        "BENCHMARK_MAX_PARALLEL_TASKS",
        "BENCHMARK_TASK_TIMEOUT",
        "BENCHMARK_SAVE_RESULTS",
        "BENCHMARK_RESULTS_PATH",
        "MIN_VALIDATOR_SCORE",
        "VALIDATION_RETRY_BUDGET",
        "LOCK_FILE_CHECK_ACTIVE_PROCESS",
        "REMOVE_STALE_LOCK_FILES",
        "LOG_LEVEL",
    ]
    .into();
    assert_eq!(unmapped, expected);
    assert_eq!(out.unmapped.len(), expected.len(), "each key reported once");
    assert!(
        out.unmapped.iter().all(|u| u.reason != "unknown key"),
        "{:?}",
        out.unmapped
    );
    assert_eq!(out.unused, Vec::<UnusedValue>::new());

    let names: Vec<&str> = out
        .config
        .providers
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["lmstudio", "ollama", "openrouter"]);
    let lmstudio = provider(&out, "lmstudio");
    assert_eq!(lmstudio.kind, ProviderKind::Openai);
    assert_eq!(
        lmstudio.base_url.as_deref(),
        Some("http://localhost:1234/v1")
    );
    assert_eq!(lmstudio.tier, Tier::Local);
    assert_eq!(lmstudio.max_concurrency, Some(1));
    assert_eq!(lmstudio.timeout, Duration::from_secs(120));
    let ollama = provider(&out, "ollama");
    assert_eq!(
        ollama.base_url.as_deref(),
        Some("http://localhost:11434/v1")
    );
    assert_eq!(ollama.tier, Tier::Local);
    assert_eq!(ollama.timeout, Duration::from_secs(120));
    let openrouter = provider(&out, "openrouter");
    assert_eq!(openrouter.base_url.as_deref(), Some(OPENROUTER_URL));
    assert_eq!(
        openrouter.api_key_env.as_deref(),
        Some("OPENROUTER_API_KEY")
    );
    assert_eq!(openrouter.tier, Tier::Free);
    assert_eq!(openrouter.catalog, Some(true));
    assert_eq!(openrouter.max_concurrency, Some(5));

    let [model] = &out.config.models[..] else {
        panic!("{:?}", out.config.models)
    };
    assert_eq!(
        (model.id.as_str(), model.provider.as_str()),
        ("qwen2.5-coder-3b-instruct", "lmstudio")
    );
    let router = &out.config.router;
    assert_eq!(router.token_threshold, 1500);
    assert_eq!(router.cost_threshold, 0.02);
    assert_eq!(router.quality_threshold, 0.7);
    assert_eq!(router.reliable_after, 3, "RELIABLE_BENCHMARK_COUNT");
    assert_eq!(router.health_interval, Duration::from_secs(60));
    assert!(!router.free_only);
    assert_eq!(out.config.tasks.local_slots, 1);
    assert_eq!(out.config.tasks.remote_slots, 5);

    assert!(note(&out, "OLLAMA_ENDPOINT").contains("native API"));
    assert!(note(&out, "OPENROUTER_API_KEY").contains("export OPENROUTER_API_KEY="));
    assert!(note(&out, "OPENROUTER_API_KEY").contains("placeholder"));
    assert!(
        !out.toml.contains("your_openrouter_api_key_here"),
        "{}",
        out.toml
    );
}

#[test]
fn the_rendered_text_loads_through_the_config_loader() {
    let out = import(SEED);
    let (loaded, _) = crate::config::parse_text(&out.toml, Path::new("fusion.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
    assert_eq!(loaded, out.config);
    for note in &out.notes {
        assert!(out.toml.contains(&format!("# {note}\n")), "{}", out.toml);
    }
}

#[test]
fn unmapped_keys_say_what_to_do_instead() {
    let out = import(SEED);
    let reason = |key: &str| {
        let u = out.unmapped.iter().find(|u| u.key == key).unwrap();
        u.to_string()
    };
    assert!(
        reason("CODE_SEARCH_EXCLUDE_PATTERNS").contains(
            "fusion index PATH --exclude 'node_modules/**' --exclude 'dist/**' --exclude '.git/**'"
        ),
        "{}",
        reason("CODE_SEARCH_EXCLUDE_PATTERNS")
    );
    assert!(reason("CODE_SEARCH_REINDEX_INTERVAL").contains("--reindex-every 1h"));
    assert!(reason("LOG_LEVEL").contains("FUSION_LOG=debug"));
    assert!(
        reason("BENCHMARK_PARALLEL").starts_with("BENCHMARK_PARALLEL: no equivalent in Fusion (")
    );
    let line = out
        .unmapped
        .iter()
        .find(|u| u.key == "LOG_LEVEL")
        .unwrap()
        .line;
    assert_eq!(SEED.lines().nth(line - 1), Some("LOG_LEVEL=debug"));
}

#[test]
fn an_openrouter_key_value_never_appears_in_the_output() {
    let secret = "sk-or-v1-0123456789abcdef-real-looking";
    for line in [
        format!("OPENROUTER_API_KEY={secret}"),
        format!("export OPENROUTER_API_KEY=\"{secret}\" # mine"),
        format!("OPENROUTER_API_KEY='{secret}'\nOPENROUTER_API_KEY='{secret}'"),
    ] {
        let out = import(&line);
        let everything = format!(
            "{}{:?}{:?}{:?}",
            out.toml, out.notes, out.unmapped, out.unused
        );
        assert!(!everything.contains(secret), "{everything}");
        assert!(!everything.contains("0123456789abcdef"), "{everything}");
        assert_eq!(
            provider(&out, "openrouter").api_key_env.as_deref(),
            Some("OPENROUTER_API_KEY")
        );
        assert!(!note(&out, "OPENROUTER_API_KEY").contains("placeholder"));
    }
}

#[test]
fn quotes_comments_and_export_prefixes_are_read_like_dotenv() {
    let out = import(
        "# header\n\
         export LM_STUDIO_ENDPOINT=\"http://127.0.0.1:1234\"   # studio\n\
         LLAMA_CPP_ENDPOINT=http://localhost:8080 # leave unset to disable\n\
         DEFAULT_LOCAL_MODEL='qwen # coder'\n\
         \n\
         COST_THRESHOLD = 0.5\n",
    );
    assert_eq!(out.unused, Vec::<UnusedValue>::new());
    assert_eq!(
        provider(&out, "lmstudio").base_url.as_deref(),
        Some("http://127.0.0.1:1234/v1")
    );
    assert!(note(&out, "LM_STUDIO_ENDPOINT").contains("http://127.0.0.1:1234/v1"));
    assert_eq!(
        provider(&out, "llamacpp").base_url.as_deref(),
        Some("http://localhost:8080/v1")
    );
    assert_eq!(out.config.models[0].id, "qwen # coder");
    assert_eq!(out.config.router.cost_threshold, 0.5);
}

#[test]
fn a_malformed_line_is_an_error_naming_its_number() {
    let err =
        import_router_env("TOKEN_THRESHOLD=1500\n# fine\nthis is not an assignment\n").unwrap_err();
    assert!(
        matches!(err, EnvImportError::Malformed { line: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("line 3: "), "{err}");
    let err = import_router_env("OPENROUTER_API_KEY=\"sk-or-unclosed\n").unwrap_err();
    assert!(
        err.to_string().contains("line 1: OPENROUTER_API_KEY"),
        "{err}"
    );
    assert!(!err.to_string().contains("sk-or-unclosed"), "{err}");
}

#[test]
fn unusable_values_are_reported_by_line_and_left_out() {
    let out = import(
        "QUALITY_THRESHOLD=1.5\n\
         TOKEN_THRESHOLD=lots\n\
         OLLAMA_TIMEOUT=120\n\
         DEFAULT_LOCAL_MODEL=qwen\n\
         LM_STUDIO_ENDPOINT=localhost:1234\n\
         PROVIDER_MAX_CONCURRENT_LOCAL=0\n\
         PROVIDER_TIMEOUT_MS=-5\n\
         CODE_SEARCH_EXCLUDE_PATTERNS=node_modules\n\
         OPENROUTER_FREE_ONLY=maybe\n",
    );
    assert_eq!(
        unused_keys(&out),
        [
            (1, "QUALITY_THRESHOLD"),
            (2, "TOKEN_THRESHOLD"),
            (3, "OLLAMA_TIMEOUT"),
            (4, "DEFAULT_LOCAL_MODEL"),
            (5, "LM_STUDIO_ENDPOINT"),
            (6, "PROVIDER_MAX_CONCURRENT_LOCAL"),
            (7, "PROVIDER_TIMEOUT_MS"),
            (8, "CODE_SEARCH_EXCLUDE_PATTERNS"),
            (9, "OPENROUTER_FREE_ONLY"),
        ]
    );
    assert!(
        out.unused[0].reason.contains("between 0 and 1"),
        "{:?}",
        out.unused[0]
    );
    assert!(
        out.unused[2].reason.contains("OLLAMA_ENDPOINT"),
        "{:?}",
        out.unused[2]
    );
    assert!(out.config.providers.is_empty() && out.config.models.is_empty());
    assert_eq!(out.config.router, crate::config::RouterConfig::default());
    assert!(!out.toml.contains("[router]"), "{}", out.toml);
}

#[test]
fn unknown_keys_are_reported_as_unknown() {
    let out = import("ANTHROPIC_API_KEY=sk-ant-secret\nPORT=3000\n");
    let reasons: Vec<(&str, &str)> = out
        .unmapped
        .iter()
        .map(|u| (u.key.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(reasons[0], ("ANTHROPIC_API_KEY", "unknown key"));
    assert!(reasons[1].1.contains("[server] listen"), "{reasons:?}");
    assert!(!format!("{:?}{}", out.unmapped, out.toml).contains("sk-ant-secret"));
}

#[test]
fn a_key_set_twice_takes_the_last_value_and_reports_the_first() {
    let out = import("TOKEN_THRESHOLD=100\nLOG_LEVEL=info\nTOKEN_THRESHOLD=200\nLOG_LEVEL=warn\n");
    assert_eq!(out.config.router.token_threshold, 200);
    assert_eq!(
        unused_keys(&out),
        [(1, "TOKEN_THRESHOLD"), (2, "LOG_LEVEL")]
    );
    assert!(out.unused[0].reason.contains("line 3"), "{:?}", out.unused);
    let [log] = &out.unmapped[..] else {
        panic!("{:?}", out.unmapped)
    };
    assert_eq!(log.line, 4);
    assert!(log.reason.contains("FUSION_LOG=warn"), "{log}");
}

#[test]
fn empty_values_add_nothing_and_are_reported() {
    let out = import("OPENROUTER_API_KEY=\nLLAMA_CPP_ENDPOINT=\nTOKEN_THRESHOLD=\n");
    assert!(out.config.providers.is_empty(), "{}", out.toml);
    assert_eq!(
        unused_keys(&out),
        [
            (1, "OPENROUTER_API_KEY"),
            (2, "LLAMA_CPP_ENDPOINT"),
            (3, "TOKEN_THRESHOLD")
        ]
    );
    assert!(out.unused[0].reason.contains("no provider"));
}

#[test]
fn free_only_ollama_timeout_and_remote_slots_reach_their_keys() {
    let out = import(
        "OLLAMA_ENDPOINT=http://gpu-box:11434/api/\n\
         OPENROUTER_API_KEY=k\n\
         OPENROUTER_FREE_ONLY=TRUE\n\
         PROVIDER_TIMEOUT_MS=1500\n\
         OLLAMA_TIMEOUT=300\n\
         PROVIDER_MAX_CONCURRENT_REMOTE=2\n\
         DEFAULT_LOCAL_MODEL=qwen2.5-coder:3b\n",
    );
    assert_eq!(out.unused, Vec::<UnusedValue>::new());
    assert!(out.config.router.free_only);
    assert!(note(&out, "OPENROUTER_FREE_ONLY").contains("router.free_only"));
    let ollama = provider(&out, "ollama");
    assert_eq!(ollama.base_url.as_deref(), Some("http://gpu-box:11434/v1"));
    assert_eq!(ollama.timeout, Duration::from_secs(300));
    assert_eq!(ollama.max_concurrency, None);
    let openrouter = provider(&out, "openrouter");
    assert_eq!(openrouter.timeout, Duration::from_millis(1500));
    assert_eq!(openrouter.max_concurrency, Some(2));
    assert_eq!(out.config.tasks.remote_slots, 2);
    assert_eq!(out.config.models[0].provider, "ollama");
}

#[test]
fn a_dollar_brace_in_a_value_stays_literal_after_loading() {
    let out = import("LM_STUDIO_ENDPOINT=http://h:1/v1\nDEFAULT_LOCAL_MODEL=m-${NOT_A_VAR}\n");
    assert_eq!(out.config.models[0].id, "m-${NOT_A_VAR}");
}

#[test]
fn local_server_urls_become_openai_compatible_base_urls() {
    let url = |value: &str, ollama: bool| openai_base_url(value, ollama);
    assert_eq!(
        url("http://localhost:1234/v1/", false).unwrap(),
        "http://localhost:1234/v1"
    );
    assert_eq!(
        url("http://localhost:8080", false).unwrap(),
        "http://localhost:8080/v1"
    );
    assert_eq!(
        url("http://localhost:11434/api", true).unwrap(),
        "http://localhost:11434/v1"
    );
    assert_eq!(
        url("http://localhost:11434", true).unwrap(),
        "http://localhost:11434/v1"
    );
    assert_eq!(
        url("https://o.lan/ollama/api", true).unwrap(),
        "https://o.lan/ollama/v1"
    );
    assert!(url("ftp://h/v1", false).is_err());
    assert!(url("not a url", false).is_err());
    assert!(url("http://h:1/v1?x=1", false).is_err());
}
