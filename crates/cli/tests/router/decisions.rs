//! `router/<priority>` on `/v1/chat/completions`: which model a task goes to and why, the
//! decision in the body, the header and a stream's first chunk, hints, and bad requests.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_simple_task_goes_to_the_local_model_with_the_decision_in_body_and_header() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    let (status, route, body) = chat(&server, ask("router/auto", "hi there")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "small says hi");
    assert_eq!(route.as_deref(), Some("small; priority=balanced"));
    let decision = &body["fusion"]["route"];
    assert_eq!(decision["chosen"], "small", "{decision}");
    assert_eq!(verdict(decision, "small")["verdict"], "ranked");
    // The broken model's quality is below any task's bar.
    assert_eq!(verdict(decision, "broken")["verdict"], "rejected");
    assert!(
        decision["estimate"]["category_estimated"] == true,
        "{decision}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn router_quality_picks_the_stronger_paid_model_and_hints_are_honoured() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    let (status, route, body) = chat(&server, ask("router/quality", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(route.as_deref(), Some("big; priority=quality"));
    // A hint of full complexity lifts the bar above the local model's 0.5.
    let mut hinted = ask("router/cost", "hi");
    hinted["fusion"] = json!({"complexity": 1.0, "category": "code"});
    let (status, _, body) = chat(&server, hinted).await;
    assert_eq!(status, 200, "{body}");
    let decision = &body["fusion"]["route"];
    assert_eq!(decision["chosen"], "big", "{decision}");
    assert_eq!(decision["estimate"]["complexity_estimated"], false);
    assert!(
        verdict(decision, "small")["reason"]
            .as_str()
            .unwrap()
            .contains("quality"),
        "{decision}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_router_requests_get_clear_errors() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    let (status, _, body) = chat(&server, ask("router/cheapest", "hi")).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("router/cost")
    );
    let mut bad = ask("router/auto", "hi");
    bad["fusion"] = json!({"complexity": 3});
    let (status, _, body) = chat(&server, bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "fusion.complexity");
    let mut unknown = ask("router/auto", "hi");
    unknown["fusion"] = json!({"budget": 1});
    let (status, _, body) = chat(&server, unknown).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{body}"
    );
    // Nothing fits a task larger than every context window: 503 naming why.
    let huge = "word ".repeat(200_000);
    let (status, _, body) = chat(&server, ask("router/auto", &huge)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_route");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_routed_answer_carries_the_decision_in_its_first_chunk() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    let mut body = ask("router/auto", "hi");
    body["stream"] = json!(true);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-fusion-route"].to_str().unwrap(),
        "small; priority=balanced"
    );
    let text = response.text().await.unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["fusion"]["route"]["chosen"], "small", "{text}");
    assert!(chunks[1..].iter().all(|c| c.get("fusion").is_none()));
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    server.stop().await;
}
