//! The council engine in process: the progress events it reports, in order, and that a
//! cancelled council stops its upstream calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use fusion_core::config::{Config, CouncilConfig, MemberConfig, ModelConfig, ProviderConfig};
use fusion_core::council::{self, CouncilEvent};
use fusion_core::providers::ProviderRegistry;
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};

const JUDGE: &str = r#"{"consensus":["c"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}"#;

fn setup(base_url: &str) -> (ProviderRegistry, CouncilConfig) {
    let provider: ProviderConfig = toml::from_str(&format!(
        "name = \"mock\"\nkind = \"openai\"\nbase_url = \"{base_url}\"\nretries = 0\ntimeout = \"5s\""
    ))
    .unwrap();
    let model = |id: &str| ModelConfig {
        id: id.into(),
        provider: "mock".into(),
        model: None,
        context_window: None,
        price: None,
        quality: None,
    };
    let config = Config {
        providers: vec![provider],
        models: vec![model("a"), model("b"), model("judge")],
        ..Config::default()
    };
    let seat = |m: &str| MemberConfig {
        model: m.into(),
        ..MemberConfig::default()
    };
    let council = CouncilConfig {
        parallel: true,
        timeout: Duration::from_secs(10),
        quorum: None,
        panel: vec![seat("a"), seat("b")],
        judge: seat("judge"),
        synthesizer: None,
        notes: vec![],
    };
    (ProviderRegistry::from_config(&config).unwrap(), council)
}

#[tokio::test]
async fn progress_events_follow_the_council_phases() {
    let script = Script::new()
        .with_model(
            "a",
            ModelScript::fixed("alpha answer here").with_latency_ms(50),
        )
        .with_model("b", ModelScript::failing(Failure::status(500, "down")))
        .with_model("judge", ModelScript::sequence([JUDGE, "final"]));
    let mock = MockProvider::start(script).await.unwrap();
    let (registry, council) = setup(&mock.base_url());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = council::run(&registry, "default", &council, "Q?", Some(tx)).await;
    assert_eq!(result.final_answer, "final");
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    assert_eq!(
        events[0],
        CouncilEvent::PanelStarted {
            members: vec!["a".into(), "b".into()]
        }
    );
    assert!(
        events[1..3]
            .iter()
            .all(|e| matches!(e, CouncilEvent::MemberStarted { .. }))
    );
    // b fails fast, a answers after 50 ms.
    assert!(
        matches!(&events[3], CouncilEvent::MemberFailed { member, error } if member == "b" && error.contains("HTTP 500"))
    );
    assert!(matches!(&events[4], CouncilEvent::MemberFinished { member, .. } if member == "a"));
    assert_eq!(
        events[5],
        CouncilEvent::JudgeStarted {
            model: "judge".into()
        }
    );
    assert_eq!(events[6], CouncilEvent::JudgeFinished { ok: true });
    assert_eq!(
        events[7],
        CouncilEvent::SynthesizerStarted {
            model: "judge".into()
        }
    );
    assert_eq!(events[8], CouncilEvent::SynthesizerFinished { ok: true });
    assert_eq!(events.len(), 9);
}

#[tokio::test]
async fn dropping_a_running_council_cancels_its_upstream_calls() {
    let script = Script::new().with_default(ModelScript::echo().with_latency_ms(60_000));
    let mock = MockProvider::start(script).await.unwrap();
    let (registry, council) = setup(&mock.base_url());
    let run = council::run(&registry, "default", &council, "Q?", None);
    // Poll the council until both member calls are in flight upstream, then drop it.
    let mut run = Box::pin(run);
    for _ in 0..200 {
        if mock.in_flight() == 2 {
            break;
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(10), &mut run)
                .await
                .is_err()
        );
    }
    assert_eq!(mock.in_flight(), 2, "both members were asked");
    drop(run);
    // The upstream sees both connections go away: nothing is left running there.
    fusion_test_support::wait_until(
        "no upstream call outlives the council",
        Duration::from_secs(5),
        || async { mock.in_flight() == 0 },
    )
    .await;
}
