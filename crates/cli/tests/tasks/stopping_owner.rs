//! A cancel asked for through one replica while the replica running the task is shutting down:
//! the task ends cancelled — it is not put back in the queue for the other replica to run
//! again (an upstream call for an answer nobody wants, until that replica's first renewal).

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_a_task_cancelled_from_another_replica_while_its_owner_stops_ends_cancelled()
{
    let db = common::PgDatabase::create().await;
    let h = Harness::start(script(10)).await;
    cancelled_while_the_owner_stops(&h, &format!("[storage]\nurl = \"{}\"\n", db.url)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_a_task_cancelled_from_another_process_while_its_owner_stops_ends_cancelled() {
    let h = Harness::start(script(10)).await;
    let file = h.dir.path().join("shared.db");
    let storage = format!("[storage]\nurl = \"sqlite://{}\"\n", file.display());
    cancelled_while_the_owner_stops(&h, &storage).await;
}

/// Two processes on the store in `storage`: a runs a hanging task, b is asked to cancel it
/// (and flags it), a stops gracefully before its next renewal.
async fn cancelled_while_the_owner_stops(h: &Harness, storage: &str) {
    // A long lease: the owner does not renew (and so does not see the cancel) before it stops.
    let text = config(h, "lease = \"60s\"\non_interrupt = \"requeue\"", storage);
    let dir_a = h.dir.path().join("a");
    let dir_b = h.dir.path().join("b");
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a = serve_in(&dir_a, &text).await;
    let id = submit(&a, completion("hang", "stopping owner")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_until(
        "the task reached the model on a",
        Duration::from_secs(10),
        || async { h.mock.in_flight() == 1 },
    )
    .await;
    let b = serve_in(&dir_b, &text).await;
    let (status, body) = post(&format!("{}/api/tasks/{id}/cancel", b.url), json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "cancel_requested", "{body}");

    a.stop().await; // graceful: its running task is given back — or ended, as asked
    let view = wait_final(&b.url, std::slice::from_ref(&id), Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(view["state"], "cancelled", "{view}");
    assert_eq!(view["attempts"], 1, "{view}");
    assert_eq!(view["jobs"][0]["state"], "cancelled", "{view}");
    assert_eq!(h.mock.requests_for("hang").len(), 1, "never run again");
    b.stop().await;
}
