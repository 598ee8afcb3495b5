//! Keyboard use: on every page, with something to show, Tab reaches every control and each
//! has an accessible name.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn every_control_of_every_page_is_reached_by_tab_and_named() {
    let d = Dashboard::start("").await;
    // Something in every list: a finished task, a council run (and so its trace).
    d.submit_completion("quick", "for the keyboard").await;
    let body = json!({"work": {"kind": "council", "question": "What is the capital of France?"}});
    let council_task = d.post("/api/tasks", body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_until(
        "the council task completed",
        Duration::from_secs(30),
        || {
            let path = format!("/api/tasks/{council_task}");
            let d = &d;
            async move { d.api(&path).await["state"] == "completed" }
        },
    )
    .await;
    let councils = d.api("/api/councils").await;
    let council = councils["councils"][0]["id"].as_str().unwrap().to_owned();

    let trace = format!("/ui/councils/{council}");
    let pages: Vec<&str> = PAGES
        .iter()
        .map(|(path, _)| *path)
        .chain([trace.as_str()])
        .collect();
    for path in pages {
        d.open(path).await;
        d.browser.settle().await;
        let stops = d.browser.assert_keyboard_reachable_and_named(path).await;
        eprintln!("{path}: Tab visits {} named controls", stops.len());
        assert!(stops.len() > 3, "{path}: {stops:?}");
    }
    d.finish("keyboard use").await;
}
