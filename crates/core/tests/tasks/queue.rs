//! Dispatch: slots bound concurrent calls, queue positions count down, replicas share one
//! store without running a task twice, routed completions fall back per attempt, councils make
//! one job per seat, lists filter and page, and bad input is a clear error.

use super::*;

pub(super) async fn local_tasks_never_exceed_the_local_slot_and_positions_count_down(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(20)).await.unwrap();
    let config = config(&mock.base_url(), "local", tasks_config(1));
    let engine = engine(&t.store, &config);
    let mut ids = Vec::new();
    for i in 0..50 {
        let submitted = engine.submit(ask(&format!("task {i}"))).await.unwrap();
        assert_eq!(submitted.state, TaskState::Queued);
        assert_eq!(submitted.slot_group, "local", "routed to a local model");
        assert!(submitted.decision.is_some(), "routed at submit");
        ids.push(submitted.id);
    }
    let last = ids.last().unwrap().clone();
    let mut positions = Vec::new();
    loop {
        let view = engine.get(&last).await.unwrap();
        match view.task.position {
            Some(p) => positions.push(p),
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert!(
        positions.windows(2).all(|w| w[0] >= w[1]),
        "positions never go up: {positions:?}"
    );
    assert!(
        positions.first() > positions.last(),
        "the position counts down: {positions:?}"
    );
    for id in &ids {
        let view = wait_final(&engine, id).await;
        assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
        assert_eq!(view.task.attempts, 1);
        assert_eq!(view.jobs.len(), 1);
        assert_eq!(view.jobs[0].state, TaskState::Completed);
    }
    assert_eq!(mock.requests().len(), 50);
    assert_eq!(
        mock.max_in_flight(),
        1,
        "one local slot: never two calls at once"
    );
    engine.shutdown().await;
}

pub(super) async fn two_replicas_on_one_store_run_each_of_100_tasks_exactly_once(backend: Backend) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(5)).await.unwrap();
    let config = config(&mock.base_url(), "free", tasks_config(1));
    let first = engine(&t.store, &config);
    let second = engine(&t.store, &config);
    assert_ne!(first.owner(), second.owner());
    let mut ids = Vec::new();
    for i in 0..100 {
        let replica = if i % 2 == 0 { &first } else { &second };
        let submitted = replica.submit(ask(&format!("t{i}")).with_model("a")).await;
        ids.push(submitted.unwrap().id);
    }
    let mut owners = std::collections::HashSet::new();
    for id in &ids {
        let view = wait_final(&first, id).await;
        assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
        assert_eq!(view.task.attempts, 1, "started once");
        owners.insert(view.task.owner.unwrap());
    }
    assert_eq!(
        mock.requests().len(),
        100,
        "each task called the model once"
    );
    assert!(mock.max_in_flight() <= 10, "5 slots per replica");
    assert_eq!(owners.len(), 2, "both replicas took tasks");
    first.shutdown().await;
    second.shutdown().await;
}

pub(super) async fn a_routed_completion_falls_back_in_ranked_order_with_one_job_per_attempt(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let script = script(5).with_model("m1", ModelScript::failing(Failure::status(500, "down")));
    let mock = MockProvider::start(script).await.unwrap();
    let config = config(&mock.base_url(), "local", tasks_config(1));
    let engine = engine(&t.store, &config);
    let mut spec = ask("hello there");
    if let TaskWork::Completion(completion) = &mut spec.work {
        completion.route.priority = Some(fusion_core::config::Priority::Quality);
    }
    let submitted = engine.submit(spec).await.unwrap();
    let decision = submitted.decision.unwrap();
    assert_eq!(decision.chosen.as_deref(), Some("m1"));
    assert_eq!(decision.fallbacks.first().map(String::as_str), Some("m2"));
    let view = wait_final(&engine, &submitted.id).await;
    assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
    assert_eq!(view.task.model.as_deref(), Some("m2"));
    let jobs: Vec<(&str, &str, TaskState)> = view
        .jobs
        .iter()
        .map(|j| (j.label.as_str(), j.model.as_str(), j.state))
        .collect();
    assert_eq!(
        jobs,
        [
            ("attempt 1", "m1", TaskState::Failed),
            ("attempt 2", "m2", TaskState::Completed)
        ]
    );
    let result = view.result.unwrap();
    assert_eq!(result["model"], "m2");
    assert_eq!(result["failed_attempts"][0]["model"], "m1");
    assert!(view.task.tokens > 0);
    engine.shutdown().await;
}

