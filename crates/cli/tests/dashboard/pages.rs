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

/// What a first visit costs on loopback: every page, with the browser's cache off, paints
/// (first contentful paint) and loads its shell and assets; the figures are printed for
/// BENCHMARKS.md (none is asserted: timings vary with the machine).
#[tokio::test(flavor = "multi_thread")]
async fn every_page_paints_on_a_first_visit_and_reports_its_weight_and_timing() {
    let d = Dashboard::start("").await;
    let b = &d.browser;
    b.cdp("Network.enable", json!({})).await;
    b.cdp("Network.setCacheDisabled", json!({"cacheDisabled": true}))
        .await;
    for (path, _) in PAGES {
        d.open(path).await;
        b.settle().await;
        let figures = b
            .js(
                "const nav = performance.getEntriesByType('navigation')[0];
                 const assets = performance.getEntriesByType('resource')
                   .filter((e) => new URL(e.name).pathname.startsWith('/ui/assets/'));
                 const paint = performance.getEntriesByName('first-contentful-paint')[0];
                 return {
                   fcp_ms: paint ? paint.startTime : null,
                   dom_ms: nav.domContentLoadedEventEnd,
                   load_ms: nav.loadEventEnd,
                   html_bytes: nav.decodedBodySize,
                   asset_bytes: assets.reduce((n, e) => n + e.decodedBodySize, 0),
                   assets: assets.length,
                 };",
                vec![],
            )
            .await;
        let fcp = figures["fcp_ms"].as_f64();
        assert!(
            fcp.is_some_and(|ms| ms > 0.0),
            "{path} never painted: {figures}"
        );
        assert!(
            figures["assets"].as_u64().unwrap_or(0) >= 3,
            "{path} loaded its CSS and scripts from the server, not a cache: {figures}"
        );
        eprintln!(
            "{path}: first contentful paint {:.0} ms, DOMContentLoaded {:.0} ms, load {:.0} ms; \
             {} B of HTML + {} B in {} assets",
            fcp.unwrap_or_default(),
            figures["dom_ms"].as_f64().unwrap_or_default(),
            figures["load_ms"].as_f64().unwrap_or_default(),
            figures["html_bytes"],
            figures["asset_bytes"],
            figures["assets"],
        );
    }
    d.finish("first visits").await;
}
