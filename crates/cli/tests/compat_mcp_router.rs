//! The routing server's (LocalLama MCP's) documented tool calls, replayed with its argument
//! tables verbatim through the official MCP Python client against the real `fusion mcp`: one
//! test per documented call. Each answers as its docs say, or as README's "Coming from …"
//! table maps it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::Harness;
use common::mcp_session::Session;
use fusion_mock_provider::{Failure, ModelScript, Script};
use serde_json::{Value, json};

fn script() -> Script {
    Script::new()
        .with_model("qwen-local", ModelScript::echo().with_latency_ms(1000))
        .with_model("free-mid", ModelScript::fixed("free answer"))
        .with_model("paid-big", ModelScript::fixed("paid answer"))
        .with_model(
            "broken",
            ModelScript::failing(Failure::status(500, "upstream exploded")),
        )
}

/// A local, a free and a paid model (the router's three tiers), one local slot.
fn config(h: &Harness, extra_models: &str) -> String {
    format!(
        r#"[router]
discover = false

[tasks]
poll_interval = "100ms"
local_slots = 1

[[providers]]
name = "llamacpp"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "60s"

[[providers]]
name = "openrouter"
kind = "openai"
base_url = "{url}"
tier = "free"
retries = 0
timeout = "60s"

[[providers]]
name = "frontier"
kind = "openai"
base_url = "{url}"
tier = "paid"
retries = 0
timeout = "60s"

[[models]]
id = "qwen-local"
provider = "llamacpp"
context_window = 8192

[[models]]
id = "free-mid"
provider = "openrouter"
context_window = 32768

[[models]]
id = "paid-big"
provider = "frontier"
context_window = 200000
price = {{ input_per_mtok = 3.0, output_per_mtok = 15.0 }}
{extra_models}
"#,
        url = h.mock.base_url()
    )
}

async fn session(h: &Harness, extra_models: &str) -> Session {
    let path = h.write_config("fusion.toml", &config(h, extra_models));
    Session::stdio(&path, &[]).await
}

async fn call(s: &mut Session, tool: &str, args: Value) -> Value {
    s.ok(json!({"op": "call", "tool": tool, "args": args}))
        .await
}

