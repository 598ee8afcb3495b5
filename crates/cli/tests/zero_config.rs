//! End-to-end: with no config file, Fusion discovers local model servers and builds a council
//! from them, or says what it probed and how to fix it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::run_fusion;
use fusion_mock_provider::{MockProvider, ModelScript, Script};

#[tokio::test(flavor = "multi_thread")]
async fn nothing_reachable_exits_2_listing_what_was_probed() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_fusion(
        dir.path(),
        &["ask", "Q?"],
        None,
        &[(
            "FUSION_DISCOVERY_TARGETS",
            "ollama=http://127.0.0.1:9/v1,llama.cpp=http://127.0.0.1:7/v1",
        )],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("ollama (http://127.0.0.1:9/v1)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("llama.cpp (http://127.0.0.1:7/v1)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("fusion.toml"),
        "the message explains how to write a config: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_discovered_model_sits_three_times_with_different_perspectives() {
    let mut script = Script::default();
    script.models.insert("tiny".into(), ModelScript::echo());
    let mock = MockProvider::start(script).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = format!("llama.cpp={}", mock.base_url());
    let run = run_fusion(
        dir.path(),
        &["ask", "--json", "Q?"],
        None,
        &[("FUSION_DISCOVERY_TARGETS", &targets)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["responses"].as_array().unwrap().len(), 3);
    let notes = r["notes"].to_string();
    assert!(notes.contains("only one model"), "{notes}");
    // Three panel calls with three different system prompts, then judge and synthesizer.
    let requests = mock.requests_for("tiny");
    assert!(requests.len() >= 5, "{}", requests.len());
    let mut systems: Vec<String> = requests[..3]
        .iter()
        .map(|q| q.body["messages"][0]["content"].to_string())
        .collect();
    systems.sort();
    systems.dedup();
    assert_eq!(systems.len(), 3, "perspective prompts differ");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_discovered_servers_form_a_two_member_panel() {
    let mut a = Script::default();
    a.models.insert("alpha".into(), ModelScript::echo());
    let mut b = Script::default();
    b.models.insert("beta".into(), ModelScript::echo());
    let (ma, mb) = (
        MockProvider::start(a).await.unwrap(),
        MockProvider::start(b).await.unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let targets = format!(
        "ollama={},vllm={},lm-studio=http://127.0.0.1:9/v1",
        ma.base_url(),
        mb.base_url()
    );
    let run = run_fusion(
        dir.path(),
        &["ask", "--json", "Q?"],
        None,
        &[("FUSION_DISCOVERY_TARGETS", &targets)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["responses"].as_array().unwrap().len(), 2);
    assert!(!ma.requests_for("alpha").is_empty() && !mb.requests_for("beta").is_empty());
}
