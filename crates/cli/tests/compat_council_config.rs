//! The council project's (local-fusion's) config files, as its users have them, against the
//! real binary: `local-fusion.config.json` found in the current directory with a Pi council
//! (`backend: "pi"` members run through the `pi` CLI — here a fake `pi` script on `PATH`), and
//! `looped-fusion.config.json` with `model_roster` / `role_model_policy` driving `fusion looped`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Harness, JUDGE_JSON, healthy_script};
use fusion_mock_provider::{ModelScript, Script};

/// A `pi` that logs its arguments, then answers like the model it was asked for: the judge's
/// JSON when the prompt is the judge's, else a line naming the model.
fn fake_pi(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let judge = JUDGE_JSON.replace('\'', "'\\''");
    let script = format!(
        "#!/bin/sh\n\
         echo \"$*\" >> \"$PI_LOG\"\n\
         prompt=$(cat)\n\
         case \"$prompt\" in\n\
           *'judge of a panel'*) printf '%s\\n' '{judge}' ;;\n\
           *) printf 'answer from %s\\n' \"$4\" ;;\n\
         esac\n"
    );
    let path = bin.join("pi");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// The council project's shipped Pi council: GLM + GPT + Kimi panel, Kimi judge, GPT
/// synthesizer.
const PI_COUNCIL: &str = r#"{
  "parallel": true,
  "timeoutMs": 120000,
  "panel": [
    { "name": "glm", "backend": "pi", "provider": "zai", "modelId": "glm-5.2", "system": "You are a generalist." },
    { "name": "gpt", "backend": "pi", "provider": "openai-codex", "modelId": "gpt-5.4", "system": "You are a builder." },
    { "name": "kimi", "backend": "pi", "provider": "kimi-coding", "modelId": "kimi-k2-thinking", "system": "You are a critic." }
  ],
  "judge": { "name": "kimi", "backend": "pi", "provider": "kimi-coding", "modelId": "kimi-k2-thinking" },
  "synthesizer": { "name": "gpt", "backend": "pi", "provider": "openai-codex", "modelId": "gpt-5.4" }
}"#;

