//! `fusion serve` killed with SIGKILL mid-task and restarted: every task ends, the interrupted
//! one re-run once (`requeue`) or failed with the reason (`fail`), never two at once.

use super::*;

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
        || async { h.mock.in_flight() == 1 },
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
