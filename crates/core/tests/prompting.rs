//! Prompting strategies: kept in the store (migration 0006) on SQLite and PostgreSQL, and
//! applied by the provider registry to every call of their model — the request the provider
//! receives carries the strategy's system prompt and templated user message, streamed or not,
//! and a registry built again over the same store applies it too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, TestStore};
use fusion_core::config::Config;
use fusion_core::prompting::{PromptingStrategy, StoredStrategy};
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::Ledger;
use fusion_mock_provider::{MockProvider, Script};
use fusion_types::ChatRequest;
use futures::StreamExt;
use serde_json::Value;

fn strategy(system: &str, user: &str, use_chat: bool) -> PromptingStrategy {
    PromptingStrategy {
        system_prompt: system.into(),
        user_prompt: user.into(),
        use_chat,
        assistant_prompt: None,
        success_rate: Some(0.75),
        quality_score: None,
    }
}

async fn strategies_are_upserted_per_model_and_read_back_in_model_order(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    assert!(store.prompting_strategies().await.unwrap().is_empty());
    let first = StoredStrategy {
        model: "openrouter/z:free".into(),
        strategy: strategy("S", "Q: {prompt}", true),
        updated_ms: 1,
    };
    let other = StoredStrategy {
        model: "coder".into(),
        strategy: PromptingStrategy {
            assistant_prompt: Some("Answer:".into()),
            quality_score: Some(0.5),
            ..strategy("", "{prompt}", false)
        },
        updated_ms: 2,
    };
    store.put_prompting_strategy(&first).await.unwrap();
    store.put_prompting_strategy(&other).await.unwrap();
    // Scores that come and go, one write after another (on PostgreSQL a NULL score once made the
    // next real one fail on the same connection).
    for i in 0..10 {
        let mut flip = other.clone();
        flip.strategy.quality_score = (i % 2 == 0).then_some(0.25);
        flip.strategy.success_rate = (i % 3 == 0).then_some(0.5);
        store.put_prompting_strategy(&flip).await.unwrap();
    }
    store.put_prompting_strategy(&other).await.unwrap();
    assert_eq!(
        store.prompting_strategies().await.unwrap(),
        [other.clone(), first.clone()]
    );
    let replaced = StoredStrategy {
        strategy: strategy("S2", "{task}", false),
        updated_ms: 3,
        ..first
    };
    store.put_prompting_strategy(&replaced).await.unwrap();
    assert_eq!(
        store.prompting_strategies().await.unwrap(),
        [other, replaced]
    );
}

fusion_test_support::on_both_backends!(
    strategies_are_upserted_per_model_and_read_back_in_model_order
);

async fn registry(mock: &MockProvider, store: &fusion_core::store::Store) -> ProviderRegistry {
    let config: Config = toml::from_str(&format!(
        r#"
[[providers]]
name = "mock"
kind = "openai"
base_url = "{}"
retries = 0
timeout = "5s"

[[models]]
id = "coder"
provider = "mock"
model = "upstream-coder"

[[models]]
id = "plain"
provider = "mock"
"#,
        mock.base_url()
    ))
    .unwrap();
    let registry = ProviderRegistry::from_config(&config)
        .unwrap()
        .with_ledger(Ledger::start(store.clone()));
    registry.restore_from(store).await.unwrap();
    registry
}

fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(r, c)| ((*r).to_owned(), (*c).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_stored_strategy_changes_what_the_provider_receives_for_that_model_only() {
    let t = TestStore::new(Backend::Sqlite).await;
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let reg = registry(&mock, &t.store).await;
    let id = reg.model_named("upstream-coder").unwrap();
    assert_eq!(id, "coder", "an upstream name finds its model");
    reg.set_prompting_strategy(
        &t.store,
        &id,
        strategy("You are terse.", "### Task\n{prompt}\n### End", true),
    )
    .await
    .unwrap();

    let request = ChatRequest::simple("x", Some("Be kind."), "hello");
    reg.chat("coder", request.clone()).await.unwrap();
    reg.chat("plain", request.clone()).await.unwrap();
    let mut stream = reg.chat_stream("coder", request).await.unwrap();
    while stream.next().await.is_some() {}

    let sent = mock.requests();
    let templated = pairs(&[
        ("system", "You are terse.\n\nBe kind."),
        ("user", "### Task\nhello\n### End"),
    ]);
    assert_eq!(sent[0].model, "upstream-coder");
    assert_eq!(messages(&sent[0].body), templated);
    assert_eq!(
        messages(&sent[1].body),
        pairs(&[("system", "Be kind."), ("user", "hello")]),
        "another model's calls are untouched"
    );
    assert_eq!(messages(&sent[2].body), templated, "streamed calls too");

    // A registry built again over the store (a restart, a reload) applies it without being told.
    reg.set_prompting_strategy(&t.store, "coder", strategy("One.", "Q: {prompt}", false))
        .await
        .unwrap();
    mock.clear_requests();
    let again = registry(&mock, &t.store).await;
    assert!(!again.prompting_strategy("coder").unwrap().strategy.use_chat);
    again
        .chat("coder", ChatRequest::simple("x", None, "hi"))
        .await
        .unwrap();
    assert_eq!(
        messages(&mock.requests()[0].body),
        pairs(&[("user", "One.\n\nQ: hi")])
    );
    assert!(again.prompting_strategy("plain").is_none());
}

fn config_with(mock: &MockProvider, prompting: &str) -> String {
    format!(
        r#"
[[providers]]
name = "mock"
kind = "openai"
base_url = "{}"
retries = 0

[[models]]
id = "coder"
provider = "mock"
model = "upstream-coder"

{prompting}
"#,
        mock.base_url()
    )
}

#[tokio::test]
async fn a_configured_strategy_applies_until_one_set_over_mcp_overrides_it() {
    let t = TestStore::new(Backend::Sqlite).await;
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let text = config_with(
        &mock,
        "[prompting.coder]\nsystem_prompt = \"From the config.\"\nuser_prompt = \"<{{prompt}}>\"",
    );
    let config =
        fusion_core::config::check_toml(&text, std::path::Path::new("fusion.toml")).unwrap();
    let reg = ProviderRegistry::from_config(&config)
        .unwrap()
        .with_ledger(Ledger::start(t.store.clone()));
    reg.restore_from(&t.store).await.unwrap();
    let described = reg.prompting_strategy("coder").unwrap();
    assert_eq!(json_of(&described)["source"], "config");
    reg.chat("coder", ChatRequest::simple("x", None, "hi"))
        .await
        .unwrap();
    assert_eq!(
        messages(&mock.requests()[0].body),
        pairs(&[("system", "From the config."), ("user", "<hi>")])
    );

    reg.set_prompting_strategy(&t.store, "coder", strategy("Stored.", "{prompt}", true))
        .await
        .unwrap();
    let described = json_of(&reg.prompting_strategy("coder").unwrap());
    assert_eq!(described["source"], "store");
    assert_eq!(described["overrides"]["system_prompt"], "From the config.");
    reg.chat("coder", ChatRequest::simple("x", None, "hi"))
        .await
        .unwrap();
    assert_eq!(
        messages(&mock.requests()[1].body),
        pairs(&[("system", "Stored."), ("user", "hi")])
    );
}

fn json_of(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

#[tokio::test]
async fn a_configured_strategy_out_of_bounds_or_with_unknown_keys_is_rejected_naming_the_key() {
    let mock = MockProvider::start(Script::echo_any()).await.unwrap();
    let check = |prompting: String| {
        fusion_core::config::check_toml(
            &config_with(&mock, &prompting),
            std::path::Path::new("fusion.toml"),
        )
        .unwrap_err()
    };
    let big = "x".repeat(64 * 1024 + 1);
    let err = check(format!("[prompting.coder]\nsystem_prompt = \"{big}\""));
    assert_eq!(err.key, "prompting.coder.system_prompt", "{err:?}");
    assert!(err.reason.contains("65537 bytes"), "{err:?}");
    let err = check("[prompting.coder]\nquality_score = 3.0".to_owned());
    assert_eq!(err.key, "prompting.coder.quality_score", "{err:?}");
    let err = check("[prompting.coder]\nsystem = \"typo\"".to_owned());
    assert!(err.reason.contains("system"), "{err:?}");
}
