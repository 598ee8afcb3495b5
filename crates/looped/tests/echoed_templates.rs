//! A checker or conductor that writes its prompt's example object back (as SmolLM2 did) has
//! checked or decided nothing: the answer is a parse failure, asked for once more, then the
//! safe fallback — `uncertain` routed to a human, or `pause_for_human` — saying so. A retry
//! with a real answer is used, and the echo is noted. Models are the mock provider; the store
//! is each backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::{Backend, TestStore};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_looped::prompts::{CHECKER_SYSTEM, CONDUCTOR_SYSTEM};
use fusion_looped::{
    CheckStatus, DecisionSource, DecisionStatus, LoopRuns, NewRun, Report, Route, RunState,
};
use fusion_mock_provider::{MockProvider, ModelScript, Script};

const DONE: &str = r#"{"status": "done", "confidence": 0.93, "risk": "low",
  "missing_requirements": [], "likely_bugs": [], "verification_gaps": [],
  "exact_next_actions": [], "evidence_used": ["cargo test version"],
  "recommended_route": "stop", "handoff_reason": "the version test passes"}"#;

const CONTINUE: &str = r#"{"status": "continue", "next_prompt": "Add a test for --version.",
  "consensus": ["the flag exists"], "risk_flags": [], "reasons": ["the flag is untested"],
  "evidence_required": ["cargo test output"], "stop_condition": "cargo test version passes"}"#;

/// A prompt's example object, word for word.
fn example(prompt: &'static str) -> &'static str {
    &prompt[prompt.find('{').unwrap()..=prompt.rfind('}').unwrap()]
}

fn config(base_url: &str, url: &str) -> Config {
    let config: Config = toml::from_str(&format!(
        r#"
        [storage]
        url = "{url}"

        [[providers]]
        name = "mock"
        kind = "openai"
        base_url = "{base_url}"
        retries = 0
        timeout = "10s"

        [[models]]
        id = "checker"
        provider = "mock"

        [[models]]
        id = "conductor"
        provider = "mock"

        [[models]]
        id = "views"
        provider = "mock"

        [loop]
        roles.checker = ["checker"]
        roles.conductor = ["conductor"]
        roles.explorer = ["views"]
        roles.builder = ["views"]
        roles.critic = ["views"]
        roles.sentinel = ["views"]
        "#
    ))
    .unwrap();
    config.validate(std::path::Path::new("test.toml")).unwrap();
    config
}

fn report() -> Report {
    Report {
        summary: "added --version".into(),
        changed_files: vec!["src/cli.rs".into()],
        tests: vec!["cargo test version".into()],
        test_output: "test version ... ok".into(),
        ..Report::default()
    }
}

fn new_run() -> NewRun {
    NewRun {
        objective: "add --version".into(),
        ..NewRun::default()
    }
}

fn script(checker: ModelScript, conductor: ModelScript) -> Script {
    Script::new()
        .with_model("checker", checker)
        .with_model("conductor", conductor)
        .with_model("views", ModelScript::fixed("The flag is in src/cli.rs."))
}

async fn a_checker_that_echoes_its_example_gives_an_uncertain_check_for_a_human(backend: Backend) {
    let t = TestStore::new(backend).await;
    let checker = ModelScript::fixed(example(CHECKER_SYSTEM));
    let mock = MockProvider::start(script(checker, ModelScript::fixed(CONTINUE)))
        .await
        .unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);
    let run = runs.start(new_run()).await.unwrap();
    let check = runs
        .check(&run.run_id, None, Some(report()))
        .await
        .unwrap()
        .record;
    assert_eq!(mock.requests_for("checker").len(), 2, "exactly one retry");
    assert_eq!(check.status, CheckStatus::Uncertain);
    assert_eq!(check.recommended_route, Route::Human);
    let why = check.degradation_reasons.join("\n");
    assert!(
        why.contains("checker: the verdict repeats the prompt's example text (status, "),
        "{why}"
    );
    assert!(
        why.contains("treated as no verdict, even after one retry"),
        "{why}"
    );
    assert_eq!(check.raw_output.as_deref(), Some(example(CHECKER_SYSTEM)));
}

async fn a_checker_that_echoes_then_checks_on_its_retry_is_used_and_the_echo_is_noted(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let checker = ModelScript::sequence([example(CHECKER_SYSTEM), DONE]);
    let mock = MockProvider::start(script(checker, ModelScript::fixed(CONTINUE)))
        .await
        .unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);
    let run = runs.start(new_run()).await.unwrap();
    let check = runs
        .check(&run.run_id, None, Some(report()))
        .await
        .unwrap()
        .record;
    assert_eq!(check.status, CheckStatus::Done);
    assert_eq!(check.recommended_route, Route::Stop);
    let why = check.degradation_reasons.join("\n");
    assert!(
        why.contains("checker output was not a verdict the first time: the verdict repeats"),
        "{why}"
    );
    assert!(why.contains("its retry was"), "{why}");
}

async fn a_conductor_that_echoes_its_example_pauses_for_a_human_and_says_why(backend: Backend) {
    let t = TestStore::new(backend).await;
    let conductor = ModelScript::fixed(example(CONDUCTOR_SYSTEM));
    let mock = MockProvider::start(script(ModelScript::fixed(DONE), conductor))
        .await
        .unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);
    let round = runs
        .deliberate_state("add --version", RunState::default())
        .await;
    assert_eq!(mock.requests_for("conductor").len(), 2, "exactly one retry");
    let decision = round.decision;
    assert_eq!(decision.status, DecisionStatus::PauseForHuman);
    assert_eq!(decision.source, DecisionSource::Fallback);
    let why = decision.degradation_reasons.join("\n");
    assert!(
        why.contains("conductor: the decision repeats the prompt's example text (status, "),
        "{why}"
    );
    assert!(
        why.contains("treated as no decision, even after one retry"),
        "{why}"
    );
    assert_eq!(
        decision.raw_output.as_deref(),
        Some(example(CONDUCTOR_SYSTEM))
    );
}

async fn a_conductor_that_echoes_then_decides_on_its_retry_is_used_and_the_echo_is_noted(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let conductor = ModelScript::sequence([example(CONDUCTOR_SYSTEM), CONTINUE]);
    let mock = MockProvider::start(script(ModelScript::fixed(DONE), conductor))
        .await
        .unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);
    let decision = runs
        .deliberate_state("add --version", RunState::default())
        .await
        .decision;
    assert_eq!(decision.status, DecisionStatus::Continue);
    assert_eq!(decision.source, DecisionSource::Conductor);
    assert_eq!(decision.next_prompt, "Add a test for --version.");
    let why = decision.degradation_reasons.join("\n");
    assert!(
        why.contains("conductor output was not a decision the first time: the decision repeats"),
        "{why}"
    );
}

fusion_test_support::on_both_backends!(
    a_checker_that_echoes_its_example_gives_an_uncertain_check_for_a_human,
    a_checker_that_echoes_then_checks_on_its_retry_is_used_and_the_echo_is_noted,
    a_conductor_that_echoes_its_example_pauses_for_a_human_and_says_why,
    a_conductor_that_echoes_then_decides_on_its_retry_is_used_and_the_echo_is_noted,
);
