//! End-to-end: `fusion ask` on a healthy mock council honours the result contract.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Harness, JUDGE_JSON, PANEL, healthy_script};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn healthy_council_returns_the_full_contract() {
    let h = Harness::start(healthy_script()).await;
    let run = h
        .ask(
            &h.standard_config("", ""),
            &["--json", "Capital of France?"],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["status"], "ok");
    assert_eq!(r["council"], "default");
    assert_eq!(r["final_answer"], "FINAL: Paris.");
    assert_eq!(r["responses"].as_array().unwrap().len(), 3);
    assert_eq!(r["failed_models"], Value::Array(vec![]));
    assert_eq!(r["degradation_reasons"], Value::Array(vec![]));
    assert!(r.get("raw_judge_output").is_none());
    for key in [
        "consensus",
        "contradictions",
        "partial_coverage",
        "unique_insights",
        "blind_spots",
        "judge_notes",
    ] {
        assert!(r["analysis"][key].is_array(), "analysis.{key}");
    }
    assert_eq!(
        r["analysis"]["consensus"][0],
        "Paris is the capital of France"
    );
    for key in ["panel_ms", "judge_ms", "synthesis_ms", "total_ms"] {
        assert!(r["timings"][key].is_u64(), "timings.{key}");
    }
    // Responses keep seat order and carry latency and usage.
    let models: Vec<&str> = r["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, PANEL);
    assert!(
        r["responses"][0]["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn judge_sees_anonymous_labels_and_the_trace_maps_them_back() {
    let h = Harness::start(healthy_script()).await;
    let run = h
        .ask(
            &h.standard_config("", ""),
            &["--json", "Capital of France?"],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();

    let judge_requests = h.mock.requests_for("judge");
    assert_eq!(judge_requests.len(), 1);
    let judge_body = judge_requests[0].body.to_string();
    for label in ["Response A", "Response B", "Response C"] {
        assert!(judge_body.contains(label), "judge prompt lacks {label}");
    }
    for model in PANEL {
        assert!(
            !judge_body.contains(&format!("\\\"{model}\\\""))
                && !judge_body.contains(&format!("{model}:")),
            "judge prompt names member {model}"
        );
    }

    // Each label maps to a distinct member, and the analysis speaks of members, not labels.
    let labels = r["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 3);
    let label_b = labels.iter().find(|l| l["label"] == "Response B").unwrap()["model"].clone();
    assert_eq!(r["analysis"]["unique_insights"][0]["model"], label_b);
    let stance_models: Vec<&str> = r["analysis"]["contradictions"][0]["stances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["model"].as_str().unwrap())
        .collect();
    assert!(
        stance_models.iter().all(|m| PANEL.contains(m)),
        "{stance_models:?}"
    );
    assert!(
        !r.to_string().contains("\"model\":\"Response"),
        "a label leaked into the analysis"
    );
    // The synthesizer got the question, the answers and the analysis.
    let synth = h.mock.requests_for("synth")[0].body.to_string();
    assert!(
        synth.contains("Capital of France?")
            && synth.contains("Response A")
            && synth.contains("consensus")
    );
    let _ = JUDGE_JSON;
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_sums_every_call_the_council_made() {
    let h = Harness::start(healthy_script()).await;
    let run = h
        .ask(
            &h.standard_config("", ""),
            &["--json", "Capital of France?"],
        )
        .await;
    let r = run.json();
    let panel: u64 = r["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["usage"]["total_tokens"].as_u64().unwrap())
        .sum();
    let total = r["usage"]["total_tokens"].as_u64().unwrap();
    assert!(
        total > panel,
        "judge and synthesizer tokens are missing: {total} <= {panel}"
    );
    assert_eq!(
        total,
        r["usage"]["prompt_tokens"].as_u64().unwrap()
            + r["usage"]["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        h.mock.requests().len(),
        5,
        "3 members + judge + synthesizer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn member_settings_reach_the_upstream() {
    let h = Harness::start(healthy_script()).await;
    let text = h.standard_config("", "").replace(
        r#"{ model = "m-b" }"#,
        r#"{ model = "m-b", system = "Be a skeptic.", temperature = 0.3, max_tokens = 77 }"#,
    );
    let run = h.ask(&text, &["Q?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = &h.mock.requests_for("m-b")[0].body;
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], "Be a skeptic.");
    assert_eq!(body["messages"][1]["content"], "Q?");
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["max_tokens"], 77);
    assert_eq!(h.mock.requests_for("judge")[0].body["temperature"], 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_answer_goes_to_stdout_and_progress_lines_to_stderr() {
    let h = Harness::start(healthy_script()).await;
    let run = h
        .ask(&h.standard_config("", ""), &["Capital of France?"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "FINAL: Paris.\n");
    for needle in [
        "m-a: running",
        "m-a: done in",
        "m-c: done in",
        "judge (judge): running",
        "judge: done",
        "synthesizer (synth): running",
        "synthesizer: done",
    ] {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks `{needle}`:\n{}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_is_read_from_stdin_when_no_argument_is_given() {
    let h = Harness::start(healthy_script()).await;
    let config = h.write_config("fusion.toml", &h.standard_config("", ""));
    let run = h
        .fusion_with(
            &["ask", "--config", config.to_str().unwrap(), "-q"],
            Some("What is from stdin?\n"),
            &[],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "--quiet printed: {}", run.stderr);
    let body = &h.mock.requests_for("m-c")[0].body;
    assert_eq!(body["messages"][0]["content"], "What is from stdin?\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_council_asks_one_member_after_another() {
    let mut script = healthy_script();
    for m in PANEL {
        let reply = script.models[m].clone().with_latency_ms(300);
        script.models.insert(m.into(), reply);
    }
    let h = Harness::start(script).await;
    let run = h
        .ask(
            &h.standard_config("", "parallel = false"),
            &["--json", "Q?"],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let at = |m: &str| h.mock.requests_for(m)[0].received_at;
    // Each member is asked only after the previous one answered (300 ms latency each).
    assert!(at("m-b").duration_since(at("m-a")).as_millis() >= 300);
    assert!(at("m-c").duration_since(at("m-b")).as_millis() >= 300);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exec_provider_sits_on_a_council() {
    let h = Harness::start(healthy_script()).await;
    let text = h.standard_config("", "").replace(
        "[[models]]\nid = \"m-c\"\nprovider = \"mock\"",
        "[[providers]]\nname = \"shell\"\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"printf 'exec says: '; cat\"]\n\n[[models]]\nid = \"m-c\"\nprovider = \"shell\"",
    );
    let run = h.ask(&text, &["--json", "Ping?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    let c = r["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["model"] == "m-c")
        .unwrap();
    assert!(
        c["content"].as_str().unwrap().starts_with("exec says:"),
        "{c}"
    );
    assert!(c["content"].as_str().unwrap().contains("Ping?"), "{c}");
    assert_eq!(c["usage"]["estimated"], true);
    assert!(h.mock.requests_for("m-c").is_empty());
}
