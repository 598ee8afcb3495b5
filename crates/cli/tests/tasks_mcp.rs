//! Async tasks through the official MCP Python client against the real `fusion mcp`:
//! `route_task` answers at once with an id, position and decision and `get_task_status` brings
//! the result inline; `fusion_ask` with `async` queues a council; `cancel_job` drops one panel
//! member while the council goes on; the task resources; and bad input as tool errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::mcp_session::Session;
use common::{Harness, JUDGE_JSON};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::{Value, json};

fn script() -> Script {
    Script::new()
        .with_model("echo-local", ModelScript::echo().with_latency_ms(200))
        .with_model("m-a", ModelScript::fixed("Paris, on the Seine."))
        .with_model(
            "m-b",
            ModelScript::fixed("never heard").with_latency_ms(60_000),
        )
        .with_model("m-c", ModelScript::fixed("Paris is the capital."))
        .with_model("judge", ModelScript::fixed(JUDGE_JSON))
        .with_model("synth", ModelScript::fixed("FINAL: Paris."))
}

fn config(h: &Harness) -> String {
    let mut models = String::new();
    for id in ["echo-local", "m-a", "m-b", "m-c", "judge", "synth"] {
        models.push_str(&format!(
            "[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n\n"
        ));
    }
    format!(
        r#"[storage]
url = "sqlite://{dir}/fusion.db"

[router]
discover = false

[tasks]
poll_interval = "200ms"

[[providers]]
name = "mock"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "120s"
max_concurrency = 8

{models}
[councils.default]
timeout = "120s"
panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
"#,
        dir = h.dir.path().display(),
        url = h.mock.base_url()
    )
}

async fn session(h: &Harness) -> Session {
    let path = h.write_config("fusion.toml", &config(h));
    Session::stdio(&path, &[]).await
}

async fn call(s: &mut Session, tool: &str, args: Value) -> Value {
    s.ok(json!({"op": "call", "tool": tool, "args": args}))
        .await
}

