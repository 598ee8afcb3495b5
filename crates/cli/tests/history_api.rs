//! The dashboard's history against the real binary: `fusion serve` lists the council runs of
//! every front door — its own `/v1` and a separate `fusion ask` process sharing its store —
//! newest first, with their whole trace, and the routing decisions of its routed calls, while
//! the "try a route" preview is answered and not recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{FusionServer, Harness, healthy_script};
use serde_json::{Value, json};

async fn send(server: &FusionServer, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", server.url);
    let request = match body {
        Some(body) => client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string()),
        None => client.get(url),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, value)
}

#[tokio::test]
async fn councils_of_every_front_door_and_routing_decisions_are_listed_by_fusion_serve() {
    let h = Harness::start(healthy_script()).await;
    let text = h.standard_config("", "");
    let config = h.write_config("fusion.toml", &text);
    let server = FusionServer::with_config(h.dir.path(), &config).await;

    let chat = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "What is the capital?"}]});
    let (status, answer) = send(
        &server,
        "/v1/chat/completions",
        Some(chat("fusion/default")),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // Another process, the same store.
    let run = h.ask(&text, &["Which river crosses Paris?"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, answer) = send(&server, "/v1/chat/completions", Some(chat("router/auto"))).await;
    assert_eq!(status, 200, "{answer}");

    let (status, listing) = send(&server, "/api/councils", None).await;
    assert_eq!(status, 200, "{listing}\n{}", server.log());
    let councils = listing["councils"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = councils
        .iter()
        .map(|c| {
            (
                c["caller"].as_str().unwrap(),
                c["question"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("cli", "Which river crosses Paris?"),
            ("http", "What is the capital?")
        ]
    );
    let id = councils[1]["id"].as_str().unwrap();
    let (status, trace) = send(&server, &format!("/api/councils/{id}"), None).await;
    assert_eq!(status, 200, "{trace}");
    let result = &trace["result"];
    assert_eq!(result["final_answer"], "FINAL: Paris.");
    assert_eq!(result["labels"].as_array().unwrap().len(), 3);
    let stances = &result["analysis"]["contradictions"][0]["stances"];
    assert!(
        stances
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["model"].as_str().unwrap().starts_with("m-")),
        "the analysis names the members, not their labels: {stances}"
    );

    let (status, decisions) = send(&server, "/api/decisions", None).await;
    assert_eq!(status, 200, "{decisions}");
    let decisions = decisions["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["caller"], "http");
    assert_eq!(decisions[0]["chosen"], decisions[0]["decision"]["chosen"]);

    let (status, preview) = send(
        &server,
        "/api/route",
        Some(json!({"task": "Summarize this report", "category": "summarization"})),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["estimate"]["category"], "summarization");
    let (_, after) = send(&server, "/api/decisions", None).await;
    assert_eq!(after["decisions"].as_array().unwrap().len(), 1, "{after}");
    server.stop().await;
}
