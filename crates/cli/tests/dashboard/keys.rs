//! With API keys configured: the pages themselves load without one (they hold nothing secret),
//! every `/api` call without the key is refused, and the page asks for a key, refuses a wrong
//! one, keeps a right one in the tab's session storage (never a cookie) and then works.

use super::*;

const KEY: &str = "sk-dashboard-test-1";

#[tokio::test(flavor = "multi_thread")]
async fn with_keys_the_page_asks_for_one_and_api_calls_without_it_are_refused() {
    let d = Dashboard::start_with(
        "[server]\napi_keys_env = [\"FUSION_TEST_DASHBOARD_KEY\"]",
        &[("FUSION_TEST_DASHBOARD_KEY", KEY)],
        Some(KEY),
    )
    .await;
    let client = reqwest::Client::new();
    let shell = client.get(d.url("/ui/tasks")).send().await.unwrap();
    assert_eq!(shell.status(), 200, "the page itself needs no key");
    let shell = shell.text().await.unwrap();
    assert!(!shell.contains(KEY), "the page never holds the key");
    for path in [
        "/api/tasks",
        "/api/queue",
        "/api/councils",
        "/api/mcp/servers",
    ] {
        let bare = client.get(d.url(path)).send().await.unwrap();
        assert_eq!(bare.status(), 401, "GET {path} without a key");
        let wrong = client
            .get(d.url(path))
            .bearer_auth("sk-wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "GET {path} with a wrong key");
    }
    let submit = json!({"work": {"kind": "completion", "model": "quick",
        "messages": [{"role": "user", "content": "no key"}]}});
    let refused = client
        .post(d.url("/api/tasks"))
        .json(&submit)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "a state change without a key");

    // The page's first API calls are refused (Chrome logs each 401) and it asks for a key.
    let b = &d.browser;
    b.expect_console_error("status of 401");
    d.open("/ui/tasks").await;
    let form = b.find("#key-form").await;
    wait_until("the key form shows", PAGE_WAIT, || async {
        form.is_displayed().await.unwrap_or(false)
    })
    .await;
    // Nothing is loaded yet: there is no page to go to.
    for pager in ["#tasks-prev", "#tasks-next"] {
        let button = b.find(pager).await;
        assert!(
            !button.is_enabled().await.unwrap(),
            "{pager} is disabled before the first load"
        );
    }
    b.screenshot("key-prompt").await;

    // A wrong key is refused, and asked for again.
    b.type_into("#key-input", "sk-wrong").await;
    b.click("#key-submit").await;
    b.wait_text("#key-form-reason", "the refusal", |t| t.contains("refused"))
        .await;
    assert!(form.is_displayed().await.unwrap());

    b.type_into("#key-input", KEY).await;
    b.click("#key-submit").await;
    d.wait_live().await;
    b.wait_text("#tasks-summary", "the task list", |t| t.contains("match"))
        .await;
    assert!(!form.is_displayed().await.unwrap(), "the form is gone");
    let kept = b
        .js(
            "return [sessionStorage.getItem('fusion.apiKey'), document.cookie]",
            vec![],
        )
        .await;
    assert_eq!(kept, json!([KEY, ""]), "kept in session storage, no cookie");
    assert!(!b.body_text().await.contains(KEY), "the key is never shown");

    // With the key, a task submitted from the form runs.
    b.type_into("#submit-text", "with a key").await;
    b.wait_for_option("#submit-model", "quick").await;
    b.find("#submit-model")
        .await
        .select_by_value("quick")
        .await
        .unwrap();
    b.click("#submit-button").await;
    let answer = b
        .wait_text("#submit-result", "the submitted task", |t| {
            t.starts_with("Task ")
        })
        .await;
    let id = answer.split_whitespace().nth(1).unwrap().to_owned();
    b.wait_text(
        &format!("#task-{id} td:nth-child(2)"),
        "the task completed",
        |t| t.contains("completed"),
    )
    .await;
    assert_eq!(
        d.api(&format!("/api/tasks/{id}")).await["state"],
        "completed"
    );
    b.screenshot("key-accepted").await;
    d.finish("a keyed dashboard").await;
}
