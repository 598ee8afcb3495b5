//! Durability: tasks of a process that stopped (an expired lease, a crash mid-call, a graceful
//! shutdown) end in a final state per `on_interrupt`, never lost and never run twice at once.

use super::*;

/// A task claimed by a process that died: running, its lease expired; with a started job
/// when `reached_model`.
async fn crashed_task(store: &Store, reached_model: bool) -> String {
    let id = format!("task_crashed{:04x}", rand::random::<u16>());
    let work = ask("recover me").with_model("a").work;
    let now = now_ms();
    let task = NewTask {
        id: id.clone(),
        kind: TaskKind::Completion,
        priority: 0,
        created_ms: now - 10_000,
        seq: 1,
        slot_group: "local".into(),
        request: serde_json::to_value(work).unwrap(),
        decision: None,
        model: Some("a".into()),
        provider: Some("mock".into()),
        caller: "cli".into(),
    };
    store.insert_task(&task).await.unwrap();
    let claimed = store
        .claim_task(
            "dead-owner",
            now - 9_000,
            now - 5_000,
            &["local".to_owned()],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.task.id, id);
    if reached_model {
        let job = NewJob {
            id: format!("job_{id}"),
            task_id: id.clone(),
            attempt: 1,
            seq: 1,
            label: "attempt 1".into(),
            model: "a".into(),
            provider: "mock".into(),
            state: TaskState::Running,
            started_ms: Some(now - 8_000),
        };
        store.insert_job(&job).await.unwrap();
    }
    id
}

pub(super) async fn expired_leases_are_recovered_per_on_interrupt(backend: Backend) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(5)).await.unwrap();
    let never_called = crashed_task(&t.store, false).await;
    let interrupted = crashed_task(&t.store, true).await;

    // on_interrupt = "fail": the interrupted task fails; the one that never reached a model runs.
    let failing = TasksConfig {
        on_interrupt: OnInterrupt::Fail,
        ..tasks_config(1)
    };
    let engine_fail = engine(&t.store, &config(&mock.base_url(), "local", failing));
    let view = wait_final(&engine_fail, &interrupted).await;
    assert_eq!(view.task.state, TaskState::Failed);
    assert_eq!(
        view.task.error.as_deref(),
        Some("interrupted: the process running it stopped (attempt 1)")
    );
    assert_eq!(
        view.jobs[0].state,
        TaskState::Failed,
        "its open job is closed"
    );
    let view = wait_final(&engine_fail, &never_called).await;
    assert_eq!(view.task.state, TaskState::Completed);
    assert_eq!(view.task.attempts, 2);
    assert_eq!(view.task.owner.as_deref(), Some(engine_fail.owner()));
    engine_fail.shutdown().await;

    // on_interrupt = "requeue": the interrupted task runs again.
    let interrupted = crashed_task(&t.store, true).await;
    let requeueing = TasksConfig {
        on_interrupt: OnInterrupt::Requeue,
        ..tasks_config(1)
    };
    let engine_requeue = engine(&t.store, &config(&mock.base_url(), "local", requeueing));
    let view = wait_final(&engine_requeue, &interrupted).await;
    assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
    assert_eq!(view.task.attempts, 2);
    assert_eq!(view.jobs.len(), 2);
    assert_eq!(view.jobs[0].state, TaskState::Failed);
    assert_eq!(view.jobs[1].state, TaskState::Completed);
    assert_eq!(
        mock.requests().len(),
        2,
        "one call per recovered task that ran"
    );
    engine_requeue.shutdown().await;
}

pub(super) async fn every_task_of_a_crashed_process_ends_after_a_restart(backend: Backend) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(300)).await.unwrap();
    let tasks = TasksConfig {
        lease: Duration::from_secs(2),
        on_interrupt: OnInterrupt::Requeue,
        ..tasks_config(1)
    };
    let config = config(&mock.base_url(), "local", tasks);
    // The first process: its own runtime (and store pool), dropped mid-call like kill -9.
    let (url, first_config) = (t.url.clone(), Arc::clone(&config));
    let (runtime, ids) = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ids = runtime.block_on(async move {
            let store = Store::open(Some(&url)).await.unwrap();
            let engine = engine(&store, &first_config);
            let mut ids = Vec::new();
            for i in 0..5 {
                ids.push(engine.submit(ask(&format!("c{i}"))).await.unwrap().id);
            }
            ids
        });
        (runtime, ids)
    })
    .await
    .unwrap();
    wait_until("the first process is mid-call", || async {
        mock.in_flight() == 1
    })
    .await;
    runtime.shutdown_background();
    wait_until("the crashed call is gone upstream", || async {
        mock.in_flight() == 0
    })
    .await;

    let restarted = engine(&t.store, &config);
    for id in &ids {
        let view = wait_final(&restarted, id).await;
        assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
    }
    let page = restarted
        .list(TaskFilter {
            state: Some(TaskState::Completed),
            ..TaskFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 5);
    assert!(
        page.tasks.iter().any(|task| task.attempts == 2),
        "the interrupted task ran again"
    );
    restarted.shutdown().await;
}

pub(super) async fn shutdown_requeues_running_tasks_or_fails_them_per_on_interrupt(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(5)).await.unwrap();
    for (on_interrupt, state) in [
        (OnInterrupt::Requeue, TaskState::Queued),
        (OnInterrupt::Fail, TaskState::Failed),
    ] {
        let tasks = TasksConfig {
            on_interrupt,
            ..tasks_config(1)
        };
        let engine = engine(&t.store, &config(&mock.base_url(), "local", tasks));
        let task = engine.submit(ask("x").with_model("slow")).await.unwrap();
        wait_until("the call is upstream", || async { mock.in_flight() == 1 }).await;
        engine.shutdown().await;
        let view = engine.get(&task.id).await.unwrap();
        assert_eq!(view.task.state, state, "{on_interrupt:?}: {view:?}");
        assert_eq!(view.task.lease_until_ms, None, "lease released");
        if state == TaskState::Queued {
            // Picked up again by the next process (here, cancelled to end the test quickly).
            assert_eq!(view.task.owner, None);
            engine.cancel_task(&task.id).await.unwrap();
        } else {
            assert_eq!(
                view.task.error.as_deref(),
                Some("interrupted: the process running it stopped (attempt 1)")
            );
        }
        wait_until("the upstream call is gone", || async {
            mock.in_flight() == 0
        })
        .await;
    }
}