#[tokio::test(flavor = "multi_thread")]
async fn local_fusion_config_in_the_cwd_runs_a_pi_council_through_the_pi_cli() {
    let h = Harness::start(Script::new()).await;
    h.write_config("local-fusion.config.json", PI_COUNCIL);
    let path = fake_pi(h.dir.path());
    let log = h.dir.path().join("pi.log");
    let log_str = log.to_str().unwrap();
    // The council project's README example, as typed.
    let run = h
        .fusion_with(
            &[
                "ask",
                "--json",
                "Design a local-first AI writing assistant architecture",
            ],
            None,
            &[("PATH", &path), ("PI_LOG", log_str)],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("using the council project's local-fusion.config.json"),
        "{}",
        run.stderr
    );
    let result = run.json();
    assert_eq!(
        result["final_answer"], "answer from openai-codex/gpt-5.4",
        "{result}"
    );
    assert_eq!(
        result["analysis"]["consensus"][0],
        "Paris is the capital of France"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    // Three panel answers, the judge and the synthesizer: five runs of pi, each headless.
    assert_eq!(calls.lines().count(), 5, "{calls}");
    for model in [
        "zai/glm-5.2",
        "openai-codex/gpt-5.4",
        "kimi-coding/kimi-k2-thinking",
    ] {
        assert!(
            calls
                .lines()
                .any(|l| l == format!("--print --no-session --model {model}")),
            "{model}: {calls}"
        );
    }

    // Without pi installed, every member fails with the reason, not a config error.
    let missing = h
        .fusion_with(
            &["ask", "question"],
            None,
            &[("PATH", "/usr/bin:/bin"), ("PI_LOG", log_str)],
        )
        .await;
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("command `pi` not found"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pi_member_without_its_model_id_is_a_config_error_naming_the_key() {
    let h = Harness::start(Script::new()).await;
    h.write_config(
        "local-fusion.config.json",
        &PI_COUNCIL.replace(r#", "modelId": "glm-5.2""#, ""),
    );
    let run = h.fusion(&["ask", "question"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("panel[0].modelId"), "{}", run.stderr);
}

const CONTINUE: &str = r#"{"status": "continue", "next_prompt": "Write the parser test.",
  "consensus": [], "risk_flags": [], "reasons": ["the parser is untested"]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn looped_fusion_config_roster_and_policy_pick_each_roles_model() {
    let script = Script::new()
        .with_model(
            "scout",
            ModelScript::fixed("Facts: the parser has no test."),
        )
        .with_model(
            "maker",
            ModelScript::fixed("Smallest step: one parser test."),
        )
        .with_model("skeptic", ModelScript::fixed("Risk: none worth a stop."))
        .with_model("watch", ModelScript::fixed("verdict: healthy"))
        .with_model("lead", ModelScript::fixed(CONTINUE));
    let h = Harness::start(script).await;
    let url = h.mock.base_url();
    let entry =
        |model: &str| format!(r#"{{ "baseUrl": "{url}", "apiKey": "x", "model": "{model}" }}"#);
    let looped = format!(
        r#"{{
  "timeoutMs": 60000,
  "model_roster": {{
    "scout": {scout}, "maker": {maker}, "skeptic": {skeptic}, "watch": {watch}, "lead": {lead}
  }},
  "role_model_policy": {{
    "explorer": "scout",
    "builder": ["maker"],
    "critic": {{ "primary": "skeptic" }},
    "performance_sentinel": "watch",
    "loop_conductor": "lead"
  }}
}}"#,
        scout = entry("scout"),
        maker = entry("maker"),
        skeptic = entry("skeptic"),
        watch = entry("watch"),
        lead = entry("lead"),
    );
    h.write_config("looped-fusion.config.json", &looped);
    // A council file beside it does not take the loop's place.
    h.write_config("local-fusion.config.json", r#"{"panel": [], "judge": {}}"#);
    let run = h
        .fusion(&[
            "looped",
            "Implement and test feature X",
            "--runDir",
            "./runs/last",
            "--step",
            "1",
            "--heartbeat",
            "fresh",
            "--json",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("using the council project's looped-fusion.config.json"),
        "{}",
        run.stderr
    );
    let round = run.json();
    assert_eq!(round["decision"]["status"], "continue", "{round}");
    assert_eq!(round["decision"]["next_prompt"], "Write the parser test.");
    let views = round["decision"]["views"].as_array().unwrap();
    let model_of = |role: &str| {
        views
            .iter()
            .find(|v| v["role"] == role)
            .map(|v| v["model"].clone())
    };
    assert_eq!(model_of("explorer").unwrap(), "scout", "{views:?}");
    assert_eq!(model_of("critic").unwrap(), "skeptic", "{views:?}");
    assert_eq!(round["decision"]["model"], "lead", "{round}");
}

/// A pure local council project config (its `config.example.json` shape) on the mock.
fn local_council(h: &Harness, judge: &str) -> String {
    let url = h.mock.base_url();
    let member = |name: &str, model: &str| {
        format!(
            r#"{{"name": "{name}", "baseUrl": "{url}", "apiKey": "local", "model": "{model}"}}"#
        )
    };
    format!(
        r#"{{ "parallel": true, "timeoutMs": 60000,
  "panel": [{}, {}, {}], "judge": {}, "synthesizer": {} }}"#,
        member("coder", "m-a"),
        member("generalist", "m-b"),
        member("skeptic", "m-c"),
        member("judge", judge),
        member("synth", "synth"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn ask_with_config_json_and_stdin_answers_as_the_council_projects_cli() {
    let h = Harness::start(healthy_script()).await;
    h.write_config("my.config.json", &local_council(&h, "judge"));
    // `ask --config my.config.json "..."`: just the final answer.
    let plain = h
        .fusion(&["ask", "--config", "my.config.json", "Capital of France?"])
        .await;
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert_eq!(plain.stdout.trim(), "FINAL: Paris.");
    // `echo "prompt from stdin" | ask --json`: the full result object.
    let piped = h
        .fusion_with(
            &["ask", "--config", "my.config.json", "--json"],
            Some("prompt from stdin"),
            &[],
        )
        .await;
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    let result = piped.json();
    assert_eq!(result["final_answer"], "FINAL: Paris.");
    let asked = h.mock.requests_for("m-a");
    assert!(
        asked
            .last()
            .unwrap()
            .body
            .to_string()
            .contains("prompt from stdin"),
        "the panel got the piped prompt: {:?}",
        asked.last()
    );

    // A judge that fails: still an answer on stdout, the degradation notes on stderr.
    h.write_config("my.config.json", &local_council(&h, "no-such-judge"));
    let degraded = h
        .fusion(&["ask", "--config", "my.config.json", "Capital of France?"])
        .await;
    assert!(!degraded.stdout.trim().is_empty(), "{}", degraded.stderr);
    assert!(degraded.stderr.contains("judge"), "{}", degraded.stderr);
}
