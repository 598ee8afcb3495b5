//! Cancellation: a queued task at once, a running one by aborting its upstream call, one
//! council member alone (or cut by the council's quorum), and from another replica at the
//! owner's next lease renewal.

use super::*;

pub(super) async fn cancelling_a_queued_task_skips_it_and_cancelling_a_running_one_aborts_its_call(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(10)).await.unwrap();
    let config = config(&mock.base_url(), "local", tasks_config(1));
    let engine = engine(&t.store, &config);
    let mut events = engine.subscribe();
    let running = engine.submit(ask("long").with_model("slow")).await.unwrap();
    wait_until("the slow call is upstream", || async {
        mock.in_flight() == 1
    })
    .await;
    let queued = engine.submit(ask("next").with_model("a")).await.unwrap();
    assert_eq!(queued.position, Some(1));

    let queue = engine.queue().await.unwrap();
    let local = queue.groups.iter().find(|g| g.group == "local").unwrap();
    assert_eq!((local.limit, local.in_use), (1, 1));
    assert_eq!((local.queued, local.running), (1, 1));

    assert_eq!(
        engine.cancel_task(&queued.id).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        engine.get(&queued.id).await.unwrap().task.state,
        TaskState::Cancelled
    );
    assert_eq!(
        engine.cancel_task(&running.id).await.unwrap(),
        CancelOutcome::Cancelled
    );
    wait_until("the upstream sees the call aborted", || async {
        mock.in_flight() == 0
    })
    .await;
    let view = engine.get(&running.id).await.unwrap();
    assert_eq!(view.task.state, TaskState::Cancelled);
    assert_eq!(view.task.error.as_deref(), Some("cancelled by cancel_task"));
    assert_eq!(view.jobs.len(), 1);
    assert_eq!(view.jobs[0].state, TaskState::Cancelled);
    assert_eq!(
        mock.requests().len(),
        1,
        "the cancelled queued task never ran"
    );

    let mut cancelled = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.kind == TaskEventKind::Task && event.state == TaskState::Cancelled {
            cancelled.push(event.id);
        }
    }
    assert_eq!(cancelled, vec![queued.id, running.id]);
    engine.shutdown().await;
}

pub(super) async fn cancelling_one_council_member_lets_the_council_finish_without_it(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(5)).await.unwrap();
    let config = config(&mock.base_url(), "free", tasks_config(1));
    let engine = engine(&t.store, &config);
    let task = engine
        .submit(TaskSpec::council(Some("slow"), "Q?"))
        .await
        .unwrap();
    wait_until("the slow member is running", || async {
        running_job(&engine.get(&task.id).await.unwrap(), "slow").is_some()
    })
    .await;
    let slow_job = running_job(&engine.get(&task.id).await.unwrap(), "slow").unwrap();
    assert_eq!(
        engine.cancel_job(&slow_job).await.unwrap(),
        CancelOutcome::Cancelled
    );
    let view = wait_final(&engine, &task.id).await;
    assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
    let result = view.result.unwrap();
    assert_eq!(result["failed_models"][0]["model"], "slow");
    assert_eq!(
        result["failed_models"][0]["error"],
        "cancelled by cancel_job"
    );
    assert_eq!(result["responses"].as_array().unwrap().len(), 2);
    let job = view.jobs.iter().find(|j| j.id == slow_job).unwrap();
    assert_eq!(job.state, TaskState::Cancelled);
    wait_until("the member's upstream call is aborted", || async {
        mock.in_flight() == 0
    })
    .await;
    engine.shutdown().await;
}

pub(super) async fn a_quorum_council_task_ends_the_cut_members_job_as_cancelled(backend: Backend) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(5)).await.unwrap();
    let config = config(&mock.base_url(), "free", tasks_config(1));
    let engine = engine(&t.store, &config);
    let task = engine
        .submit(TaskSpec::council(Some("quorum"), "Q?"))
        .await
        .unwrap();
    let view = wait_final(&engine, &task.id).await;
    assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
    let result = view.result.unwrap();
    assert_eq!(result["cut"][0]["model"], "slow", "{result}");
    assert_eq!(result["cut"][0]["reason"], "quorum_reached");
    let job = view.jobs.iter().find(|j| j.label == "slow").unwrap();
    assert_eq!(job.state, TaskState::Cancelled, "{job:?}");
    assert_eq!(
        job.error.as_deref(),
        Some("cut by the council: quorum_reached")
    );
    wait_until("the cut member's upstream call is aborted", || async {
        mock.in_flight() == 0
    })
    .await;
    engine.shutdown().await;
}

pub(super) async fn a_cancel_asked_on_another_replica_stops_the_task_at_its_next_lease_renewal(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(5)).await.unwrap();
    let tasks = TasksConfig {
        lease: Duration::from_millis(900),
        ..tasks_config(1)
    };
    let config = config(&mock.base_url(), "local", tasks);
    let front = engine(&t.store, &config);
    front.shutdown().await; // submits and cancels, runs nothing
    let worker = engine(&t.store, &config);
    let task = front.submit(ask("x").with_model("slow")).await.unwrap();
    wait_until("the worker runs it", || async { mock.in_flight() == 1 }).await;
    let outcome = front.cancel_task(&task.id).await.unwrap();
    assert_eq!(
        outcome,
        CancelOutcome::Requested {
            owner: Some(worker.owner().to_owned())
        }
    );
    let view = wait_final(&front, &task.id).await;
    assert_eq!(view.task.state, TaskState::Cancelled);
    wait_until("the upstream call is aborted", || async {
        mock.in_flight() == 0
    })
    .await;

    // One council member, cancelled from the other replica: the council goes on without it.
    let council = front
        .submit(TaskSpec::council(Some("slow"), "Q?"))
        .await
        .unwrap();
    wait_until("the slow member runs on the worker", || async {
        running_job(&front.get(&council.id).await.unwrap(), "slow").is_some()
    })
    .await;
    let slow_job = running_job(&front.get(&council.id).await.unwrap(), "slow").unwrap();
    let outcome = front.cancel_job(&slow_job).await.unwrap();
    assert_eq!(
        outcome,
        CancelOutcome::Requested {
            owner: Some(worker.owner().to_owned())
        }
    );
    let view = wait_final(&front, &council.id).await;
    assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
    let result = view.result.unwrap();
    assert_eq!(
        result["failed_models"][0]["error"],
        "cancelled by cancel_job"
    );
    let job = view.jobs.iter().find(|j| j.id == slow_job).unwrap();
    assert_eq!(job.state, TaskState::Cancelled);
    worker.shutdown().await;
}