/// Polls `get_task_status` (the whole task: `verbose`) until `done` holds for its structured
/// content.
async fn poll(s: &mut Session, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = call(
            s,
            "get_task_status",
            json!({"task_id": id, "verbose": true}),
        )
        .await;
        assert_eq!(status["is_error"], false, "{status}");
        if done(&status["structured"]) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {id} never got there: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn route_task_answers_at_once_and_get_task_status_brings_the_result_inline() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let tools = s.tool_names().await;
    for name in ["route_task", "get_task_status", "cancel_task", "cancel_job"] {
        assert!(tools.iter().any(|t| t == name), "{name} missing: {tools:?}");
    }

    let queued = call(
        &mut s,
        "route_task",
        json!({"task": "echo this: tasks work", "priority": "cost"}),
    )
    .await;
    assert_eq!(queued["is_error"], false, "{queued}");
    let submitted = &queued["structured"];
    let id = submitted["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("task_"), "{submitted}");
    // Queued at the head of the queue (unless the dispatcher's poll claimed it already).
    if submitted["state"] == "queued" {
        assert_eq!(submitted["position"], 1, "{submitted}");
    } else {
        assert_eq!(submitted["state"], "running", "{submitted}");
    }
    assert!(submitted["decision"]["chosen"].is_string(), "{submitted}");
    assert!(queued["text"].as_str().unwrap().contains(&id));

    let done = poll(&mut s, &id, |t| t["state"] == "completed").await;
    let text = done["text"].as_str().unwrap();
    assert!(text.contains("tasks work"), "the answer is inline: {text}");
    let task = &done["structured"];
    assert!(
        task["result"]["text"]
            .as_str()
            .unwrap()
            .contains("tasks work"),
        "{task}"
    );
    assert_eq!(task["jobs"].as_array().unwrap().len(), 1, "{task}");

    // The resources: the template, the task itself and the active list.
    let templates = s.ok(json!({"op": "list_resource_templates"})).await;
    assert!(
        templates["resource_templates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["uriTemplate"] == "fusion://tasks/{id}"),
        "{templates}"
    );
    let view = s.read_json(&format!("fusion://tasks/{id}")).await;
    assert_eq!(view["state"], "completed", "{view}");
    let active = s.read_json("fusion://jobs/active").await;
    assert!(active["queue"]["groups"].is_array(), "{active}");
    assert_eq!(active["tasks"].as_array().unwrap().len(), 0, "{active}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_async_council_goes_on_without_a_member_whose_job_was_cancelled() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let queued = call(
        &mut s,
        "fusion_ask",
        json!({"prompt": "What is the capital of France?", "async": true}),
    )
    .await;
    assert_eq!(queued["is_error"], false, "{queued}");
    let id = queued["structured"]["id"].as_str().unwrap().to_owned();
    assert_eq!(queued["structured"]["slot_group"], "council", "{queued}");

    // m-b hangs: once it is running, cancel its job.
    let running = poll(&mut s, &id, |t| {
        t["jobs"].as_array().is_some_and(|jobs| {
            jobs.iter()
                .any(|j| j["model"] == "m-b" && j["state"] == "running")
        })
    })
    .await;
    let job = running["structured"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["model"] == "m-b")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = call(&mut s, "cancel_job", json!({"job_id": job})).await;
    assert_eq!(cancelled["is_error"], false, "{cancelled}");

    let done = poll(&mut s, &id, |t| t["state"] == "completed").await;
    let result = &done["structured"]["result"];
    assert_eq!(result["final_answer"], "FINAL: Paris.", "{result}");
    let failed = result["failed_models"].as_array().unwrap();
    assert!(
        failed
            .iter()
            .any(|f| f["model"] == "m-b" && f["error"].as_str().unwrap().contains("cancel_job")),
        "{result}"
    );
    assert_eq!(result["responses"].as_array().unwrap().len(), 2, "{result}");
    let jobs = done["structured"]["jobs"].as_array().unwrap();
    let member = jobs.iter().find(|j| j["id"] == job.as_str()).unwrap();
    assert_eq!(member["state"], "cancelled", "{member}");
    assert_eq!(
        h.mock.in_flight(),
        0,
        "the cancelled member's request was aborted"
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn task_tools_answer_bad_input_and_unknown_ids_with_tool_errors() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    for (tool, args, needle) in [
        ("route_task", json!({}), "task"),
        ("route_task", json!({"task": "   "}), "empty"),
        (
            "route_task",
            json!({"task": "x", "queue_priority": 5000}),
            "priority",
        ),
        ("route_task", json!({"task": "x", "model": "nope"}), "nope"),
        (
            "get_task_status",
            json!({"task_id": "task_missing"}),
            "task_missing",
        ),
        (
            "cancel_task",
            json!({"task_id": "task_missing"}),
            "task_missing",
        ),
        (
            "cancel_job",
            json!({"job_id": "job_missing"}),
            "job_missing",
        ),
        ("get_task_status", json!({"id": 5}), "invalid"),
    ] {
        let answer = call(&mut s, tool, args.clone()).await;
        assert_eq!(answer["is_error"], true, "{tool} {args}: {answer}");
        let text = answer["text"].as_str().unwrap();
        assert!(text.contains(needle), "{tool} {args}: {text}");
    }
    // Cancelling a task that has finished is refused with its state.
    let queued = call(&mut s, "route_task", json!({"task": "quick"})).await;
    let id = queued["structured"]["id"].as_str().unwrap().to_owned();
    poll(&mut s, &id, |t| t["state"] == "completed").await;
    let again = call(&mut s, "cancel_task", json!({"task_id": id})).await;
    assert_eq!(again["is_error"], true, "{again}");
    assert!(
        again["text"].as_str().unwrap().contains("completed"),
        "{again}"
    );
    let missing = s
        .run(json!({"op": "read", "uri": "fusion://tasks/task_missing"}))
        .await;
    assert_eq!(missing["ok"], false, "{missing}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_routing_servers_route_task_and_compact_status_polls_answer_as_it_documented() {
    let h = Harness::start(script()).await;
    let mut s = session(&h).await;
    let args = json!({"task": "echo this: compat", "context_length": 200,
                      "expected_output_length": 50, "complexity": 0.3, "priority": "cost"});
    // preemptive: the decision alone, nothing queued.
    let mut preemptive = args.clone();
    preemptive["preemptive"] = json!(true);
    let decided = call(&mut s, "route_task", preemptive).await;
    assert_eq!(decided["is_error"], false, "{decided}");
    assert_eq!(decided["structured"]["preemptive"], true, "{decided}");
    assert!(
        decided["structured"]["decision"]["chosen"].is_string(),
        "{decided}"
    );
    assert_eq!(
        decided["structured"]["decision"]["estimate"]["input_tokens"], 200,
        "{decided}"
    );

    let queued = call(&mut s, "route_task", args).await;
    assert_eq!(queued["is_error"], false, "{queued}");
    let submitted = &queued["structured"];
    let id = submitted["task_id"].as_str().unwrap().to_owned();
    assert!(
        matches!(
            submitted["status"].as_str(),
            Some("pending" | "in_progress")
        ),
        "{submitted}"
    );
    assert!(submitted.get("queue_position").is_some(), "{submitted}");

    // Compact polls: status, progress, model, cost, the answer — no trace.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let compact = loop {
        let status = call(&mut s, "get_task_status", json!({"task_id": id})).await;
        let task = status["structured"].clone();
        assert!(
            matches!(
                task["status"].as_str(),
                Some("pending" | "in_progress" | "completed")
            ),
            "{task}"
        );
        if task["status"] == "completed" {
            break task;
        }
        assert!(tokio::time::Instant::now() < deadline, "{task}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        compact["result"].as_str().unwrap().contains("compat"),
        "{compact}"
    );
    assert!(
        compact["model"].is_string() && compact["cost_usd"].is_number(),
        "{compact}"
    );
    for trace in ["jobs", "decision", "request"] {
        assert!(compact.get(trace).is_none(), "{trace} in {compact}");
    }
    let verbose = call(
        &mut s,
        "get_task_status",
        json!({"task_id": id, "verbose": true}),
    )
    .await["structured"]
        .clone();
    assert!(
        verbose["jobs"].is_array() && verbose["decision"].is_object(),
        "{verbose}"
    );
    let (small, full) = (compact.to_string().len(), verbose.to_string().len());
    eprintln!("get_task_status structured bytes: compact {small}, verbose {full}");
    assert!(small < full, "compact {small} >= verbose {full}");
    s.quit().await;
}
