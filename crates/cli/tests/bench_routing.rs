//! Measured quality steers the router, through the real binary: before any bench the router
//! sends code to the local model its prior rates highly; after `fusion bench` finds that model
//! failing the code tasks, the next process's router (reading the store at start) chooses the
//! model that passed them, and its reasons say "measured" — read at a complexity the bench
//! recorded for its tasks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness;
use fusion_bench::suite::{self, TaskKind};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::Value;

fn script() -> Script {
    let suites = suite::builtin(Some(TaskKind::Code)).unwrap();
    let right = ModelScript::by_prompt_contains(
        suites
            .iter()
            .flat_map(|s| &s.tasks)
            .map(|t| (t.prompt.clone(), t.reference.clone().unwrap())),
    );
    Script::new()
        .with_model(
            "confident-local",
            ModelScript::fixed("```python\npass\n```"),
        )
        .with_model("careful-free", right)
}

fn config(h: &Harness) -> String {
    format!(
        r#"[router]
discover = false

[[providers]]
name = "box"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0

[[providers]]
name = "cloud"
kind = "openai"
base_url = "{url}"
tier = "free"
retries = 0

[[models]]
id = "confident-local"
provider = "box"
quality = {{ code = 0.9 }}

[[models]]
id = "careful-free"
provider = "cloud"
quality = {{ code = 0.6 }}
"#,
        url = h.mock.base_url()
    )
}

async fn route(h: &Harness, config: &str) -> Value {
    let run = h
        .fusion(&[
            "--config",
            config,
            "route",
            "--json",
            "--category",
            "code",
            "--complexity",
            "0.9",
            "Write a function that parses ISO dates",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()
}

fn candidate<'a>(decision: &'a Value, model: &str) -> &'a Value {
    decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .unwrap_or_else(|| panic!("{model} in {decision:#}"))
}

#[tokio::test]
async fn after_a_bench_the_router_stops_choosing_the_model_that_fails_code() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h));
    let config = path.to_str().unwrap();

    let before = route(&h, config).await;
    assert_eq!(before["chosen"], "confident-local", "{before:#}");
    assert_eq!(
        candidate(&before, "confident-local")["quality_source"]["source"],
        "prior"
    );

    let bench = h
        .fusion(&[
            "--config",
            config,
            "bench",
            "--models",
            "confident-local,careful-free",
            "--suite",
            "builtin:code",
            "--json",
        ])
        .await;
    assert_eq!(bench.code, 0, "{}", bench.stderr);

    let after = route(&h, config).await;
    assert_eq!(after["chosen"], "careful-free", "{after:#}");
    let failing = candidate(&after, "confident-local");
    assert_eq!(failing["quality_source"]["source"], "measured", "{failing}");
    assert!(
        failing["reason"].as_str().unwrap().contains("measured (n="),
        "{failing}"
    );
    // The bench recorded each task's complexity, so the router read the model's fit there
    // (the route's 0.9, or the nearest complexity the bench's tasks had).
    let at = failing["quality_source"]["complexity"].as_f64();
    assert!(at.is_some_and(|c| (0.0..=0.9).contains(&c)), "{failing}");
    assert!(
        failing["reason"]
            .as_str()
            .unwrap()
            .contains(" at complexity "),
        "{failing}"
    );
    assert!(
        after["summary"].as_str().unwrap().contains("measured (n="),
        "{after:#}"
    );
}
