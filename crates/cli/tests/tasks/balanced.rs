//! Two `fusion serve` replicas on one PostgreSQL behind a TCP balancer
//! (`fusion_test_support::Balancer`), under load — chat completions and task submissions at
//! once, every request through the balancer: each task runs exactly once, the usage either
//! replica reports equals what was sent, a cancel that reaches the replica not running the task
//! stops it on the replica that does, and kill -9 of one replica loses no task (the other
//! recovers them once their lease expires). Tasks run against the harness mock; the chat load
//! has a mock of its own, so the task mock's in-flight count is the tasks' alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fusion_mock_provider::MockProvider;
use fusion_test_support::Balancer;
use tokio::task::JoinHandle;

use super::*;

/// The chat model of the load, on its own provider and mock.
const CHAT: &str = "chat";

struct Replicas {
    h: Harness,
    /// Answers the chat load.
    load: MockProvider,
    a: FusionServer,
    b: FusionServer,
    balancer: Balancer,
    _db: common::PgDatabase,
}

impl Replicas {
    /// Two replicas of the same config (`tasks` in `[tasks]`) on a private PostgreSQL database;
    /// the tasks' models answer after `task_latency_ms`, the chat model after `chat_latency_ms`.
    async fn start(tasks: &str, task_latency_ms: u64, chat_latency_ms: u64) -> Replicas {
        let db = common::PgDatabase::create().await;
        let h = Harness::start(script(task_latency_ms)).await;
        let load_script =
            Script::new().with_model(CHAT, ModelScript::echo().with_latency_ms(chat_latency_ms));
        let load = MockProvider::start(load_script).await.unwrap();
        let storage = format!("[storage]\nurl = \"{}\"\n", db.url);
        let text = format!(
            r#"{}
[[providers]]
name = "load"
kind = "openai"
base_url = "{}"
tier = "local"
retries = 0
timeout = "60s"
max_concurrency = 64

[[models]]
id = "{CHAT}"
provider = "load"
"#,
            config(&h, tasks, &storage),
            load.base_url()
        );
        let dir_a = h.dir.path().join("a");
        let dir_b = h.dir.path().join("b");
        std::fs::create_dir_all(&dir_a).unwrap();
        std::fs::create_dir_all(&dir_b).unwrap();
        let a = serve_in(&dir_a, &text).await;
        let b = serve_in(&dir_b, &text).await;
        let backends = [socket(&a.url), socket(&b.url)];
        let balancer = Balancer::start("127.0.0.1:0".parse().unwrap(), &backends)
            .await
            .unwrap();
        Replicas {
            h,
            load,
            a,
            b,
            balancer,
            _db: db,
        }
    }

    /// The owner id a replica writes on the tasks it runs.
    async fn owner(server: &FusionServer) -> String {
        let (status, queue) = get(&format!("{}/api/queue", server.url)).await;
        assert_eq!(status, 200, "{queue}");
        queue["owner"].as_str().unwrap().to_owned()
    }
}

/// `http://127.0.0.1:PORT` → its socket address.
fn socket(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// A client without a connection pool: every request opens a connection of its own, so the
/// balancer spreads them over the replicas.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// One chat completion through `url`: its usage `(prompt, completion)` tokens, or what failed.
async fn chat(client: &reqwest::Client, url: &str, text: &str) -> Result<(u64, u64), String> {
    let body = json!({"model": CHAT, "messages": [{"role": "user", "content": text}]});
    let response = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| format!("answer unreadable: {e}"))?;
    if !status.is_success() {
        return Err(format!("status {status}: {answer}"));
    }
    let usage = &answer["usage"];
    Ok((
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    ))
}

/// One chat of the load: whether it started after the flag was set, and its outcome.
type ChatOutcome = (bool, Result<(u64, u64), String>);

/// `workers` concurrent clients sending chat completions through `url` until `stop` is set or
/// each sent `limit`; every outcome, with whether it started after `after` was set.
fn chat_load(
    url: String,
    workers: usize,
    limit: usize,
    stop: Arc<AtomicBool>,
    after: Arc<AtomicBool>,
) -> Vec<JoinHandle<Vec<ChatOutcome>>> {
    (0..workers)
        .map(|w| {
            let (url, stop, after) = (url.clone(), Arc::clone(&stop), Arc::clone(&after));
            tokio::spawn(async move {
                let client = unpooled();
                let mut outcomes = Vec::new();
                for i in 0..limit {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let late = after.load(Ordering::SeqCst);
                    outcomes.push((late, chat(&client, &url, &format!("chat {w}-{i}")).await));
                }
                outcomes
            })
        })
        .collect()
}

async fn joined<T>(handles: Vec<JoinHandle<Vec<T>>>) -> Vec<T> {
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    all
}