/// Polls `get_task_status {"task_id"}` (the documented call) until the task ended.
async fn until_ended(s: &mut Session, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let polled = call(s, "get_task_status", json!({"task_id": id})).await;
        let status = polled["structured"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            ["pending", "in_progress", "completed", "failed", "cancelled"]
                .contains(&status.as_str()),
            "the documented statuses only: {polled}"
        );
        if !["pending", "in_progress"].contains(&status.as_str()) {
            return polled["structured"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{polled}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn route_task_with_the_documented_arguments_answers_task_id_status_queue_position() {
    let h = Harness::start(script()).await;
    let mut s = session(&h, "").await;
    // `task, context_length, expected_output_length?, complexity?, priority?, preemptive?`
    let queued = call(
        &mut s,
        "route_task",
        json!({"task": "Refactor parser for readability", "context_length": 200,
               "expected_output_length": 100, "complexity": 0.3, "priority": "cost"}),
    )
    .await;
    assert_eq!(queued["is_error"], false, "{queued}");
    let answer = &queued["structured"];
    let id = answer["task_id"].as_str().unwrap().to_owned();
    assert!(
        matches!(answer["status"].as_str(), Some("pending" | "in_progress")),
        "{answer}"
    );
    assert!(answer.get("queue_position").is_some(), "{answer}");
    // The cheapest tier that is good enough: the local model.
    assert_eq!(answer["model"], "qwen-local", "{answer}");
    let done = until_ended(&mut s, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["result"].as_str().unwrap().contains("Refactor parser"),
        "{done}"
    );

    // `preemptive: true`: the decision, nothing queued, no model called.
    h.mock.clear_requests();
    let decided = call(
        &mut s,
        "route_task",
        json!({"task": "x", "context_length": 20000, "preemptive": true}),
    )
    .await;
    assert_eq!(decided["structured"]["preemptive"], true, "{decided}");
    // 20k tokens of context do not fit the local model's 8k window.
    assert_eq!(
        decided["structured"]["decision"]["chosen"], "free-mid",
        "{decided}"
    );
    assert!(h.mock.requests().is_empty());
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn route_task_reports_contention_while_the_local_slot_is_busy() {
    let h = Harness::start(script()).await;
    let mut s = session(&h, "").await;
    let args = json!({"task": "echo: slow", "context_length": 50});
    let first = call(&mut s, "route_task", args.clone()).await;
    let first_id = first["structured"]["task_id"].as_str().unwrap().to_owned();
    // The first holds the one local slot (its model call takes a second).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let polled = call(&mut s, "get_task_status", json!({"task_id": first_id})).await;
        if polled["structured"]["status"] != "pending" {
            assert_eq!(polled["structured"]["status"], "in_progress", "{polled}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{polled}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = call(&mut s, "route_task", args).await;
    let answer = &second["structured"];
    // One local slot: the second waits behind the first and says why.
    let contention = &answer["contention"];
    assert_eq!(contention["local_slot_contended"], true, "{answer}");
    assert_eq!(contention["limit"], 1, "{answer}");
    assert!(
        contention["message"]
            .as_str()
            .unwrap()
            .contains("Local execution slots are busy"),
        "{answer}"
    );
    assert!(
        second["text"].as_str().unwrap().contains("busy"),
        "{second}"
    );
    until_ended(&mut s, &first_id).await;
    let id = answer["task_id"].as_str().unwrap().to_owned();
    until_ended(&mut s, &id).await;
    // Idle again: no contention reported.
    let idle = call(
        &mut s,
        "route_task",
        json!({"task": "echo: idle", "context_length": 5}),
    )
    .await;
    assert!(idle["structured"].get("contention").is_none(), "{idle}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_task_status_speaks_failed_with_the_error() {
    let h = Harness::start(script()).await;
    let mut s = session(
        &h,
        "\n[[models]]\nid = \"broken\"\nprovider = \"llamacpp\"\n",
    )
    .await;
    let queued = call(
        &mut s,
        "route_task",
        json!({"task": "anything", "context_length": 10, "model": "broken"}),
    )
    .await;
    let id = match queued["structured"]["task_id"].as_str() {
        Some(id) => id.to_owned(),
        // `model` is Fusion's addition (the router would pick a working model).
        None => panic!("route_task with model: {queued}"),
    };
    let failed = until_ended(&mut s, &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("upstream exploded"),
        "{failed}"
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_task_and_cancel_job_take_the_documented_ids() {
    let h = Harness::start(script()).await;
    let mut s = session(&h, "").await;
    let args = json!({"task": "echo: long", "context_length": 50});
    let running = call(&mut s, "route_task", args.clone()).await["structured"].clone();
    let waiting = call(&mut s, "route_task", args).await["structured"].clone();
    // `cancel_task {task_id}`: the queued one goes at once.
    let id = waiting["task_id"].as_str().unwrap();
    let cancelled = call(&mut s, "cancel_task", json!({"task_id": id})).await;
    assert_eq!(cancelled["is_error"], false, "{cancelled}");
    assert_eq!(
        cancelled["structured"]["status"], "cancelled",
        "{cancelled}"
    );
    assert_eq!(cancelled["structured"]["task_id"], id, "{cancelled}");
    let status = call(&mut s, "get_task_status", json!({"task_id": id})).await;
    assert_eq!(status["structured"]["status"], "cancelled", "{status}");
    // `cancel_job {job_id}`: an unknown job is a tool error naming it.
    let unknown = call(&mut s, "cancel_job", json!({"job_id": "job-nope"})).await;
    assert_eq!(unknown["is_error"], true, "{unknown}");
    assert!(
        unknown["text"].as_str().unwrap().contains("job-nope"),
        "{unknown}"
    );
    until_ended(&mut s, running["task_id"].as_str().unwrap()).await;
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn preemptive_route_task_with_the_documented_arguments_calls_no_model() {
    let h = Harness::start(script()).await;
    let mut s = session(&h, "").await;
    // `task, context_length, expected_output_length?, complexity?, priority?`
    let decided = call(
        &mut s,
        "preemptive_route_task",
        json!({"task": "Write a unit test", "context_length": 1000,
               "expected_output_length": 500, "complexity": 0.9, "priority": "quality"}),
    )
    .await;
    assert_eq!(decided["is_error"], false, "{decided}");
    assert!(decided["structured"]["chosen"].is_string(), "{decided}");
    assert!(
        h.mock.requests().is_empty(),
        "a heuristic check makes no LLM call"
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_cost_estimate_answers_per_tier_and_zero_for_local_and_free() {
    let h = Harness::start(script()).await;
    let mut s = session(&h, "").await;
    // `context_length, expected_output_length?, model?`
    let priced = call(
        &mut s,
        "get_cost_estimate",
        json!({"context_length": 1_000_000, "expected_output_length": 100_000, "model": "paid-big"}),
    )
    .await;
    assert_eq!(priced["is_error"], false, "{priced}");
    assert_eq!(priced["structured"]["cost_usd"], 4.5, "{priced}");
    let local = call(
        &mut s,
        "get_cost_estimate",
        json!({"context_length": 1000, "model": "qwen-local"}),
    )
    .await;
    assert_eq!(
        local["structured"]["cost_usd"], 0.0,
        "local models cost 0: {local}"
    );
    // Without a model: per tier, as the routing server answered.
    let tiers = call(
        &mut s,
        "get_cost_estimate",
        json!({"context_length": 1000, "expected_output_length": 200}),
    )
    .await["structured"]["tiers"]
        .clone();
    let tier = |name: &str| tiers[name].clone();
    assert_eq!(tier("local")["cost_usd"], 0.0, "{tiers}");
    assert_eq!(tier("free")["cost_usd"], 0.0, "{tiers}");
    assert_eq!(tier("paid")["model"], "paid-big", "{tiers}");
    assert!(tier("paid")["cost_usd"].as_f64().unwrap() > 0.0, "{tiers}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retriv_init_and_retriv_search_take_the_documented_calls() {
    let h = Harness::start(script()).await;
    let repo = h.dir.path().join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(
        repo.join("src/pager.rs"),
        "/// Pagination logic: splits results into pages.\npub fn paginate(items: &[u32], page_size: usize) -> Vec<&[u32]> {\n    items.chunks(page_size).collect()\n}\n",
    )
    .unwrap();
    let mut s = session(&h, "").await;
    // `retriv_init { "directories": ["/path/to/repo"], "force_reindex": true }`
    let indexed = call(
        &mut s,
        "retriv_init",
        json!({"directories": [repo.to_str().unwrap()], "force_reindex": true}),
    )
    .await;
    assert_eq!(indexed["is_error"], false, "{indexed}");
    // `retriv_search { "query": "pagination logic" }`
    let found = call(
        &mut s,
        "retriv_search",
        json!({"query": "pagination logic"}),
    )
    .await;
    assert_eq!(found["is_error"], false, "{found}");
    assert!(
        found["text"].as_str().unwrap().contains("pager.rs"),
        "{found}"
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_config_takes_no_arguments_and_rejects_an_invalid_file_atomically() {
    let h = Harness::start(script()).await;
    let mut s = session(&h, "").await;
    let same = call(&mut s, "reload_config", json!({})).await;
    assert_eq!(same["is_error"], false, "{same}");
    // An invalid file is rejected; the running config stays.
    let path = h.dir.path().join("fusion.toml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{good}\n[router]\nbogus = 1\n")).unwrap();
    let rejected = call(&mut s, "reload_config", json!({})).await;
    assert_eq!(rejected["is_error"], true, "{rejected}");
    let still = call(
        &mut s,
        "preemptive_route_task",
        json!({"task": "x", "context_length": 10}),
    )
    .await;
    assert_eq!(still["is_error"], false, "{still}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_client_configs_env_configures_fusion_mcp_without_a_file() {
    let h = Harness::start(script()).await;
    let lm_studio = h.mock.base_url();
    // The routing server's MCP client config, with `fusion mcp` as the command: its `env`.
    let env = [
        ("LM_STUDIO_ENDPOINT", lm_studio.as_str()),
        ("OLLAMA_ENDPOINT", "http://127.0.0.1:9/api"),
        ("DEFAULT_LOCAL_MODEL", "qwen-local"),
        ("TOKEN_THRESHOLD", "1500"),
        ("COST_THRESHOLD", "0.02"),
        ("QUALITY_THRESHOLD", "0.07"),
        ("OPENROUTER_API_KEY", "your_openrouter_api_key_here"),
    ];
    let mut s = Session::stdio_in(h.dir.path(), &[], &env, &[]).await;
    let decided = call(
        &mut s,
        "preemptive_route_task",
        json!({"task": "Write a unit test", "context_length": 100}),
    )
    .await;
    assert_eq!(decided["is_error"], false, "{decided}");
    // LM Studio's models (the mock lists several), `DEFAULT_LOCAL_MODEL` among them.
    let candidates = decided["structured"]["candidates"].as_array().unwrap();
    assert!(
        candidates.iter().all(|c| c["provider"] == "lmstudio"),
        "{decided}"
    );
    assert!(
        candidates.iter().any(|c| c["model"] == "qwen-local"),
        "{decided}"
    );
    let status = s.read_json("fusion://status").await;
    let providers: Vec<&str> = status["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        providers.contains(&"lmstudio") && providers.contains(&"ollama"),
        "{status}"
    );
    // The key is read from the environment by name; its value is never shown.
    assert!(
        !status.to_string().contains("your_openrouter_api_key_here"),
        "{status}"
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_multi_word_argument_takes_camel_case_and_the_schemas_say_so() {
    let h = Harness::start(script()).await;
    let mut s = session(&h, "").await;
    let listed = s.ok(json!({"op": "list_tools"})).await;
    for tool in listed["tools"].as_array().unwrap() {
        let properties = tool["inputSchema"]["properties"].as_object();
        for (name, property) in properties.into_iter().flatten() {
            let Some((first, rest)) = name.split_once('_') else {
                continue;
            };
            let camel: String = std::iter::once(first.to_owned())
                .chain(rest.split('_').map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect())
                        .unwrap_or_default()
                }))
                .collect();
            let description = property["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&format!("`{camel}`")),
                "{}.{name} does not name `{camel}`: {description}",
                tool["name"]
            );
        }
    }
    // The routing server's clients spell them in camelCase.
    let queued = call(
        &mut s,
        "route_task",
        json!({"task": "echo: camel", "contextLength": 20, "expectedOutputLength": 10}),
    )
    .await;
    assert_eq!(queued["is_error"], false, "{queued}");
    assert_eq!(
        queued["structured"]["decision"]["estimate"]["input_tokens"], 20,
        "{queued}"
    );
    let id = queued["structured"]["task_id"].as_str().unwrap();
    let polled = call(&mut s, "get_task_status", json!({"taskId": id})).await;
    assert_eq!(polled["is_error"], false, "{polled}");
    assert_eq!(polled["structured"]["task_id"], id);
    s.quit().await;
}
