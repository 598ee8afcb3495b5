//! End-to-end async tasks through the real binary against mock-provider: the REST API
//! (`/api/tasks`, `/api/queue`, `/api/events`) and `fusion tasks`, the local slot bound,
//! cancelling a running task (the upstream request is aborted), kill -9 and restart (every task
//! ends, none lost, none run twice at once), two replicas sharing one PostgreSQL queue (each
//! task executed exactly once), and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::{FusionServer, Harness};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::{Value, json};

fn script(latency_ms: u64) -> Script {
    Script::new()
        .with_model(
            "slow-local",
            ModelScript::echo().with_latency_ms(latency_ms),
        )
        .with_model("hang", ModelScript::echo().with_latency_ms(60_000))
}

/// One local provider with two models; `[tasks]` as given; the store as given (default: the
/// SQLite file in the server's data dir).
fn config(h: &Harness, tasks: &str, storage: &str) -> String {
    format!(
        r#"{storage}
[router]
discover = false

[tasks]
poll_interval = "200ms"
{tasks}

[[providers]]
name = "local"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "120s"
max_concurrency = 8

[[models]]
id = "slow-local"
provider = "local"

[[models]]
id = "hang"
provider = "local"
"#,
        url = h.mock.base_url()
    )
}

async fn serve_in(dir: &Path, config: &str) -> FusionServer {
    let path = dir.join("fusion.toml");
    std::fs::write(&path, config).unwrap();
    FusionServer::with_config(dir, &path).await
}