/// Submits `n` tasks of `model` through `url` (each on a connection of its own); their ids.
async fn submit_through(url: &str, model: &str, tag: &str, n: usize) -> Vec<String> {
    let client = unpooled();
    let mut ids = Vec::new();
    for i in 0..n {
        let response = client
            .post(format!("{url}/api/tasks"))
            .json(&completion(model, &format!("task {tag}-{i}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// The prompts the task mock received for `model`, in order.
fn prompts(mock: &MockProvider, model: &str) -> Vec<String> {
    mock.requests_for(model)
        .iter()
        .map(|r| {
            r.body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The usage totals a replica reports: (calls, tokens_in, tokens_out).
async fn usage_totals(url: &str, query: &str) -> (u64, u64, u64) {
    let (status, report) = get(&format!("{url}/api/usage{query}")).await;
    assert_eq!(status, 200, "{report}");
    let total = &report["total"];
    let n = |k: &str| total[k].as_u64().unwrap_or_else(|| panic!("{k}: {report}"));
    (n("calls"), n("tokens_in"), n("tokens_out"))
}

#[tokio::test(flavor = "multi_thread")]
async fn through_a_balancer_under_load_each_task_runs_once_and_either_replica_reports_the_usage_sent()
 {
    let r = Replicas::start("local_slots = 2", 20, 5).await;
    let url = r.balancer.url();
    let (stop, after) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let chats = chat_load(url.clone(), 4, 25, stop, after);
    let submitters: Vec<JoinHandle<Vec<String>>> = (0..3)
        .map(|w| {
            let url = url.clone();
            tokio::spawn(
                async move { submit_through(&url, "slow-local", &w.to_string(), 20).await },
            )
        })
        .collect();
    let ids = joined(submitters).await;
    let chats = joined(chats).await;
    let views = wait_final(&url, &ids, Duration::from_secs(120)).await;

    // Every chat answered; every task completed on its first attempt, one upstream call each.
    let mut sent = (0u64, 0u64, 0u64);
    for (_, outcome) in &chats {
        let (tokens_in, tokens_out) = outcome.as_ref().unwrap();
        sent = (sent.0 + 1, sent.1 + tokens_in, sent.2 + tokens_out);
    }
    assert_eq!(sent.0, 100);
    assert_eq!(r.load.requests_for(CHAT).len(), 100);
    let mut owners = HashSet::new();
    for view in &views {
        assert_eq!(view["state"], "completed", "{view}");
        assert_eq!(view["attempts"], 1, "{view}");
        owners.insert(view["owner"].as_str().unwrap().to_owned());
        let usage = &view["result"]["usage"];
        sent.0 += 1;
        sent.1 += usage["prompt_tokens"].as_u64().unwrap();
        sent.2 += usage["completion_tokens"].as_u64().unwrap();
    }
    let asked = prompts(&r.h.mock, "slow-local");
    assert_eq!(asked.len(), 60, "one upstream call per task");
    assert_eq!(asked.iter().collect::<HashSet<_>>().len(), 60);
    let stats = r.balancer.stats();
    assert!(stats.iter().all(|s| s.connections > 0), "{stats:?}");

    // Each replica flushes its own ledger when asked for usage: ask both, then either one
    // reports every row once — the chats (caller http) and the tasks' calls (caller task).
    usage_totals(&r.a.url, "").await;
    usage_totals(&r.b.url, "").await;
    for server in [&r.a, &r.b] {
        assert_eq!(usage_totals(&server.url, "").await, sent, "{}", server.url);
        let http = usage_totals(&server.url, "?caller=http").await;
        let task = usage_totals(&server.url, "?caller=task").await;
        assert_eq!((http.0, task.0), (100, 60));
    }
    eprintln!(
        "tasks ran on {} replica(s); balancer: {stats:?}",
        owners.len()
    );
    r.a.stop().await;
    r.b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_that_reaches_the_replica_not_running_the_task_stops_it_on_the_one_that_does() {
    // One local slot per replica: two hanging tasks run one on each. A 3 s lease: the owner
    // looks for cancellations every second.
    let r = Replicas::start("local_slots = 1\nlease = \"3s\"", 10, 5).await;
    let url = r.balancer.url();
    let (stop, after) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let chats = chat_load(url.clone(), 2, 10_000, Arc::clone(&stop), after);
    let ids = submit_through(&url, "hang", "hang", 2).await;
    wait_until(
        "both hanging tasks reached the model",
        Duration::from_secs(20),
        || async { r.h.mock.in_flight() == 2 },
    )
    .await;
    let owner_a = Replicas::owner(&r.a).await;
    let owner_b = Replicas::owner(&r.b).await;
    let mut on_a = None;
    for id in &ids {
        let view = task(&url, id).await;
        assert_eq!(view["state"], "running", "{view}");
        if view["owner"] == owner_a.as_str() {
            on_a = Some(id.clone());
        } else {
            assert_eq!(view["owner"], owner_b.as_str(), "{view}");
        }
    }
    let on_a = on_a.expect("one of the two runs on replica a");

    // Every cancel now reaches replica b: the one it runs stops at once, the one a runs is
    // flagged for a, which stops it at its next lease renewal.
    assert!(r.balancer.take_out(socket(&r.a.url)));
    for id in &ids {
        let (status, body) = post(&format!("{url}/api/tasks/{id}/cancel"), json!({})).await;
        if *id == on_a {
            assert_eq!(status, 202, "{body}");
            assert_eq!(body["state"], "cancel_requested", "{body}");
            assert_eq!(body["owner"], owner_a.as_str(), "{body}");
        } else {
            assert_eq!(
                (status, &body["state"]),
                (200, &json!("cancelled")),
                "{body}"
            );
        }
    }
    assert!(r.balancer.put_back(socket(&r.a.url)));
    // The hanging answers (60 s) are dropped long before they would come.
    wait_until(
        "both upstream requests were dropped",
        Duration::from_secs(20),
        || async { r.h.mock.in_flight() == 0 },
    )
    .await;
    let views = wait_final(&url, &ids, Duration::from_secs(20)).await;
    for view in &views {
        assert_eq!(view["state"], "cancelled", "{view}");
        assert_eq!(view["attempts"], 1, "{view}");
        assert_eq!(view["jobs"][0]["state"], "cancelled", "{view}");
    }
    let on_a_view = task(&r.a.url, &on_a).await;
    assert_eq!(on_a_view["owner"], owner_a.as_str(), "{on_a_view}");
    assert_eq!(r.h.mock.requests_for("hang").len(), 2, "never run again");
    stop.store(true, Ordering::SeqCst);
    for (_, outcome) in joined(chats).await {
        outcome.unwrap();
    }
    r.a.stop().await;
    r.b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_one_replica_under_load_loses_no_task_the_other_recovers_and_completes_them() {
    // Tasks answer after 1.5 s, so the kill finds some running on a; a 2 s lease.
    let tasks = "local_slots = 4\nlease = \"2s\"\non_interrupt = \"requeue\"";
    let r = Replicas::start(tasks, 1_500, 100).await;
    let url = r.balancer.url();
    let (stop, killed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let chats = chat_load(
        url.clone(),
        4,
        10_000,
        Arc::clone(&stop),
        Arc::clone(&killed),
    );
    let mut ids = submit_through(&url, "slow-local", "before", 12).await;
    let owner_a = Replicas::owner(&r.a).await;
    let owner_b = Replicas::owner(&r.b).await;
    wait_for("replica a runs a task", Duration::from_secs(20), || async {
        for id in &ids {
            let view = task(&r.b.url, id).await;
            if view["state"] == "running" && view["owner"] == owner_a.as_str() {
                return Some(());
            }
        }
        None
    })
    .await;

    let Replicas {
        h,
        load,
        a,
        b,
        balancer,
        _db,
    } = r;
    let mut a = a;
    let pid = a.child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = a.child.wait().await; // gone: its port refuses from here on
    killed.store(true, Ordering::SeqCst);
    ids.extend(submit_through(&url, "slow-local", "after", 4).await);

    let views = wait_final(&b.url, &ids, Duration::from_secs(120)).await;
    stop.store(true, Ordering::SeqCst);
    let chats = joined(chats).await;

    // Every task completed once; those a was running when killed ran again on b.
    let asked = prompts(&h.mock, "slow-local");
    let mut recovered = 0;
    for view in &views {
        assert_eq!(view["state"], "completed", "{view}");
        let prompt = view["request"]["messages"][0]["content"].as_str().unwrap();
        let calls = asked.iter().filter(|p| p.as_str() == prompt).count() as u64;
        let attempts = view["attempts"].as_u64().unwrap();
        assert!(calls >= 1 && calls <= attempts, "{calls} calls: {view}");
        if attempts > 1 {
            recovered += 1;
            assert_eq!(view["owner"], owner_b.as_str(), "recovered by b: {view}");
        }
    }
    assert!(recovered >= 1, "the task a ran was recovered: {views:?}");
    // Chats in flight on a when it died may fail; every chat sent after it is answered by b.
    let failed_before = chats.iter().filter(|(late, o)| !late && o.is_err()).count();
    for (late, outcome) in &chats {
        if *late {
            assert!(outcome.is_ok(), "{outcome:?}");
        }
    }
    eprintln!(
        "{} chats, {failed_before} failed with the killed replica; {recovered} task(s) recovered; \
         balancer: {:?}",
        chats.len(),
        balancer.stats()
    );
    drop(load);
    b.stop().await;
}
