//! The task API's answers to bad input: unknown ids, malformed or invalid submissions, bad
//! list queries.

use super::*;

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
