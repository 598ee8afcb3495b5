//! Every page loads in the browser without a console error, from this server only, and is
//! screenshotted.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn every_page_loads_without_console_errors_and_only_from_loopback() {
    let d = Dashboard::start("").await;
    // `/` leads to the tasks page.
    d.browser.goto(&d.url("/")).await;
    let at = d.browser.client.current_url().await.unwrap();
    assert_eq!(at.path(), "/ui/tasks", "/ leads to the tasks page");

    for (path, name) in PAGES {
        d.open(path).await;
        d.browser.settle().await;
        let title = d.browser.find("#page-title").await.text().await.unwrap();
        assert!(!title.trim().is_empty(), "{path} has a title");
        d.browser.assert_no_console_errors(path).await;
        d.browser.screenshot(name).await;
    }
    d.finish("every page").await;
}