pub(super) async fn a_council_task_makes_one_job_per_seat_and_reports_progress_as_the_task_caller(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(5)).await.unwrap();
    let config = config(&mock.base_url(), "local", tasks_config(1));
    let ledger = Ledger::start(t.store.clone());
    let registry = ProviderRegistry::from_config(&config)
        .unwrap()
        .with_ledger(ledger.clone());
    let source = fixed_source(Arc::clone(&config), Arc::new(registry));
    let engine = TaskEngine::start(t.store.clone(), source, config.tasks.clone());
    let mut events = engine.subscribe();
    let task = engine
        .submit(TaskSpec::council(None, "What is best?").with_priority(3))
        .await
        .unwrap();
    assert_eq!(task.slot_group, "council");
    let view = wait_final(&engine, &task.id).await;
    assert_eq!(view.task.state, TaskState::Completed, "{view:?}");
    assert_eq!(view.task.kind, TaskKind::Council);
    assert_eq!(view.task.progress, 1.0);
    let result = view.result.unwrap();
    assert_eq!(result["final_answer"], "the final answer");
    let labels: Vec<&str> = view.jobs.iter().map(|j| j.label.as_str()).collect();
    assert_eq!(labels, ["a", "b", "c", "judge", "synthesizer"]);
    assert!(view.jobs.iter().all(|j| j.state == TaskState::Completed));
    assert_eq!(mock.max_in_flight(), 1, "members share the one local slot");

    let mut progress = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.kind == TaskEventKind::Task
            && let Some(p) = event.progress
        {
            progress.push(p);
        }
    }
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {progress:?}"
    );
    assert_eq!(progress.last(), Some(&1.0));

    ledger.flush().await.unwrap();
    let usage = t
        .store
        .usage_report(&UsageFilter {
            caller: Some(Caller::Task),
            ..UsageFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        usage.total.calls, 5,
        "every call is attributed to the task caller"
    );
    engine.shutdown().await;
}

pub(super) async fn lists_filter_by_state_model_and_text_and_page_with_a_total(backend: Backend) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(1)).await.unwrap();
    let config = config(&mock.base_url(), "free", tasks_config(1));
    let engine = engine(&t.store, &config);
    let mut ids = Vec::new();
    for (i, model) in ["a", "a", "b", "b", "b"].iter().enumerate() {
        let spec = ask(&format!("question number {i} about 50%_off")).with_model(*model);
        ids.push(engine.submit(spec).await.unwrap().id);
    }
    let council = engine.submit(TaskSpec::council(None, "Q?")).await.unwrap();
    ids.push(council.id.clone());
    for id in &ids {
        wait_final(&engine, id).await;
    }
    let list = |filter: TaskFilter| {
        let engine = engine.clone();
        async move { engine.list(filter).await.unwrap() }
    };
    let all = list(TaskFilter::default()).await;
    assert_eq!(all.total, 6);
    assert_eq!(all.tasks[0].id, council.id, "newest first");
    let b = list(TaskFilter {
        model: Some("b".into()),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(
        b.total, 4,
        "three completions on b and the council with b on its panel"
    );
    let text = list(TaskFilter {
        q: Some("NUMBER 3 ABOUT 50%_".into()),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(text.total, 1);
    assert_eq!(text.tasks[0].id, ids[3]);
    let wildcard = list(TaskFilter {
        q: Some("%".into()),
        kind: Some(TaskKind::Council),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!(wildcard.total, 0, "`%` is taken literally");
    let page = list(TaskFilter {
        state: Some(TaskState::Completed),
        page: Some(2),
        page_size: Some(4),
        ..TaskFilter::default()
    })
    .await;
    assert_eq!((page.total, page.tasks.len(), page.page), (6, 2, 2));
    let by_status: TaskFilter = serde_json::from_str(r#"{"status": "failed"}"#).unwrap();
    assert_eq!(list(by_status).await.total, 0);
    engine.shutdown().await;
}

pub(super) async fn unknown_ids_invalid_specs_and_ended_tasks_are_clear_errors(backend: Backend) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script(1)).await.unwrap();
    let config = config(&mock.base_url(), "local", tasks_config(1));
    let engine = engine(&t.store, &config);

    let err = engine.get("task_nope").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TaskNotFound { id } if id == "task_nope"));
    assert_eq!(err.status_code(), 404);
    let err = engine.cancel_task("task_nope").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TaskNotFound { .. }),
        "{err}"
    );
    let err = engine.cancel_job("job_nope").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::JobNotFound { .. }), "{err}");
    assert_eq!(err.status_code(), 404);

    let invalid = [
        (TaskSpec::completion(Vec::new()), "at least one message"),
        (ask("x").with_model("gpt-9"), "unknown model `gpt-9`"),
        (
            TaskSpec::council(Some("nope"), "Q"),
            "no council named `nope`",
        ),
        (TaskSpec::council(None, "  "), "non-empty question"),
        (
            ask("x").with_priority(101),
            "priority must be between -100 and 100",
        ),
    ];
    for (spec, needle) in invalid {
        let err = engine.submit(spec).await.unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Invalid(_)), "{err}");
        assert!(err.to_string().contains(needle), "`{err}` lacks `{needle}`");
        assert_eq!(err.status_code(), 400);
    }

    let done = engine.submit(ask("x").with_model("a")).await.unwrap();
    let view = wait_final(&engine, &done.id).await;
    let err = engine.cancel_task(&done.id).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TaskFinished { state, .. } if state == "completed"),
        "{err}"
    );
    assert_eq!(err.status_code(), 409);
    let err = engine.cancel_job(&view.jobs[0].id).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::JobFinished { .. }), "{err}");
    assert_eq!(err.status_code(), 409);
    engine.shutdown().await;
}
