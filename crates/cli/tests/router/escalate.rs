//! `[router.escalate]` through the real binary: `router/auto` answers a request no single
//! model meets from the council (plain and streamed, the decision saying why and recorded in
//! `/api/decisions`) and an easy one from a single model; `fusion route` explains the
//! escalation and the council's expected calls and, with `--run`, answers from the council;
//! `route_task` queues an escalated task as a run of the council.

use super::*;
use common::healthy_script;

/// The healthy council's script: three panel members, a judge writing valid JSON and a
/// synthesizer answering "FINAL: Paris.".
fn council_script() -> Script {
    healthy_script()
}

/// Five local models: the panel members rate 0.6 to 0.7, the judge and synthesizer 0.3;
/// a complexity-1 task needs 0.85, which only the council (prior 0.9) meets.
fn escalating_config(h: &Harness) -> String {
    let url = h.mock.base_url();
    let mut models = String::new();
    for (id, quality) in [
        ("m-a", 0.6),
        ("m-b", 0.65),
        ("m-c", 0.7),
        ("judge", 0.3),
        ("synth", 0.3),
    ] {
        models.push_str(&format!(
            "[[models]]\nid = \"{id}\"\nprovider = \"mock\"\nquality = {{ default = {quality} }}\n\n"
        ));
    }
    format!(
        r#"[router]
discover = false
quality_threshold = 0.85

[router.escalate]
council = "deep"
prior = 0.9

[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "5s"

{models}
[councils.deep]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
"#
    )
}

fn hard(stream: bool) -> Value {
    let mut body = ask("router/auto", "Prove that the capital of France is Paris.");
    body["fusion"] = json!({"complexity": 1.0});
    if stream {
        body["stream"] = json!(true);
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn router_auto_answers_a_hard_request_from_the_council_and_an_easy_one_from_one_model() {
    let h = Harness::start(council_script()).await;
    let server = serve(&h, &escalating_config(&h)).await;

    let (status, route, body) = chat(&server, hard(false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "fusion/deep", "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "FINAL: Paris.");
    assert_eq!(route.as_deref(), Some("fusion/deep; priority=balanced"));
    let decision = &body["fusion"]["route"];
    assert_eq!(decision["chosen"], "fusion/deep");
    assert_eq!(decision["escalation"]["council"], "deep");
    assert_eq!(decision["escalation"]["trigger"]["best_model"], "m-c");
    let summary = decision["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "escalated to council deep: no single model meets the required quality 0.85 \
             (best: m-c 0.70); council rated 0.90 prior (router.escalate.prior) ≥ 0.85, \
             expected cost $0 (3 members + judge + synthesizer)"
        ),
        "{summary}"
    );
    assert_eq!(body["fusion"]["model"], "fusion/deep");
    assert_eq!(body["fusion"]["council"]["final_answer"], "FINAL: Paris.");
    assert_eq!(
        body["fusion"]["council"]["responses"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The council made its calls through the registry: every member, the judge, the
    // synthesizer.
    for model in ["m-a", "m-b", "m-c", "judge", "synth"] {
        assert!(
            !h.mock.requests_for(model).is_empty(),
            "{model} was not asked"
        );
    }

    h.mock.clear_requests();
    let (status, route, body) = chat(&server, ask("router/auto", "hi there")).await;
    assert_eq!(status, 200, "{body}");
    let route = route.unwrap();
    assert!(route.starts_with("m-"), "{route}");
    assert!(
        body["fusion"]["route"].get("escalation").is_none(),
        "{body}"
    );
    assert_ne!(body["choices"][0]["message"]["content"], "FINAL: Paris.");
    assert!(body["fusion"].get("council").is_none());
    assert!(h.mock.requests_for("judge").is_empty());
    assert!(h.mock.requests_for("synth").is_empty());

    // Streamed, the council's answer arrives in one piece after the decision.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&hard(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-fusion-route"].to_str().unwrap(),
        "fusion/deep; priority=balanced"
    );
    let text = response.text().await.unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        chunks[0]["fusion"]["route"]["chosen"], "fusion/deep",
        "{text}"
    );
    let answer: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(answer, "FINAL: Paris.");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Recorded like every other decision.
    let decisions: Value = reqwest::get(format!("{}/api/decisions", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let escalated: Vec<&Value> = decisions["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["chosen"] == "fusion/deep")
        .collect();
    assert_eq!(escalated.len(), 2, "{decisions}");
    assert_eq!(
        escalated[0]["decision"]["escalation"]["trigger"]["kind"],
        "unmet_quality"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_route_explains_the_escalation_and_the_councils_calls() {
    let h = Harness::start(council_script()).await;
    let path = h.write_config("fusion.toml", &escalating_config(&h));
    let path = path.to_str().unwrap();
    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--complexity",
            "1",
            "Prove that the capital of France is Paris.",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("escalated to council deep: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("council deep is expected to make:"),
        "{}",
        run.stdout
    );
    for seat in ["member", "judge", "synthesizer"] {
        assert!(run.stdout.contains(seat), "{}", run.stdout);
    }
    // With --run the council answers.
    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--run",
            "--complexity",
            "1",
            "Prove that the capital of France is Paris.",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "FINAL: Paris.");
    assert!(
        run.stderr
            .contains("routed to fusion/deep (escalated to council deep"),
        "{}",
        run.stderr
    );
    let run = h
        .fusion(&[
            "route",
            "--config",
            path,
            "--json",
            "--complexity",
            "0.1",
            "hi",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let decision = run.json();
    assert!(decision.get("escalation").is_none(), "{decision}");
    assert!(
        decision["chosen"].as_str().unwrap().starts_with("m-"),
        "{decision}"
    );
    // A council that does not exist is a config error naming the key.
    let bad = escalating_config(&h).replace("council = \"deep\"", "council = \"shallow\"");
    let bad = h.write_config("bad.toml", &bad);
    let run = h
        .fusion(&["route", "--config", bad.to_str().unwrap(), "hi"])
        .await;
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "router.escalate.council: no council named `shallow`; configured councils: deep"
        ),
        "{}",
        run.stderr
    );
}

/// Polls `get_task_status` (verbose) until the task is completed.
async fn completed(s: &mut common::mcp_session::Session, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = s
            .ok(json!({"op": "call", "tool": "get_task_status",
                       "args": {"task_id": id, "verbose": true}}))
            .await;
        assert_eq!(status["is_error"], false, "{status}");
        if status["structured"]["state"] == "completed" {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {id} never completed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn route_task_runs_a_hard_task_on_the_council_and_an_easy_one_on_one_model() {
    let h = Harness::start(council_script()).await;
    let config = format!(
        "[storage]\nurl = \"sqlite://{}/fusion.db\"\n\n[tasks]\npoll_interval = \"200ms\"\n\n{}",
        h.dir.path().display(),
        escalating_config(&h)
    );
    let path = h.write_config("fusion.toml", &config);
    let mut s = common::mcp_session::Session::stdio(&path, &[]).await;
    let call = |task: &str, complexity: f64| {
        json!({"op": "call", "tool": "route_task",
               "args": {"task": task, "complexity": complexity}})
    };

    let queued = s
        .ok(call("Prove that the capital of France is Paris.", 1.0))
        .await;
    assert_eq!(queued["is_error"], false, "{queued}");
    let submitted = &queued["structured"];
    assert_eq!(submitted["slot_group"], "council", "{submitted}");
    assert_eq!(
        submitted["decision"]["chosen"], "fusion/deep",
        "{submitted}"
    );
    let id = submitted["id"].as_str().unwrap().to_owned();
    let done = completed(&mut s, &id).await;
    assert_eq!(
        done["structured"]["result"]["final_answer"], "FINAL: Paris.",
        "{done}"
    );

    let queued = s.ok(call("hi there", 0.1)).await;
    let submitted = &queued["structured"];
    assert_eq!(submitted["slot_group"], "local", "{submitted}");
    let chosen = submitted["decision"]["chosen"].as_str().unwrap();
    assert!(chosen.starts_with("m-"), "{submitted}");
    assert!(submitted["decision"].get("escalation").is_none());
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_every_panel_member_fails_the_single_model_choice_answers() {
    let down = || ModelScript::failing(Failure::status(500, "down"));
    let script = Script::new()
        .with_model("m-a", down())
        .with_model("m-b", down())
        .with_model("solo", ModelScript::fixed("solo answers"));
    let h = Harness::start(script).await;
    let url = h.mock.base_url();
    // solo meets every bar, but a task above complexity 0.5 goes to the council first.
    let config = format!(
        r#"[router]
discover = false
quality_threshold = 0.85

[router.escalate]
council = "deep"
prior = 0.9
above_complexity = 0.5

[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "5s"

[[models]]
id = "m-a"
provider = "mock"
quality = {{ default = 0.6 }}

[[models]]
id = "m-b"
provider = "mock"
quality = {{ default = 0.6 }}

[[models]]
id = "solo"
provider = "mock"
quality = {{ default = 0.95 }}

[councils.deep]
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}]
judge = {{ model = "solo" }}
"#
    );
    let server = serve(&h, &config).await;
    let (status, route, body) = chat(&server, hard(false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(route.as_deref(), Some("solo; priority=balanced"));
    assert_eq!(body["choices"][0]["message"]["content"], "solo answers");
    let decision = &body["fusion"]["route"];
    assert_eq!(decision["chosen"], "fusion/deep", "{decision}");
    assert_eq!(decision["fallbacks"][0], "solo", "{decision}");
    assert_eq!(decision["escalation"]["trigger"]["kind"], "complexity");
    let failed = &body["fusion"]["failed"][0];
    assert_eq!(failed["model"], "fusion/deep", "{body}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("every panel member failed"),
        "{failed}"
    );
    server.stop().await;
}
