//! End-to-end: usage and configuration errors exit with code 2 and say what is wrong; config
//! check prints the resolved config with secrets masked; the legacy JSON format runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Harness, healthy_script};

#[tokio::test(flavor = "multi_thread")]
async fn unknown_config_key_names_the_file_and_key_and_exits_2() {
    let h = Harness::start(healthy_script()).await;
    let text = h.standard_config("max_concurency = 3", "");
    let run = h.ask(&text, &["Q?"]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("fusion.toml"), "{}", run.stderr);
    assert!(
        run.stderr.contains("providers[0]") && run.stderr.contains("max_concurency"),
        "{}",
        run.stderr
    );
    assert!(
        h.mock.requests().is_empty(),
        "nothing runs on an invalid config"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_naming_an_unknown_model_is_rejected() {
    let h = Harness::start(healthy_script()).await;
    let text = h.standard_config("", "").replace(
        "judge = { model = \"judge\" }",
        "judge = { model = \"nope\" }",
    );
    let config = h.write_config("fusion.toml", &text);
    let run = h
        .fusion(&["config", "check", "--config", config.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("councils.default.judge.model") && run.stderr.contains("nope"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_config_file_given_explicitly_is_an_error() {
    let h = Harness::start(healthy_script()).await;
    let run = h
        .fusion(&["ask", "--config", "/nonexistent/fusion.toml", "Q?"])
        .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("/nonexistent/fusion.toml"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_council_and_empty_prompt_are_usage_errors() {
    let h = Harness::start(healthy_script()).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let run = h
        .fusion(&[
            "ask",
            "--config",
            config.to_str().unwrap(),
            "--council",
            "nope",
            "Q?",
        ])
        .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no council named `nope`") && run.stderr.contains("default"),
        "{}",
        run.stderr
    );
    let run = h
        .fusion_with(
            &["ask", "--config", config.to_str().unwrap()],
            Some("   \n"),
            &[],
        )
        .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("prompt is empty"), "{}", run.stderr);
    let run = h.fusion(&["ask", "--bogus-flag"]).await;
    assert_eq!(run.code, 2);
    assert!(h.mock.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_file_in_the_working_directory_is_found() {
    let h = Harness::start(healthy_script()).await;
    h.write_config("fusion.toml", &h.standard_config("", ""));
    let run = h.fusion(&["ask", "-q", "Q?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "FINAL: Paris.\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn config_check_prints_the_resolved_config_with_secrets_masked() {
    let h = Harness::start(healthy_script()).await;
    let text = h.standard_config(
        "headers = { Authorization = \"Bearer ${FUSION_TEST_TOKEN}\" }",
        "",
    );
    let config = h.write_config("fusion.toml", &text);
    let run = h
        .fusion_with(
            &["config", "check", "--config", config.to_str().unwrap()],
            None,
            &[("FUSION_TEST_TOKEN", "tok-supersecret-value")],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("config OK"), "{}", run.stderr);
    assert!(
        run.stdout.contains("[[providers]]") && run.stdout.contains("m-a"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("supersecret"),
        "secret leaked:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("Authorization"));
}

#[tokio::test(flavor = "multi_thread")]
async fn local_fusion_config_json_in_the_current_directory_is_used_with_a_note() {
    let h = Harness::start(healthy_script()).await;
    let url = h.mock.base_url();
    let json = format!(
        r#"{{"panel": [{{"name": "m-a", "baseUrl": "{url}", "apiKey": "k", "model": "m-a"}}],
  "judge": {{"name": "judge", "baseUrl": "{url}", "apiKey": "k", "model": "judge"}},
  "synthesizer": {{"name": "synth", "baseUrl": "{url}", "apiKey": "k", "model": "synth"}}}}"#
    );
    h.write_config("local-fusion.config.json", &json);
    let run = h.fusion(&["ask", "--json", "Q?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["final_answer"], "FINAL: Paris.");
    assert!(
        run.stderr.contains("local-fusion.config.json"),
        "the note says which file: {}",
        run.stderr
    );
    // A fusion.toml beside it wins.
    h.write_config("fusion.toml", "[councils]\n");
    let check = h.fusion(&["config", "check"]).await;
    assert!(
        !check.stderr.contains("local-fusion.config.json"),
        "{}",
        check.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legacy_json_council_config_runs_unchanged() {
    let h = Harness::start(healthy_script()).await;
    let url = h.mock.base_url();
    let json = format!(
        r#"{{
  "parallel": true,
  "timeoutMs": 30000,
  "panel": [
    {{"name": "m-a", "baseUrl": "{url}", "apiKey": "sk-legacy-inline-key", "model": "m-a", "system": "You are precise.", "temperature": 0.2, "maxTokens": 64}},
    {{"name": "m-b", "baseUrl": "{url}", "apiKey": "sk-legacy-inline-key", "model": "m-b"}}
  ],
  "judge": {{"name": "judge", "baseUrl": "{url}", "apiKey": "sk-legacy-inline-key", "model": "judge", "temperature": 0}},
  "synthesizer": {{"name": "synth", "baseUrl": "{url}", "apiKey": "sk-legacy-inline-key", "model": "synth"}}
}}"#
    );
    let config = h.write_config("council.json", &json);
    let run = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "--json", "Q?"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["final_answer"], "FINAL: Paris.");
    assert_eq!(r["responses"].as_array().unwrap().len(), 2);
    let a = &h.mock.requests_for("m-a")[0];
    assert_eq!(a.body["max_tokens"], 64);
    assert_eq!(a.body["temperature"], 0.2);
    let auth = a
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .unwrap();
    assert_eq!(auth.1, "Bearer sk-legacy-inline-key");

    let check = h
        .fusion(&["config", "check", "--config", config.to_str().unwrap()])
        .await;
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        !check.stdout.contains("sk-legacy-inline-key"),
        "{}",
        check.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_prompt_on_stdin_is_refused_before_any_call() {
    let h = Harness::start(healthy_script()).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let huge = "x".repeat(4 * 1024 * 1024 + 1);
    let run = h
        .fusion_with(
            &["ask", "--config", config.to_str().unwrap()],
            Some(&huge),
            &[],
        )
        .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("larger than 4194304 bytes"),
        "{}",
        run.stderr
    );
    assert!(h.mock.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_that_stops_reading_is_no_error() {
    let h = Harness::start(healthy_script()).await;
    let path = h.write_config("fusion.toml", &h.standard_config("", ""));
    // `fusion usage --json | head -0`: stdout's reader is gone before anything is written.
    let mut child = common::fusion_command(h.dir.path())
        .args(["usage", "--json", "--config", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ask_without_any_council_says_how_to_add_one_not_how_to_choose_one() {
    let h = Harness::start(healthy_script()).await;
    let text = format!(
        "[router]\ndiscover = false\n\n[[providers]]\nname = \"mock\"\nkind = \"openai\"\nbase_url = \"{}\"\n\n[[models]]\nid = \"m-a\"\nprovider = \"mock\"\n",
        h.mock.base_url()
    );
    let run = h.ask(&text, &["Q?"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("add a [councils.default]"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("choose with --council"),
        "{}",
        run.stderr
    );
}
