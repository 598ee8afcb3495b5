//! End-to-end: each degradation rule of the council, through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Harness, JUDGE_JSON, healthy_script, reasons};
use fusion_mock_provider::{Failure, ModelScript, Reply};

fn status(code: u16) -> Failure {
    Failure::Status {
        status: code,
        message: format!("scripted {code}"),
        retry_after: None,
    }
}

/// The healthy council with `model` answering HTTP `code` on every call.
async fn with_failing(model: &str, code: u16) -> Harness {
    let mut script = healthy_script();
    script.models.insert(
        model.into(),
        ModelScript::fixed("x").with_failure(status(code)),
    );
    Harness::start(script).await
}

#[tokio::test(flavor = "multi_thread")]
async fn some_members_failing_continues_with_survivors_and_says_so() {
    let h = with_failing("m-b", 500).await;
    let r = h
        .ask_json(&h.standard_config("", ""), &["--json", "Q?"])
        .await;
    assert_eq!(r["status"], "ok");
    assert_eq!(r["responses"].as_array().unwrap().len(), 2);
    assert_eq!(r["failed_models"][0]["model"], "m-b");
    assert!(
        r["failed_models"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );
    assert!(
        reasons(&r).contains("1 of 3 panel members failed"),
        "{}",
        reasons(&r)
    );
    assert_eq!(
        r["labels"].as_array().unwrap().len(),
        2,
        "the judge saw only the survivors"
    );
    assert_eq!(r["final_answer"], "FINAL: Paris.");
}

#[tokio::test(flavor = "multi_thread")]
async fn all_members_failing_is_an_error_with_exit_code_1() {
    let mut script = healthy_script();
    for m in common::PANEL {
        script
            .models
            .insert(m.into(), ModelScript::fixed("x").with_failure(status(503)));
    }
    let h = Harness::start(script).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let run = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "--json", "Q?"])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["status"], "error");
    assert_eq!(r["final_answer"], "");
    assert_eq!(r["failed_models"].as_array().unwrap().len(), 3);
    assert!(reasons(&r).contains("all 3 panel members failed"));
    assert!(
        h.mock.requests_for("judge").is_empty(),
        "no judge without answers"
    );

    let plain = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "Q?"])
        .await;
    assert_eq!(plain.code, 1);
    assert!(plain.stdout.is_empty());
    assert!(
        plain.stderr.contains("no answer") && plain.stderr.contains("HTTP 503"),
        "{}",
        plain.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn judge_prose_is_retried_once_with_the_parse_error_then_heuristic() {
    let mut script = healthy_script();
    script.models.insert(
        "judge".into(),
        ModelScript::fixed("I think the answers mostly agree."),
    );
    let h = Harness::start(script).await;
    let r = h
        .ask_json(&h.standard_config("", ""), &["--json", "Q?"])
        .await;
    let judge = h.mock.requests_for("judge");
    assert_eq!(judge.len(), 2, "exactly one retry");
    let retry = judge[1].body["messages"].as_array().unwrap();
    assert_eq!(
        retry[retry.len() - 2]["content"],
        "I think the answers mostly agree."
    );
    assert!(
        retry.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("no JSON object")
    );
    assert_eq!(r["raw_judge_output"], "I think the answers mostly agree.");
    assert!(reasons(&r).contains("not valid JSON, even after one retry"));
    assert!(
        r["analysis"]["judge_notes"][0]
            .as_str()
            .unwrap()
            .contains("heuristic")
    );
    assert!(
        !r["analysis"]["consensus"].as_array().unwrap().is_empty(),
        "the heuristic found the shared claim"
    );
    assert_eq!(
        r["final_answer"], "FINAL: Paris.",
        "the synthesizer still runs"
    );
    // The heuristic analysis names members in the trace but only labels to the synthesizer.
    let insights = r["analysis"]["unique_insights"].as_array().unwrap();
    assert!(!insights.is_empty());
    assert!(
        insights
            .iter()
            .all(|u| common::PANEL.contains(&u["model"].as_str().unwrap())),
        "{insights:?}"
    );
    let synth = h.mock.requests_for("synth")[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(synth.contains("Response A"));
    for member in common::PANEL {
        assert!(
            !synth.contains(member),
            "synthesizer prompt names {member}:\n{synth}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn judge_json_on_the_retry_is_used_and_the_retry_is_recorded() {
    let mut script = healthy_script();
    script.models.insert(
        "judge".into(),
        ModelScript {
            reply: Reply::Sequence(vec![
                "not json".into(),
                format!("```json\n{JUDGE_JSON}\n```"),
            ]),
            ..ModelScript::default()
        },
    );
    let h = Harness::start(script).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let r = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "--json", "Q?"])
        .await
        .json();
    assert_eq!(
        r["analysis"]["consensus"][0],
        "Paris is the capital of France"
    );
    assert!(r.get("raw_judge_output").is_none());
    assert!(reasons(&r).contains("its retry was"), "{}", reasons(&r));
}

#[tokio::test(flavor = "multi_thread")]
async fn judge_wrapped_in_prose_and_fences_needs_no_retry() {
    let mut script = healthy_script();
    script.models.insert(
        "judge".into(),
        ModelScript::fixed(format!("Here you go:\n```json\n{JUDGE_JSON}\n```\nDone.")),
    );
    let h = Harness::start(script).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let r = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "--json", "Q?"])
        .await
        .json();
    assert_eq!(h.mock.requests_for("judge").len(), 1);
    assert_eq!(
        r["degradation_reasons"].as_array().unwrap().len(),
        0,
        "{}",
        reasons(&r)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn judge_call_failing_falls_back_to_heuristic_analysis() {
    let h = with_failing("judge", 500).await;
    let r = h
        .ask_json(&h.standard_config("", ""), &["--json", "Q?"])
        .await;
    assert!(
        reasons(&r).contains("judge `judge` failed"),
        "{}",
        reasons(&r)
    );
    assert!(
        r["analysis"]["judge_notes"][0]
            .as_str()
            .unwrap()
            .contains("heuristic")
    );
    assert_eq!(r["final_answer"], "FINAL: Paris.");
}

#[tokio::test(flavor = "multi_thread")]
async fn synthesizer_failing_returns_the_best_panel_answer_and_says_so() {
    let h = with_failing("synth", 502).await;
    let r = h
        .ask_json(&h.standard_config("", ""), &["--json", "Q?"])
        .await;
    let answers: Vec<&str> = r["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["content"].as_str().unwrap())
        .collect();
    assert!(
        answers.contains(&r["final_answer"].as_str().unwrap()),
        "final answer is a panel answer"
    );
    assert!(
        reasons(&r).contains("synthesizer `synth` failed"),
        "{}",
        reasons(&r)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn synthesizer_defaults_to_the_judges_model() {
    let h = Harness::start(healthy_script()).await;
    let text = h
        .standard_config("", "")
        .replace("synthesizer = { model = \"synth\" }\n", "");
    let run = h.ask(&text, &["--json", "Q?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        h.mock.requests_for("judge").len(),
        2,
        "judge + synthesis on the judge's model"
    );
    assert!(h.mock.requests_for("synth").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_slower_than_the_council_timeout_counts_as_failed() {
    let mut script = healthy_script();
    script.models.insert(
        "m-c".into(),
        ModelScript::fixed("late").with_latency_ms(20_000),
    );
    let h = Harness::start(script).await;
    let text = h
        .standard_config("", "timeout = \"1s\"")
        .replace("timeout = \"3s\"", "timeout = \"60s\"");
    let r = h.ask_json(&text, &["--json", "Q?"]).await;
    assert_eq!(r["failed_models"][0]["model"], "m-c");
    assert!(
        r["failed_models"][0]["error"]
            .as_str()
            .unwrap()
            .contains("council timeout of 1s")
    );
    assert_eq!(r["responses"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_member_answer_counts_as_a_failure() {
    let mut script = healthy_script();
    script
        .models
        .insert("m-a".into(), ModelScript::fixed("   "));
    let h = Harness::start(script).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let r = h
        .fusion(&["ask", "--config", config.to_str().unwrap(), "--json", "Q?"])
        .await
        .json();
    assert_eq!(r["failed_models"][0]["model"], "m-a");
    assert!(
        r["failed_models"][0]["error"]
            .as_str()
            .unwrap()
            .contains("empty answer")
    );
}

/// The example object of the judge's prompt, word for word: what SmolLM2 answered.
fn judge_prompt_example() -> &'static str {
    let prompt = fusion_core::council::prompts::JUDGE_SYSTEM;
    &prompt[prompt.find('{').unwrap()..=prompt.rfind('}').unwrap()]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_judge_that_echoes_the_prompts_example_is_retried_once_then_degraded_and_says_so() {
    let mut script = healthy_script();
    script
        .models
        .insert("judge".into(), ModelScript::fixed(judge_prompt_example()));
    let h = Harness::start(script).await;
    let r = h
        .ask_json(&h.standard_config("", ""), &["--json", "Q?"])
        .await;
    let judge = h.mock.requests_for("judge");
    assert_eq!(judge.len(), 2, "exactly one retry");
    let repair = judge[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        repair.contains("repeats the prompt's example text (consensus[0], "),
        "{repair}"
    );
    let why = reasons(&r);
    assert!(
        why.contains("judge: the analysis repeats the prompt's example text (consensus[0], "),
        "{why}"
    );
    assert!(why.contains("treated as no analysis"), "{why}");
    assert_eq!(r["raw_judge_output"], judge_prompt_example());
    assert!(
        r["analysis"]["judge_notes"][0]
            .as_str()
            .unwrap()
            .contains("heuristic"),
        "the analysis is the heuristic's, not the echo"
    );
    assert!(
        !r["analysis"]
            .to_string()
            .contains("nearly every response makes"),
        "{}",
        r["analysis"]
    );
    assert_eq!(r["final_answer"], "FINAL: Paris.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_judge_that_echoes_then_analyses_on_its_retry_is_used_and_the_echo_is_recorded() {
    let mut script = healthy_script();
    script.models.insert(
        "judge".into(),
        ModelScript::sequence([judge_prompt_example(), JUDGE_JSON]),
    );
    let h = Harness::start(script).await;
    let r = h
        .ask_json(&h.standard_config("", ""), &["--json", "Q?"])
        .await;
    assert_eq!(h.mock.requests_for("judge").len(), 2);
    assert_eq!(
        r["analysis"]["consensus"][0],
        "Paris is the capital of France"
    );
    assert!(r.get("raw_judge_output").is_none());
    let why = reasons(&r);
    assert!(
        why.contains("judge output was not an analysis the first time: the analysis repeats"),
        "{why}"
    );
    assert!(why.contains("its retry was"), "{why}");
}
