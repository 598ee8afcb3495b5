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

/// The checks every test ends with are not vacuous: they see a request to another host, a
/// console error, and a control with no name.
#[tokio::test(flavor = "multi_thread")]
async fn the_browser_checks_see_a_request_elsewhere_a_console_error_and_an_unnamed_control() {
    let d = Dashboard::start("").await;
    let b = &d.browser;
    d.open("/ui/tasks").await;
    b.settle().await;
    b.assert_only_loopback().await;

    b.js(
        "const probe = document.createElement('button'); probe.id = 'unnamed-probe'; \
         document.getElementById('main').append(probe); \
         console.error('console probe'); return null",
        vec![],
    )
    .await;
    let audit = b.keyboard_audit().await;
    assert!(
        audit.unnamed.iter().any(|u| u.contains("unnamed-probe")),
        "{audit:?}"
    );
    let console = b.console_entries().await;
    assert!(
        console
            .iter()
            .any(|e| e["level"] == "SEVERE" && e["message"].to_string().contains("console probe")),
        "{console:?}"
    );

    // Another host resolves to nothing, and the attempt is on record.
    let elsewhere = b.client.goto("http://example.com/probe").await;
    assert!(
        elsewhere.is_err(),
        "example.com must not load: {elsewhere:?}"
    );
    let urls = b.requested_urls().await;
    assert!(
        urls.iter().any(|u| u.starts_with("http://example.com/")),
        "{urls:?}"
    );
    assert!(!common::browser::stays_on_loopback(
        "http://example.com/probe"
    ));
    assert!(common::browser::stays_on_loopback(&d.url("/ui/tasks")));
    assert!(!common::browser::stays_on_loopback("http://127.0.0.2/"));
    d.browser.close().await;
    d.server.stop().await;
}
