//! Two `fusion serve` replicas on one PostgreSQL queue: each of 100 tasks runs exactly once,
//! and either replica reports the same status.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_postgresql_share_one_queue_and_run_each_of_100_tasks_once() {
    let db = common::PgDatabase::create().await;
    let h = Harness::start(script(20)).await;
    let storage = format!("[storage]\nurl = \"{}\"\n", db.url);
    let text = config(&h, "local_slots = 2", &storage);
    let dir_a = h.dir.path().join("a");
    let dir_b = h.dir.path().join("b");
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a = serve_in(&dir_a, &text).await;
    let b = serve_in(&dir_b, &text).await;

    let mut ids = Vec::new();
    for i in 0..100 {
        let server = if i % 2 == 0 { &a } else { &b };
        let submitted = submit(server, completion("slow-local", &format!("shared {i}"))).await;
        ids.push(submitted["id"].as_str().unwrap().to_owned());
    }
    let views = wait_final(&a.url, &ids, Duration::from_secs(120)).await;
    let mut owners = HashSet::new();
    for view in &views {
        assert_eq!(view["state"], "completed", "{view}");
        assert_eq!(view["attempts"], 1, "{view}");
        owners.insert(view["owner"].as_str().unwrap_or_default().to_owned());
    }
    // Each executed exactly once: one upstream call per task.
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
    assert_eq!(prompts.len(), 100);
    assert_eq!(prompts.iter().collect::<HashSet<_>>().len(), 100);
    // Status is the same from either replica.
    let from_b = task(&b.url, &ids[0]).await;
    assert_eq!(from_b["state"], "completed");
    assert_eq!(from_b["owner"], views[0]["owner"]);
    eprintln!("tasks ran on {} replica(s): {owners:?}", owners.len());
    a.stop().await;
    b.stop().await;
}
