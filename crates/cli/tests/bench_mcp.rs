//! The routing server's benchmark tools over MCP, through the official Python client against
//! the real `fusion mcp`: each queues a low-priority benchmark run in the task queue and
//! answers at once; the run's summary comes back through `get_task_status`, its measurements
//! steer the router ("measured"), a run that asks a local model holds the local slot (and
//! `route_task` names it as `benchmark_contention`), a cancelled run resumes with `fusion bench
//! --resume`, and bad calls are `invalid_arguments` that say what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::Harness;
use common::mcp_session::Session;
use fusion_bench::suite::{self, TaskKind};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::{Value, json};

const SUM: &str = "What is 2 + 3? Answer with the number only.";

/// `careful-local` answers every built-in reasoning task right, and SUM, after `latency_ms`.
fn script(latency_ms: u64) -> Script {
    let suites = suite::builtin(Some(TaskKind::Reasoning)).unwrap();
    let mut pairs: Vec<(String, String)> = suites
        .iter()
        .flat_map(|s| &s.tasks)
        .map(|t| (t.prompt.clone(), t.reference.clone().unwrap()))
        .collect();
    pairs.push((SUM.to_owned(), "5".to_owned()));
    Script::new()
        .with_model(
            "careful-local",
            ModelScript::by_prompt_contains(pairs).with_latency_ms(latency_ms),
        )
        .with_model("free-mid", ModelScript::fixed("I am not sure."))
}

/// One local slot; a local and a free model.
fn config(h: &Harness) -> String {
    format!(
        r#"[router]
discover = false

[tasks]
poll_interval = "100ms"
local_slots = 1

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
id = "careful-local"
provider = "box"

[[models]]
id = "free-mid"
provider = "cloud"
"#,
        url = h.mock.base_url()
    )
}

async fn call(s: &mut Session, tool: &str, args: Value) -> Value {
    s.ok(json!({"op": "call", "tool": tool, "args": args}))
        .await
}

