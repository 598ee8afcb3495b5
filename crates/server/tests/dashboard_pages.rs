//! The dashboard's pages through the app router (`oneshot`, no socket): with keys configured the
//! shells and their assets answer without one (a browser navigation cannot send a key), each
//! with a strict Content-Security-Policy, while `/api` keeps refusing keyless calls; assets carry
//! their content types and cache for good by version; the guard still stands in front; and the
//! whole dashboard weighs well under 300 KB.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_server::{AppState, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

const KEY: &str = "sk-dashboard-test-key-0123456789";
const PAGES: [&str; 7] = [
    "/ui/tasks",
    "/ui/councils",
    "/ui/councils/c0ffee-1234",
    "/ui/models",
    "/ui/usage",
    "/ui/mcp",
    "/ui/bench",
];
/// The weight the issue aims under, for the whole dashboard.
const WEIGHT_LIMIT: usize = 300 * 1024;

fn state() -> AppState {
    let config = Config::default();
    let registry = ProviderRegistry::from_config(&config).unwrap();
    AppState::with_keys(config, registry, vec![KEY.to_owned()], None)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(state: &AppState, request: Request<Body>) -> Answer {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(state: &AppState, path: &str) -> Answer {
    send(state, Request::get(path).body(Body::empty()).unwrap()).await
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The `/ui/assets/...` URLs a page names (with their `?v=`).
fn asset_urls(html: &str) -> Vec<String> {
    html.split("\"/ui/assets/")
        .skip(1)
        .map(|rest| format!("/ui/assets/{}", rest.split('"').next().unwrap()))
        .collect()
}

#[tokio::test]
async fn every_page_answers_html_with_a_strict_csp_without_a_key_when_keys_are_configured() {
    let state = state();
    for path in PAGES {
        let page = get(&state, path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        let csp = header(&page, "content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header(&page, "x-content-type-options"), "nosniff");
        assert_eq!(header(&page, "cache-control"), "no-cache");
        assert!(page.body.contains("<main id=\"main\""), "{path}");
        assert!(
            page.body.contains("id=\"key-form\""),
            "{path}: the key form"
        );
        assert!(
            page.body.contains("role=\"alert\""),
            "{path}: the alert region"
        );
        assert!(
            page.body.contains("aria-current=\"page\""),
            "{path}: the nav marks the page"
        );
        assert!(!page.body.contains(KEY), "{path}");
    }
}

#[tokio::test]
async fn the_api_still_refuses_a_keyless_call_beside_the_pages() {
    let state = state();
    for path in [
        "/api/tasks",
        "/api/models",
        "/api/events",
        "/api/usage",
        "/v1/models",
    ] {
        let answer = get(&state, path).await;
        assert_eq!(answer.status, 401, "{path} without a key");
    }
    let keyed = Request::get("/api/models")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&state, keyed).await.status, 200);
}

#[tokio::test]
async fn the_root_redirects_to_the_tasks_page() {
    let state = state();
    for path in ["/", "/ui", "/ui/"] {
        let answer = get(&state, path).await;
        assert_eq!(answer.status, 303, "{path}");
        assert_eq!(header(&answer, "location"), "/ui/tasks", "{path}");
    }
}

#[tokio::test]
async fn assets_carry_their_content_types_and_cache_for_good_by_version() {
    let state = state();
    let page = get(&state, "/ui/tasks").await;
    let urls = asset_urls(&page.body);
    assert!(urls.len() >= 4, "css, icon, app and page scripts: {urls:?}");
    for url in &urls {
        let asset = get(&state, url).await;
        assert_eq!(asset.status, 200, "{url}");
        let expected = if url.contains(".css?") {
            "text/css; charset=utf-8"
        } else if url.contains(".js?") {
            "text/javascript; charset=utf-8"
        } else {
            "image/svg+xml; charset=utf-8"
        };
        assert_eq!(header(&asset, "content-type"), expected, "{url}");
        assert_eq!(
            header(&asset, "cache-control"),
            "public, max-age=31536000, immutable",
            "{url}"
        );
        assert!(
            !header(&asset, "content-security-policy").is_empty(),
            "{url}"
        );
    }
    let plain = get(&state, "/ui/assets/app.js").await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        header(&plain, "cache-control"),
        "no-cache",
        "no version: revalidate"
    );
    let stale = get(&state, "/ui/assets/app.js?v=0000").await;
    assert_eq!(
        header(&stale, "cache-control"),
        "no-cache",
        "an old version"
    );
    let etag = header(&plain, "etag").to_owned();
    let again = Request::get("/ui/assets/app.js")
        .header("if-none-match", &etag)
        .body(Body::empty())
        .unwrap();
    let again = send(&state, again).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(get(&state, "/ui/assets/secrets.txt").await.status, 404);
    assert_eq!(get(&state, "/ui/assets/..%2Fmod.rs").await.status, 404);
}

#[tokio::test]
async fn the_guard_stands_in_front_of_the_pages_too() {
    let state = state();
    let foreign_host = Request::get("/ui/tasks")
        .header("host", "evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&state, foreign_host).await.status, 403);
    let foreign_origin = Request::get("/ui/assets/app.js")
        .header("host", "127.0.0.1:8787")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&state, foreign_origin).await.status, 403);
    let own = Request::get("/ui/tasks")
        .header("host", "127.0.0.1:8787")
        .header("origin", "http://127.0.0.1:8787")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&state, own).await.status, 200);
}

#[tokio::test]
async fn a_trace_address_with_an_implausible_id_is_not_found() {
    let state = state();
    let long = format!("/ui/councils/{}", "a".repeat(500));
    for path in [
        long.as_str(),
        "/ui/councils/a%20b",
        "/ui/councils/%3Cscript%3E",
    ] {
        let answer = get(&state, path).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(header(&answer, "content-type"), "text/html; charset=utf-8");
        assert!(!answer.body.contains("<script>"), "{path}");
    }
}

#[tokio::test]
async fn the_whole_dashboard_weighs_well_under_300_kb() {
    let state = state();
    let mut assets = std::collections::BTreeMap::new();
    let mut pages = 0;
    let mut heaviest_page = 0;
    for path in PAGES {
        let page = get(&state, path).await;
        pages += page.body.len();
        let mut weight = page.body.len();
        for url in asset_urls(&page.body) {
            let size = get(&state, &url).await.body.len();
            weight += size;
            assets.insert(url.split('?').next().unwrap().to_owned(), size);
        }
        heaviest_page = heaviest_page.max(weight);
    }
    let all: usize = pages + assets.values().sum::<usize>();
    eprintln!(
        "dashboard weight: {all} bytes in all ({pages} of HTML over {} pages, {} assets); the \
         heaviest page with its assets: {heaviest_page} bytes",
        PAGES.len(),
        assets.len()
    );
    assert!(heaviest_page < WEIGHT_LIMIT / 2, "{heaviest_page} bytes");
    assert!(all < WEIGHT_LIMIT, "{all} bytes");
}
