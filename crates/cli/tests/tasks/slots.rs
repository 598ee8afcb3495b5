//! The REST API and `fusion tasks` over a busy queue: the local slot holds one call at a time,
//! positions count down, every task completes, `/api/events` carries every change, and the CLI
//! reads the same store.

use super::*;

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
    let seen = std::cell::RefCell::new(Vec::new());
    wait_until(
        "the last task leaves the queue",
        Duration::from_secs(60),
        || async {
            let view = task(&server.url, ids.last().unwrap()).await;
            let Some(p) = view["position"].as_u64() else {
                return true;
            };
            let mut seen = seen.borrow_mut();
            if seen.last() != Some(&p) {
                seen.push(p);
            }
            false
        },
    )
    .await;
    let seen = seen.into_inner();
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
