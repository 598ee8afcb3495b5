//! The dashboard's pages: `/` (a redirect to `/ui/tasks`), the HTML shells under `/ui` (tasks
//! and queue, councils and one council's trace, models and routing, usage, MCP servers,
//! benchmarks) and their assets under `/ui/assets`, all embedded in the binary. The shells hold
//! nothing secret, so they are served without a bearer key (a browser navigation cannot send
//! one); their scripts ask for a key on the first 401 and send it with every `/api` call. Each
//! answer carries a strict Content-Security-Policy (scripts, styles and requests of this origin
//! only, no inline script), and assets are cacheable for good when asked for by the version in
//! their URL.

mod pages;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use pages::Page;

/// What a dashboard answer may load: its own scripts, styles and API, images of its own or made
/// in the page (a chart fetched with the bearer header becomes a `blob:` image); nothing inline,
/// nothing from another host, no framing, no plugins.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Longest council id a trace URL may carry.
const MAX_ID_CHARS: usize = 200;

/// One embedded file under `/ui/assets/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    asset("app.css", "text/css", include_str!("assets/app.css")),
    asset("app.js", "text/javascript", include_str!("assets/app.js")),
    asset(
        "charts.js",
        "text/javascript",
        include_str!("assets/charts.js"),
    ),
    asset(
        "tasks.js",
        "text/javascript",
        include_str!("assets/tasks.js"),
    ),
    asset(
        "councils.js",
        "text/javascript",
        include_str!("assets/councils.js"),
    ),
    asset(
        "council.js",
        "text/javascript",
        include_str!("assets/council.js"),
    ),
    asset(
        "models.js",
        "text/javascript",
        include_str!("assets/models.js"),
    ),
    asset(
        "usage.js",
        "text/javascript",
        include_str!("assets/usage.js"),
    ),
    asset("mcp.js", "text/javascript", include_str!("assets/mcp.js")),
    asset(
        "bench.js",
        "text/javascript",
        include_str!("assets/bench.js"),
    ),
    asset(
        "favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];

const fn asset(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    Asset {
        name,
        content_type,
        body,
    }
}

/// A hash of every asset and page template: asset URLs carry it (`?v=`), so a new build is
/// fetched anew while an unchanged one is served from the browser's cache.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let templates = pages::templates();
    let bodies = ASSETS.iter().map(|a| a.body).chain(templates);
    for body in bodies {
        for byte in body.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
});

/// The routes, served without a bearer key (the guard still checks `Host` and `Origin`).
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(to_tasks))
        .route("/ui", get(to_tasks))
        .route("/ui/", get(to_tasks))
        .route("/ui/councils/{id}", get(council_trace))
        .route("/ui/assets/{name}", get(asset_file));
    for page in Page::LISTED {
        router = router.route(page.path(), get(move || async move { shell(page) }));
    }
    router
}

async fn to_tasks() -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static("/ui/tasks"));
    secure(response.headers_mut(), "no-cache");
    response
}

async fn council_trace(Path(id): Path<String>) -> Response {
    let plausible = !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !plausible {
        let mut response = shell(Page::NotFound);
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    shell(Page::CouncilTrace)
}

/// A page's HTML shell (the scripts fill it from the API).
fn shell(page: Page) -> Response {
    let mut response = pages::render(page, &VERSION).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers, "no-cache");
    response
}

async fn asset_file(
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    request_headers: HeaderMap,
) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        let mut response = (StatusCode::NOT_FOUND, "no such dashboard asset").into_response();
        secure(response.headers_mut(), "no-cache");
        return response;
    };
    let etag = format!("\"{}\"", *VERSION);
    let versioned = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair.strip_prefix("v=") == Some(VERSION.as_str()));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let unchanged = request_headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    let content_type = format!("{}; charset=utf-8", asset.content_type);
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    secure(headers, cache);
    response
}

/// The headers every dashboard answer carries.
fn secure(headers: &mut HeaderMap, cache: &'static str) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_names_only_assets_that_exist() {
        for page in Page::LISTED.into_iter().chain([Page::CouncilTrace]) {
            let html = pages::render(page, "v1");
            for piece in html.split("/ui/assets/").skip(1) {
                let name = piece.split('?').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{page:?} names a missing asset `{name}`"
                );
            }
        }
    }

    /// Whether `html` has an inline event handler attribute (` onclick=` and the like).
    fn has_inline_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(at, _)| {
            let rest = &html[at + 3..];
            let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        })
    }

    #[test]
    fn no_page_or_script_has_inline_code_or_another_host() {
        for page in Page::LISTED.into_iter().chain([Page::CouncilTrace]) {
            let html = pages::render(page, "v1");
            assert!(!html.contains("<script>"), "{page:?} has an inline script");
            assert!(!has_inline_handler(&html), "{page:?} has an inline handler");
            assert!(!html.contains("style="), "{page:?} has an inline style");
            assert!(!html.contains("://"), "{page:?} names another host");
        }
        for asset in ASSETS {
            // The SVG namespace is a name, not an address anything is fetched from.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{} names another host",
                asset.name
            );
            assert!(!body.contains("innerHTML"), "{} uses innerHTML", asset.name);
            assert!(!body.contains("eval("), "{} uses eval", asset.name);
        }
        assert!(has_inline_handler("<a onclick=\"x\">"));
        assert!(!has_inline_handler("<p>based on data</p>"));
    }
}