/// Polls `get_task_status` until `done` holds for the compact status (60 s at most).
async fn poll_until(s: &mut Session, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let polled = call(s, "get_task_status", json!({"task_id": id})).await;
        if done(&polled["structured"]) {
            return polled;
        }
        assert!(tokio::time::Instant::now() < deadline, "{polled}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ended(status: &Value) -> bool {
    !["pending", "in_progress"].contains(&status["status"].as_str().unwrap_or_default())
}

fn stats_of<'a>(status: &'a Value, model: &str) -> &'a Value {
    status["benchmark"]["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["model"] == model)
        .unwrap_or_else(|| panic!("{model} in {status:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn benchmark_model_queues_a_low_priority_run_whose_measure_the_router_then_uses() {
    let h = Harness::start(script(0)).await;
    let mut s = Session::stdio(&h.write_config("fusion.toml", &config(&h)), &[]).await;
    let queued = call(
        &mut s,
        "benchmark_model",
        json!({"model_id": "careful-local", "task_categories": ["reasoning"]}),
    )
    .await;
    let answer = &queued["structured"];
    assert!(
        answer["run_id"].as_str().unwrap().starts_with("bench_"),
        "{answer}"
    );
    assert_eq!(
        answer["calls"], 10,
        "ten reasoning tasks, once each: {answer}"
    );
    assert_eq!(answer["models"], json!(["careful-local"]));
    let id = answer["task_id"].as_str().unwrap().to_owned();

    let done = poll_until(&mut s, &id, ended).await;
    let status = &done["structured"];
    assert_eq!(status["status"], "completed", "{status:#}");
    assert_eq!(status["kind"], "bench");
    let measured = stats_of(status, "careful-local");
    assert_eq!(
        (measured["n"].as_u64(), measured["quality"].as_f64()),
        (Some(10), Some(1.0))
    );
    let text = done["text"].as_str().unwrap();
    assert!(
        text.contains("careful-local reasoning: quality 1.00 (n=10"),
        "{text}"
    );

    let full = call(
        &mut s,
        "get_task_status",
        json!({"task_id": id, "verbose": true}),
    )
    .await;
    assert_eq!(
        full["structured"]["priority"], -50,
        "benchmarks run at low priority"
    );

    // This process's router routes on what was just measured.
    let decided = call(
        &mut s,
        "preemptive_route_task",
        json!({"task": "If a train leaves at 3 and arrives at 5, how long is the trip?",
               "context_length": 40, "category": "reasoning"}),
    )
    .await;
    let decision = decided["structured"].to_string();
    assert!(decision.contains("measured (n=10)"), "{decision}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_benchmark_holding_the_local_slot_is_named_in_route_tasks_contention() {
    let h = Harness::start(script(700)).await;
    let mut s = Session::stdio(&h.write_config("fusion.toml", &config(&h)), &[]).await;
    // The seed's arguments verbatim, plus `expected` to score it.
    let queued = call(
        &mut s,
        "benchmark_task",
        json!({"task_id": "sum", "task": SUM, "context_length": 20,
               "expected_output_length": 16, "complexity": 0.1,
               "local_model": "careful-local", "runs_per_task": 3, "expected": "5"}),
    )
    .await;
    let bench_id = queued["structured"]["task_id"].as_str().unwrap().to_owned();
    poll_until(&mut s, &bench_id, |st| st["status"] != "pending").await;

    let routed = call(
        &mut s,
        "route_task",
        json!({"task": "Say hi", "context_length": 10, "model": "careful-local"}),
    )
    .await;
    let answer = &routed["structured"];
    let contention = &answer["benchmark_contention"];
    assert_eq!(contention["local_slot_contended"], true, "{answer:#}");
    assert_eq!(contention["active_benchmark_runs"], 1, "{answer:#}");
    assert_eq!(contention["queued_benchmark_runs"], 0, "{answer:#}");
    assert_eq!(
        contention["message"],
        "Local execution slot currently contended by benchmark workloads."
    );

    let bench = poll_until(&mut s, &bench_id, ended).await;
    let measured = stats_of(&bench["structured"], "careful-local");
    assert_eq!(
        (measured["n"].as_u64(), measured["quality"].as_f64()),
        (Some(3), Some(1.0))
    );
    let route_id = answer["task_id"].as_str().unwrap().to_owned();
    let routed = poll_until(&mut s, &route_id, ended).await;
    assert_eq!(routed["structured"]["status"], "completed", "{routed}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_benchmark_task_leaves_a_run_fusion_bench_resumes() {
    let h = Harness::start(script(400)).await;
    let path = h.write_config("fusion.toml", &config(&h));
    let mut s = Session::stdio(&path, &[]).await;
    let queued = call(
        &mut s,
        "benchmark_tasks",
        json!({"tasks": [{"task_id": "sum", "task": SUM, "expected": ["5", "five"],
                          "local_model": "careful-local"}],
               "runs_per_task": 6}),
    )
    .await;
    let answer = &queued["structured"];
    let (id, run_id) = (
        answer["task_id"].as_str().unwrap().to_owned(),
        answer["run_id"].as_str().unwrap().to_owned(),
    );
    let total = answer["calls"].as_u64().unwrap();
    poll_until(&mut s, &id, |st| {
        st["progress_message"]
            .as_str()
            .is_some_and(|m| m.starts_with("2/"))
    })
    .await;
    call(&mut s, "cancel_task", json!({"task_id": id})).await;
    let cancelled = poll_until(&mut s, &id, ended).await;
    assert_eq!(
        cancelled["structured"]["status"], "cancelled",
        "{cancelled}"
    );
    s.quit().await;

    let resumed = h
        .fusion(&[
            "--config",
            path.to_str().unwrap(),
            "bench",
            "--resume",
            &run_id,
            "--json",
        ])
        .await;
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let summary = resumed.json();
    assert_eq!(summary["status"], "completed", "{summary:#}");
    assert_eq!(summary["total"].as_u64(), Some(total));
    let before = summary["recorded_before"].as_u64().unwrap();
    assert!(
        before >= 2 && before < total,
        "resumed after the recorded answers: {summary:#}"
    );
    assert_eq!(summary["ran"].as_u64(), Some(total - before), "{summary:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_benchmark_calls_are_invalid_arguments_that_say_what_is_wrong() {
    let h = Harness::start(script(0)).await;
    let mut s = Session::stdio(&h.write_config("fusion.toml", &config(&h)), &[]).await;
    let cases = [
        (
            "benchmark_task",
            json!({"task_id": "t", "task": SUM, "context_length": 5, "expected": "5",
                   "facts": ["five"]}),
            "expected and facts",
        ),
        (
            "benchmark_task",
            json!({"task_id": "t", "task": SUM, "context_length": 5, "local_model": "nope"}),
            "nope",
        ),
        (
            "benchmark_task",
            json!({"task_id": "t", "task": SUM, "context_length": 5, "runs_per_task": 0}),
            "runs_per_task",
        ),
        ("benchmark_task", json!({"task": SUM}), "task_id"),
        (
            "benchmark_model",
            json!({"model_id": "careful-local", "task_categories": ["poetry"]}),
            "no built-in suite `poetry`",
        ),
        (
            "benchmark_model",
            json!({"model_id": "ghost"}),
            "unknown model `ghost`",
        ),
        ("benchmark_tasks", json!({"tasks": []}), "`tasks` is empty"),
        (
            "benchmark_tasks",
            json!({"tasks": [{"task_id": "a b", "task": SUM}]}),
            "tasks[0]",
        ),
        (
            "benchmark_free_models",
            json!({"tasks": [], "parallel": true, "max_parallel_tasks": 0}),
            "max_parallel_tasks",
        ),
    ];
    for (tool, args, says) in cases {
        let answer = s
            .ok(json!({"op": "call", "tool": tool, "args": args.clone()}))
            .await;
        assert_eq!(answer["is_error"], true, "{tool} {args}: {answer}");
        assert_eq!(
            answer["structured"]["error"]["class"], "invalid_arguments",
            "{tool} {args}: {answer}"
        );
        let text = answer["text"].as_str().unwrap();
        assert!(text.contains(says), "{tool} {args}: `{says}` in {text}");
    }
    // Nothing was queued by any of them.
    let queue = s.read_json("fusion://jobs/active").await;
    assert_eq!(queue["queue"]["queued"], 0, "{queue:#}");
    assert!(h.mock.requests().is_empty(), "no model was asked");
    s.quit().await;
}
