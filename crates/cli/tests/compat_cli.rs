//! The command lines of the systems Fusion replaces, as their users type them, against the real
//! binary: the council project's `looped` with `--runDir`, `--runId`, `--step` and
//! `--heartbeat fresh` (an alias of `fusion loop` that also writes the round's artifact trail),
//! and its `serve --host --port`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{FusionServer, Harness};
use fusion_mock_provider::{ModelScript, Script};

const CONTINUE: &str = r#"{"status": "continue", "next_prompt": "Add the missing test.",
  "consensus": [], "risk_flags": [], "reasons": ["one criterion is unverified"]}"#;

fn script() -> Script {
    Script::new()
        .with_model(
            "explorer",
            ModelScript::fixed("Facts: the parser is untested."),
        )
        .with_model(
            "builder",
            ModelScript::fixed("Smallest step: add one test."),
        )
        .with_model("critic", ModelScript::fixed("Risk: none worth a stop."))
        .with_model("sentinel", ModelScript::fixed("verdict: healthy"))
        .with_model("conductor", ModelScript::fixed(CONTINUE))
}

fn config(h: &Harness) -> String {
    let models: String = ["explorer", "builder", "critic", "sentinel", "conductor"]
        .iter()
        .map(|id| format!("[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n\n"))
        .collect();
    format!(
        r#"[router]
discover = false

[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
retries = 0
timeout = "30s"

{models}
[loop]
roles.explorer = ["explorer"]
roles.builder = ["builder"]
roles.critic = ["critic"]
roles.sentinel = ["sentinel"]
roles.conductor = ["conductor"]
"#,
        url = h.mock.base_url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_looped_takes_the_council_projects_flags_and_writes_the_trail() {
    let h = Harness::start(script()).await;
    let path = h.write_config("looped-fusion.toml", &config(&h));
    let config = path.to_str().unwrap();
    // The council project's README example, with Fusion's config.
    let run = h
        .fusion(&[
            "looped",
            "Implement and test feature X",
            "--config",
            config,
            "--runDir",
            "./runs/last",
            "--runId",
            "run-1",
            "--step",
            "1",
            "--heartbeat",
            "fresh",
            "--json",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let round = run.json();
    assert_eq!(round["step"], 1);
    assert_eq!(round["state"]["heartbeat"], "0s ago", "{}", round["state"]);
    assert_eq!(round["decision"]["status"], "continue");
    let trail = h.dir.path().join("runs/last/artifacts/pi-fusion/run-1");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trail.join("step-1.json")).unwrap()).unwrap();
    assert_eq!(written["decision"]["next_prompt"], "Add the missing test.");
    assert_eq!(
        std::fs::read_to_string(trail.join("next-prompt-1.md")).unwrap(),
        "Add the missing test."
    );
    assert!(run.stderr.contains("wrote the round to"), "{}", run.stderr);

    // Fusion's own spellings are the same flags; an age is a heartbeat too.
    let own = h
        .fusion(&[
            "loop",
            "--config",
            config,
            "objective",
            "--run-dir",
            "trail",
            "--heartbeat",
            "20m ago",
            "--json",
        ])
        .await;
    assert_eq!(own.code, 0, "{}", own.stderr);
    assert_eq!(own.json()["state"]["heartbeat"], "20m ago");
    let generated: Vec<_> = std::fs::read_dir(h.dir.path().join("trail/artifacts/pi-fusion"))
        .unwrap()
        .collect();
    assert_eq!(generated.len(), 1, "one trail with a generated id");

    // One malformed value per flag, each refused before any model is called.
    std::fs::write(h.dir.path().join("a-file"), "").unwrap();
    for (flag, value, needle) in [
        ("--heartbeat", "yesterday-ish", "neither a time"),
        ("--runId", "../escape", "not a run id"),
        ("--runDir", "a-file", "--run-dir: cannot create"),
    ] {
        let mut args = vec!["looped", "--config", config, "x", flag, value];
        if flag == "--runId" {
            args.extend(["--runDir", "trail"]);
        }
        let bad = h.fusion(&args).await;
        assert_eq!(bad.code, 2, "{flag} {value}: {}", bad.stderr);
        assert!(
            bad.stderr.contains(needle),
            "{flag} {value}: {}",
            bad.stderr
        );
    }
    let lonely = h
        .fusion(&["looped", "--config", config, "x", "--runId", "r"])
        .await;
    assert_eq!(lonely.code, 2, "{}", lonely.stderr);
    assert!(lonely.stderr.contains("--run-dir"), "{}", lonely.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_serve_host_and_port_make_the_listen_address() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h));
    let config = path.to_str().unwrap();
    let server = FusionServer::start(
        h.dir.path(),
        &["--config", config, "--host", "127.0.0.1", "--port", "0"],
        &[],
    )
    .await;
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let health = reqwest::get(format!("{}/health", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.stop().await;

    for (args, needle) in [
        (vec!["--host", "127.0.0.x"], "not an IP address"),
        (vec!["--port", "70000"], "--port"),
        (
            vec!["--listen", "127.0.0.1:0", "--port", "1"],
            "cannot be used with",
        ),
    ] {
        let mut full = vec!["serve", "--config", config];
        full.extend(args.iter().copied());
        let bad = h.fusion(&full).await;
        assert_eq!(bad.code, 2, "{args:?}: {}", bad.stderr);
        assert!(bad.stderr.contains(needle), "{args:?}: {}", bad.stderr);
    }
}
