//! The tasks page: a task submitted from the form completes before the user's eyes (no
//! reload) and its details show the model's answer as text, and a queued task is cancelled
//! from its row.

use super::*;

/// The id in the form's answer: "Task ID queued at position …".
fn submitted_id(answer: &str) -> String {
    answer
        .strip_prefix("Task ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the form's answer names no task: {answer:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_submitted_from_the_form_completes_live_without_a_reload() {
    let d = Dashboard::start("").await;
    d.open("/ui/tasks").await;
    d.wait_live().await;
    d.browser.mark_document().await;

    let b = &d.browser;
    b.find("#submit-text")
        .await
        .send_keys("Say something quick")
        .await
        .unwrap();
    // The models list is filled from the API once the page has loaded.
    b.wait_for_option("#submit-model", "quick").await;
    b.find("#submit-model")
        .await
        .select_by_value("quick")
        .await
        .unwrap();
    b.find("#submit-button").await.click().await.unwrap();
    let answer = b
        .wait_text("#submit-result", "the submitted task's id", |t| {
            t.starts_with("Task ")
        })
        .await;
    let id = submitted_id(&answer);

    let row = format!("#task-{id} td:nth-child(2)");
    b.wait_text(&row, "the task completed", |t| t.contains("completed"))
        .await;
    // The queue follows too: nothing runs any more.
    b.wait_text("#queue-summary", "an empty queue", |t| {
        t.starts_with("0 running, 0 queued")
    })
    .await;
    assert!(
        b.document_is_marked().await,
        "the page was reloaded: the row must change in place"
    );
    let cost_and_model = b.find(&format!("#task-{id}")).await.text().await.unwrap();
    assert!(cost_and_model.contains("quick"), "{cost_and_model}");

    // Its details show the answer: the model's text, not the stored JSON around it.
    b.find(&format!("#task-{id} td:first-child button"))
        .await
        .click()
        .await
        .unwrap();
    let shown = b
        .wait_text("#task-detail-answer", "the answer", |t| !t.is_empty())
        .await;
    assert_eq!(shown, "done quickly");
    // The state once (its progress message says the same), the job by its label alone.
    let state = b
        .js(
            "return document.querySelector('#task-detail-facts dd').textContent",
            vec![],
        )
        .await;
    assert_eq!(state, json!("completed"));
    let job = b.find("#task-jobs tbody th").await.text().await.unwrap();
    assert_eq!(job, "attempt 1");
    let stored = d.api(&format!("/api/tasks/{id}")).await;
    assert_eq!(stored["state"], "completed", "{stored}");
    b.screenshot("tasks-completed").await;
    d.finish("a task submitted from the form").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_task_is_cancelled_from_its_row() {
    let d = Dashboard::start("").await;
    // `hang` holds the local slot; `quick` waits behind it.
    let running = d.submit_completion("hang", "hold the slot").await;
    let queued = d.submit_completion("quick", "wait behind it").await;
    wait_until("the first task runs", Duration::from_secs(10), || async {
        d.h.mock.in_flight() == 1
    })
    .await;

    d.open("/ui/tasks").await;
    d.wait_live().await;
    let b = &d.browser;
    let state = format!("#task-{queued} td:nth-child(2)");
    b.wait_text(&state, "the queued state", |t| t.contains("queued"))
        .await;
    b.screenshot("tasks-queued").await;
    let cancel = b
        .find(&format!("#task-{queued} td:last-child button"))
        .await;
    assert_eq!(
        b.accessible_name(&cancel).await,
        format!("Cancel task {queued}")
    );
    cancel.click().await.unwrap();
    b.wait_text(&state, "the cancelled state", |t| t.contains("cancelled"))
        .await;
    assert_eq!(
        d.api(&format!("/api/tasks/{queued}")).await["state"],
        "cancelled"
    );
    assert!(
        d.h.mock.requests_for("quick").is_empty(),
        "the cancelled task never ran"
    );

    // The running one is cancelled from its row too; its upstream call ends.
    let state = format!("#task-{running} td:nth-child(2)");
    b.wait_text(&state, "the running state", |t| t.contains("running"))
        .await;
    b.find(&format!("#task-{running} td:last-child button"))
        .await
        .click()
        .await
        .unwrap();
    b.wait_text(&state, "the cancelled state", |t| t.contains("cancelled"))
        .await;
    wait_until(
        "the upstream request was aborted",
        Duration::from_secs(10),
        || async { d.h.mock.in_flight() == 0 },
    )
    .await;
    d.finish("a queued task cancelled from the page").await;
}
