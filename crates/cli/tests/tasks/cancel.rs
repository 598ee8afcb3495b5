//! Cancelling over REST: a queued task is skipped, a running one's upstream request is
//! aborted, and an ended task cannot be cancelled again.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_running_task_over_rest_aborts_its_upstream_request() {
    let h = Harness::start(script(10)).await;
    let server = serve_in(h.dir.path(), &config(&h, "", "")).await;
    let running = submit(&server, completion("hang", "never answered")).await;
    let queued = submit(&server, completion("slow-local", "behind it")).await;
    let id = running["id"].as_str().unwrap().to_owned();
    wait_until(
        "the upstream call started",
        Duration::from_secs(10),
        || async { h.mock.in_flight() == 1 },
    )
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
        || async { h.mock.in_flight() == 0 },
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
