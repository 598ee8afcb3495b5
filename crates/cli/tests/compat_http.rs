//! The HTTP surfaces of the systems Fusion replaces, as their users call them, against the real
//! binary and the mock provider: the council project's model id `local/fusion` (and Fusion's
//! `fusion`) naming the default council; the routing server's `POST /api/tasks` body
//! (`task`, `context_length`, `complexity`, `priority`, `preemptive`) and its `/api/queue`
//! filters (`status`, `provider`, `model`, `task_id`, `q`, `page`, `page_size`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{FusionServer, Harness, healthy_script, wait_for};
use serde_json::{Value, json};

async fn serve(h: &Harness) -> FusionServer {
    let config = format!(
        "[tasks]\npoll_interval = \"200ms\"\n\n{}",
        h.standard_config("", "")
    );
    let path = h.write_config("fusion.toml", &config);
    FusionServer::with_config(h.dir.path(), &path).await
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

#[tokio::test(flavor = "multi_thread")]
async fn models_fusion_and_local_fusion_answer_as_the_default_council() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(&h).await;
    // The council project's trace field is `local_fusion`; Fusion's own is `fusion`.
    for (model, trace, other) in [
        ("local/fusion", "local_fusion", "fusion"),
        ("fusion", "fusion", "local_fusion"),
    ] {
        let (status, body) = post(
            &format!("{}/v1/chat/completions", server.url),
            json!({"model": model, "messages": [{"role": "user", "content": "Capital of France?"}]}),
        )
        .await;
        assert_eq!(status, 200, "{model}: {body}\n{}", server.log());
        assert_eq!(body["choices"][0]["message"]["content"], "FINAL: Paris.");
        assert_eq!(body["model"], "fusion/default", "{body}");
        assert_eq!(
            body[trace]["final_answer"], "FINAL: Paris.",
            "the council trace: {body}"
        );
        assert!(body.get(other).is_none(), "one trace field: {body}");
    }
    // Their health check reads `ok`.
    let (status, health) = get(&format!("{}/health", server.url)).await;
    assert_eq!((status, &health["ok"]), (200, &json!(true)), "{health}");
    let (_, models) = get(&format!("{}/v1/models", server.url)).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"fusion"), "{ids:?}");
    assert!(ids.contains(&"fusion/default"), "{ids:?}");
    // A near miss is not the default council.
    let (status, body) = post(
        &format!("{}/v1/chat/completions", server.url),
        json!({"model": "local/fusion2", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    server.stop().await;
}

/// Polls the task until it has ended; its view.
async fn wait_ended(url: &str, id: &str) -> Value {
    wait_for(
        &format!("task {id} ends"),
        Duration::from_secs(30),
        || async {
            let (_, view) = get(&format!("{url}/api/tasks/{id}")).await;
            matches!(
                view["state"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
            .then_some(view)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn post_api_tasks_takes_the_routing_servers_body() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(&h).await;
    let url = &server.url;
    // The routing server's README example, verbatim.
    let (status, submitted) = post(
        &format!("{url}/api/tasks"),
        json!({"task": "Refactor parser for readability", "context_length": 4096,
               "complexity": 0.6, "priority": "quality"}),
    )
    .await;
    assert_eq!(status, 202, "{submitted}\n{}", server.log());
    let id = submitted["task_id"].as_str().unwrap().to_owned();
    assert_eq!(submitted["id"], id.as_str());
    assert!(
        matches!(
            submitted["status"].as_str(),
            Some("pending" | "in_progress")
        ),
        "{submitted}"
    );
    assert!(submitted.get("queue_position").is_some(), "{submitted}");
    let estimate = &submitted["decision"]["estimate"];
    assert_eq!(estimate["input_tokens"], 4096, "{estimate}");
    assert_eq!(estimate["complexity"], 0.6, "{estimate}");
    assert_eq!(submitted["decision"]["priority"], "quality");
    let view = wait_ended(url, &id).await;
    assert_eq!(view["state"], "completed", "{view}");

    // preemptive: the decision only, nothing queued.
    let (status, decision) = post(
        &format!("{url}/api/tasks"),
        json!({"task": "Summarise this", "context_length": 200, "preemptive": true}),
    )
    .await;
    assert_eq!(status, 200, "{decision}");
    assert_eq!(decision["preemptive"], true);
    assert!(decision["model"].is_string(), "{decision}");
    assert_eq!(decision["decision"]["estimate"]["input_tokens"], 200);
    let (_, all) = get(&format!("{url}/api/tasks")).await;
    assert_eq!(all["total"], 1, "preemptive queued nothing: {all}");

    // Bad input: a priority the router never had, an unknown field, complexity out of range.
    for (body, needle) in [
        (json!({"task": "x", "priority": "cheapest"}), "cheapest"),
        (json!({"task": "x", "colour": 1}), "colour"),
        (json!({"task": "x", "complexity": 3}), "complexity"),
        (json!({"task": "  "}), "empty"),
    ] {
        let (status, answer) = post(&format!("{url}/api/tasks"), body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body} -> {message}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_queue_filters_like_the_routing_servers_dashboard() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(&h).await;
    let url = &server.url;
    let mut ids = Vec::new();
    for (model, task) in [
        ("m-a", "alpha task"),
        ("m-b", "beta task"),
        ("m-a", "gamma"),
    ] {
        let (status, submitted) = post(
            &format!("{url}/api/tasks"),
            json!({"task": task, "model": model}),
        )
        .await;
        assert_eq!(status, 202, "{submitted}");
        ids.push(submitted["task_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_ended(url, id).await;
    }
    let queue = |query: &str| {
        let url = format!("{url}/api/queue?{query}");
        async move { get(&url).await }
    };
    let (status, active) = queue("").await;
    assert_eq!(status, 200, "{active}");
    assert!(active["groups"].is_array(), "the summary stays: {active}");
    assert_eq!(active["total"], 0, "nothing is queued or running: {active}");
    let (_, done) = queue("status=completed&model=m-a&provider=mock").await;
    assert_eq!(done["total"], 2, "{done}");
    let (_, one) = queue(&format!("status=completed&task_id={}", ids[1])).await;
    assert_eq!(one["total"], 1, "{one}");
    assert_eq!(one["tasks"][0]["id"], ids[1].as_str());
    let (_, text) = queue("status=completed&q=GAMMA").await;
    assert_eq!(text["total"], 1, "{text}");
    assert_eq!(text["tasks"][0]["id"], ids[2].as_str());
    let (_, page) = queue("status=completed&page=2&page_size=2").await;
    assert_eq!(
        (
            page["total"].clone(),
            page["tasks"].as_array().unwrap().len()
        ),
        (json!(3), 1)
    );
    let (_, pending) = queue("status=pending").await;
    assert_eq!(
        pending["total"], 0,
        "the router's name for queued: {pending}"
    );

    for (query, needle) in [
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page=0", "page"),
        ("status=sleeping", "sleeping"),
        ("colour=red", "colour"),
    ] {
        let (status, answer) = queue(query).await;
        assert_eq!(status, 400, "{query} -> {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{query} -> {message}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_routing_servers_other_dashboard_endpoints_answer_in_its_words() {
    let h = Harness::start(healthy_script()).await;
    let server = serve(&h).await;
    let url = &server.url;
    let (_, first) = post(
        &format!("{url}/api/tasks"),
        json!({"task": "alpha refactor", "model": "m-a"}),
    )
    .await;
    let id = first["task_id"].as_str().unwrap().to_owned();
    wait_ended(url, &id).await;
    // GET /api/tasks — recent tasks; filters status, provider, model, q, page, page_size.
    let (status, listed) = get(&format!(
        "{url}/api/tasks?status=completed&provider=mock&model=m-a&q=ALPHA&page=1&page_size=10"
    ))
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["tasks"][0]["status"], "completed", "{listed}");
    // GET /api/tasks/:taskId — the task in detail, `status` in their words.
    let (status, view) = get(&format!("{url}/api/tasks/{id}")).await;
    assert_eq!(
        (status, &view["status"]),
        (200, &json!("completed")),
        "{view}"
    );
    assert!(view["jobs"].is_array(), "{view}");
    // POST /api/tasks/:taskId/cancel — an ended task cannot be cancelled, and says so.
    let (status, refused) = post(&format!("{url}/api/tasks/{id}/cancel"), json!({})).await;
    assert!((400..500).contains(&status), "{status} {refused}");
    // POST /api/jobs/:jobId/cancel — an unknown job is a 404 naming it.
    let (status, unknown) = post(&format!("{url}/api/jobs/job-nope/cancel"), json!({})).await;
    assert_eq!(status, 404, "{unknown}");
    assert!(unknown.to_string().contains("job-nope"), "{unknown}");
    server.stop().await;
}