fn completion(model: &str, text: &str) -> Value {
    json!({"work": {"kind": "completion", "model": model,
                    "messages": [{"role": "user", "content": text}]}})
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn submit(server: &FusionServer, body: Value) -> Value {
    let (status, submitted) = post(&format!("{}/api/tasks", server.url), body).await;
    assert_eq!(status, 202, "{submitted}\n{}", server.log());
    submitted
}

async fn task(url: &str, id: &str) -> Value {
    let (status, view) = get(&format!("{url}/api/tasks/{id}")).await;
    assert_eq!(status, 200, "{view}");
    view
}

fn is_final(state: &Value) -> bool {
    matches!(state.as_str(), Some("completed" | "failed" | "cancelled"))
}

/// Polls until every task is final (or `limit` passes); returns their views.
async fn wait_final(url: &str, ids: &[String], limit: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut views = Vec::new();
        for id in ids {
            views.push(task(url, id).await);
        }
        if views.iter().all(|v| is_final(&v["state"])) {
            return views;
        }
        if tokio::time::Instant::now() > deadline {
            let states: Vec<_> = views.iter().map(|v| v["state"].clone()).collect();
            panic!("tasks not final after {limit:?}: {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_until<F: Fn() -> bool>(what: &str, limit: Duration, check: F) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_tasks_keep_the_local_slot_at_one_report_positions_and_all_complete() {
    let h = Harness::start(script(150)).await;
    let server = serve_in(h.dir.path(), &config(&h, "local_slots = 1", "")).await;
    // The event stream is open before the first submit, so it sees every change.
    let events = reqwest::get(format!("{}/api/events", server.url))
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    let mut ids = Vec::new();
    let mut positions = Vec::new();
    for i in 0..8 {
        let submitted = submit(&server, completion("slow-local", &format!("task {i}"))).await;
        // Queued, unless a free slot let the dispatcher claim it at once.
        let state = submitted["state"].as_str().unwrap();
        assert!(state == "queued" || state == "running", "{submitted}");
        assert_eq!(submitted["slot_group"], "local");
        positions.push(submitted["position"].as_u64());
        ids.push(submitted["id"].as_str().unwrap().to_owned());
    }
    // The last one waits behind (nearly) all the others.
    let last = positions.last().unwrap().unwrap();
    assert!(last >= 6, "positions at submit: {positions:?}");

    // Its position counts down while it waits.
    let mut seen = Vec::new();
    loop {
        let view = task(&server.url, ids.last().unwrap()).await;
        match view["position"].as_u64() {
            Some(p) => {
                if seen.last() != Some(&p) {
                    seen.push(p);
                }
            }
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen.len() >= 3, "positions seen while queued: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[1] < w[0]),
        "positions only count down: {seen:?}"
    );

    let views = wait_final(&server.url, &ids, Duration::from_secs(60)).await;
    for (i, view) in views.iter().enumerate() {
        assert_eq!(view["state"], "completed", "{view}");
        assert_eq!(view["model"], "slow-local");
        assert!(
            view["result"]["text"]
                .as_str()
                .unwrap()
                .contains(&format!("task {i}")),
            "{view}"
        );
        assert_eq!(view["jobs"].as_array().unwrap().len(), 1, "{view}");
    }
    assert_eq!(h.mock.max_in_flight(), 1, "the local slot allows one call");
    assert_eq!(h.mock.requests_for("slow-local").len(), 8);

    let (status, queue) = get(&format!("{}/api/queue", server.url)).await;
    assert_eq!(status, 200);
    let local = queue["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "local")
        .unwrap_or_else(|| panic!("no local group: {queue}"));
    assert_eq!(local["limit"], 1);
    assert_eq!(queue["queued"], 0);

    // The event stream carried every task from queued to completed.
    let mut events = events;
    let mut text = String::new();
    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            let completed = text.matches("\"state\":\"completed\"").count();
            if completed >= 8 * 2 {
                break; // each task and its one job
            }
        }
    })
    .await;
    assert!(finished.is_ok(), "events so far:\n{text}");
    assert!(text.contains("event: task"), "{text}");
    assert!(text.contains("event: job"), "{text}");
    for id in &ids {
        assert!(text.contains(id.as_str()), "no event for {id}");
    }

    // `fusion tasks` reads the same store.
    let config_path = h.dir.path().join("fusion.toml");
    // The same data dir as the server's (the harness roots both at the temp dir).
    let list = h
        .fusion_with(
            &[
                "tasks",
                "list",
                "--json",
                "--config",
                config_path.to_str().unwrap(),
            ],
            None,
            &[],
        )
        .await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(list.json()["total"], 8);
    let show = h
        .fusion_with(
            &[
                "tasks",
                "show",
                &ids[0],
                "--config",
                config_path.to_str().unwrap(),
            ],
            None,
            &[],
        )
        .await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("completed"), "{}", show.stdout);
    assert!(show.stdout.contains("task 0"), "{}", show.stdout);
    let again = h
        .fusion_with(
            &[
                "tasks",
                "cancel",
                &ids[0],
                "--config",
                config_path.to_str().unwrap(),
            ],
            None,
            &[],
        )
        .await;
    assert_eq!(
        again.code, 1,
        "cancelling a finished task fails: {}",
        again.stdout
    );
    assert!(again.stderr.contains("completed"), "{}", again.stderr);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_running_task_over_rest_aborts_its_upstream_request() {
    let h = Harness::start(script(10)).await;
    let server = serve_in(h.dir.path(), &config(&h, "", "")).await;
    let running = submit(&server, completion("hang", "never answered")).await;
    let queued = submit(&server, completion("slow-local", "behind it")).await;
    let id = running["id"].as_str().unwrap().to_owned();
    wait_until("the upstream call started", Duration::from_secs(10), || {
        h.mock.in_flight() == 1
    })
    .await;
    assert_eq!(task(&server.url, &id).await["state"], "running");

    // The queued one (behind the local slot) is cancelled at once.
    let queued_id = queued["id"].as_str().unwrap();
    let (status, body) = post(
        &format!("{}/api/tasks/{queued_id}/cancel", server.url),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, &body["state"]),
        (200, &json!("cancelled")),
        "{body}"
    );

    let (status, body) = post(&format!("{}/api/tasks/{id}/cancel", server.url), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "cancelled");
    wait_until(
        "the upstream request was aborted",
        Duration::from_secs(10),
        || h.mock.in_flight() == 0,
    )
    .await;
    let view = task(&server.url, &id).await;
    assert_eq!(view["state"], "cancelled", "{view}");
    assert_eq!(view["jobs"][0]["state"], "cancelled", "{view}");
    assert_eq!(task(&server.url, queued_id).await["state"], "cancelled");
    assert!(
        h.mock.requests_for("slow-local").is_empty(),
        "the cancelled queued task never ran"
    );

    // Cancelling it again is refused: it has ended.
    let (status, body) = post(&format!("{}/api/tasks/{id}/cancel", server.url), json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "task_finished", "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_task_api_answers_bad_input_with_clear_errors() {
    let h = Harness::start(script(10)).await;
    let server = serve_in(h.dir.path(), &config(&h, "", "")).await;
    let url = &server.url;

    let (status, body) = get(&format!("{url}/api/tasks/task_0000000000000000")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "task_not_found");
    let (status, body) = post(&format!("{url}/api/tasks/nope/cancel"), json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("task_not_found"))
    );
    let (status, body) = post(&format!("{url}/api/jobs/nope/cancel"), json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("job_not_found"))
    );

    // Not JSON, an unknown field, no messages, an unknown model, a priority out of range.
    let raw = reqwest::Client::new()
        .post(format!("{url}/api/tasks"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let text = raw.text().await.unwrap();
    assert!(text.contains("invalid task"), "{text}");
    for (body, needle) in [
        (
            json!({"work": {"kind": "completion", "messages": []}, "colour": 1}),
            "colour",
        ),
        (
            json!({"work": {"kind": "completion", "messages": []}}),
            "at least one message",
        ),
        (json!({"work": {"kind": "dance"}}), "dance"),
        (completion("no-such-model", "hi"), "no-such-model"),
        (
            json!({"work": {"kind": "completion", "messages": [{"role": "user", "content": "x"}]},
                   "priority": 1000}),
            "priority",
        ),
        (
            json!({"work": {"kind": "council", "council": "none", "question": "q"}}),
            "none",
        ),
    ] {
        let (status, answer) = post(&format!("{url}/api/tasks"), body.clone()).await;
        assert!(
            status == 400 || status == 404,
            "{body} -> {status} {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body} -> {message}");
    }

    for query in [
        "status=sleeping",
        "page=0",
        "page_size=0",
        "kind=x",
        "colour=red",
    ] {
        let (status, body) = get(&format!("{url}/api/tasks?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    let (status, page) = get(&format!("{url}/api/tasks?status=queued&page_size=5")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 0);
    server.stop().await;
}

/// Kills `fusion serve` with SIGKILL: no shutdown code runs.
fn kill_9(server: &FusionServer) {
    let pid = server.child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn killed_then_restarted(on_interrupt: &str) -> (Harness, Vec<Value>, String) {
    let h = Harness::start(script(1_500)).await;
    let tasks = format!("lease = \"2s\"\non_interrupt = \"{on_interrupt}\"\nlocal_slots = 1");
    let text = config(&h, &tasks, "");
    let server = serve_in(h.dir.path(), &text).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let submitted = submit(&server, completion("slow-local", &format!("job {i}"))).await;
        ids.push(submitted["id"].as_str().unwrap().to_owned());
    }
    wait_until(
        "the first task reached the model",
        Duration::from_secs(10),
        || h.mock.in_flight() == 1,
    )
    .await;
    let interrupted = ids[0].clone();
    assert_eq!(task(&server.url, &interrupted).await["state"], "running");
    kill_9(&server);
    let mut server = server;
    let _ = server.child.wait().await;
    drop(server);

    let restarted = serve_in(h.dir.path(), &text).await;
    let views = wait_final(&restarted.url, &ids, Duration::from_secs(90)).await;
    restarted.stop().await;
    (h, views, interrupted)
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_every_task_ends_and_the_interrupted_one_is_rerun_once_with_requeue() {
    let (h, views, interrupted) = killed_then_restarted("requeue").await;
    for view in &views {
        assert_eq!(view["state"], "completed", "{view}");
        let attempts = view["attempts"].as_u64().unwrap();
        let expected = if view["id"] == interrupted.as_str() {
            2
        } else {
            1
        };
        assert_eq!(attempts, expected, "{view}");
    }
    // The interrupted call reached the mock twice (the killed one and the re-run); every other
    // task once; never two at a time.
    let prompts: Vec<String> = h
        .mock
        .requests_for("slow-local")
        .iter()
        .map(|r| {
            r.body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(prompts.len(), 5, "{prompts:?}");
    let distinct: HashSet<&String> = prompts.iter().collect();
    assert_eq!(distinct.len(), 4, "{prompts:?}");
    assert_eq!(h.mock.max_in_flight(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_the_interrupted_task_fails_with_the_reason_and_the_rest_complete() {
    let (h, views, interrupted) = killed_then_restarted("fail").await;
    for view in &views {
        if view["id"] == interrupted.as_str() {
            assert_eq!(view["state"], "failed", "{view}");
            let error = view["error"].as_str().unwrap();
            assert!(error.contains("interrupted"), "{error}");
        } else {
            assert_eq!(view["state"], "completed", "{view}");
            assert_eq!(view["attempts"], 1, "{view}");
        }
    }
    assert_eq!(h.mock.requests_for("slow-local").len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_postgresql_share_one_queue_and_run_each_of_100_tasks_once() {
    let db = common::PgDatabase::create();
    let h = Harness::start(script(20)).await;
    let storage = format!("[storage]\nurl = \"{}\"\n", db.url);
    let text = config(&h, "local_slots = 2", &storage);
    let dir_a = h.dir.path().join("a");
    let dir_b = h.dir.path().join("b");
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a = serve_in(&dir_a, &text).await;
    let b = serve_in(&dir_b, &text).await;

    let mut ids = Vec::new();
    for i in 0..100 {
        let server = if i % 2 == 0 { &a } else { &b };
        let submitted = submit(server, completion("slow-local", &format!("shared {i}"))).await;
        ids.push(submitted["id"].as_str().unwrap().to_owned());
    }
    let views = wait_final(&a.url, &ids, Duration::from_secs(120)).await;
    let mut owners = HashSet::new();
    for view in &views {
        assert_eq!(view["state"], "completed", "{view}");
        assert_eq!(view["attempts"], 1, "{view}");
        owners.insert(view["owner"].as_str().unwrap_or_default().to_owned());
    }
    // Each executed exactly once: one upstream call per task.
    let prompts: Vec<String> = h
        .mock
        .requests_for("slow-local")
        .iter()
        .map(|r| {
            r.body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(prompts.len(), 100);
    assert_eq!(prompts.iter().collect::<HashSet<_>>().len(), 100);
    // Status is the same from either replica.
    let from_b = task(&b.url, &ids[0]).await;
    assert_eq!(from_b["state"], "completed");
    assert_eq!(from_b["owner"], views[0]["owner"]);
    eprintln!("tasks ran on {} replica(s): {owners:?}", owners.len());
    a.stop().await;
    b.stop().await;
}
