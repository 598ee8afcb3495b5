//! The REST endpoints the dashboard reads besides the task API: council traces
//! (`GET /api/councils`, `GET /api/councils/{id}`), recent routing decisions
//! (`GET /api/decisions`), a routing preview (`POST /api/route`), usage per day
//! (`GET /api/usage/series`; the savings of `GET /api/usage` are computed in `usage` too) and
//! benchmarks (`GET /api/bench/runs`, `/api/bench/stats`, `/api/bench/chart.svg`,
//! `POST /api/bench`). Every listing has a bounded `limit`; bad input is a 400 naming the field.

mod bench;
mod councils;
mod decisions;
mod route;
mod usage;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::routing::{get, post};
use fusion_core::store::{Ledger, now_ms};
use serde::de::DeserializeOwned;

use crate::{ApiError, AppState};

pub(crate) use usage::savings;

/// Rows a listing returns when `limit` is not given.
const DEFAULT_LIMIT: u32 = 50;
/// Rows a listing returns at most.
const MAX_LIMIT: u32 = 500;
/// The longest window a `since` may ask for.
const MAX_SINCE: std::time::Duration = std::time::Duration::from_secs(400 * 86_400);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/councils", get(councils::list))
        .route("/api/councils/{id}", get(councils::show))
        .route("/api/decisions", get(decisions::list))
        .route("/api/route", post(route::preview))
        .route("/api/usage/series", get(usage::series))
        .route("/api/bench", post(bench::start))
        .route("/api/bench/runs", get(bench::runs))
        .route("/api/bench/stats", get(bench::stats))
        .route("/api/bench/chart.svg", get(bench::chart))
}

/// The query, or a 400 that says what is wrong with it (the field, when serde names it).
fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text()), None))
}

/// `limit` checked: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when not given.
fn limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            format!("`limit` must be 1 to {MAX_LIMIT}; got {n}"),
            Some("limit".into()),
        )),
    }
}

/// The start of the window `since` names (a duration back from now, such as `24h` or `7d`, at
/// most 400 days); `default` when not given.
fn since_ms(since: Option<&str>, default: &str) -> Result<i64, ApiError> {
    let text = since.unwrap_or(default);
    let span = humantime::parse_duration(text).map_err(|e| {
        ApiError::bad_request(
            format!("`since`: `{text}` is not a duration like 24h or 7d ({e})"),
            Some("since".into()),
        )
    })?;
    if span > MAX_SINCE {
        return Err(ApiError::bad_request(
            format!("`since`: `{text}` is longer than 400 days"),
            Some("since".into()),
        ));
    }
    Ok(now_ms() - i64::try_from(span.as_millis()).unwrap_or(i64::MAX))
}

/// The registry's usage ledger (and so the store), or a 503 when this server has none.
fn ledger(state: &AppState) -> Result<Ledger, ApiError> {
    state.registry().ledger().cloned().ok_or_else(|| {
        ApiError::unavailable("this server runs without a store: there is no history to show")
    })
}

/// Waits until the history recorded so far is in the store; a writer that is gone only means
/// the listing may miss the latest entries.
async fn flushed(ledger: &Ledger) {
    if let Err(err) = ledger.history().flush().await {
        tracing::warn!("history: {err}");
    }
}

/// A JSON body of type `T` (unknown fields refused), within `server.max_body_bytes`; a 400
/// naming the field at fault otherwise. `expected` shows the shape.
fn json_body<T: DeserializeOwned>(
    state: &AppState,
    body: &Bytes,
    expected: &str,
) -> Result<T, ApiError> {
    let limit = state.config().server.max_body_bytes;
    if body.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let param = (path != ".").then(|| path.clone());
        let at = param
            .as_deref()
            .map_or(String::new(), |p| format!(" at `{p}`"));
        ApiError::bad_request(
            format!("invalid body{at}: {}; expected {expected}", e.inner()),
            param,
        )
    })
}

/// A 400 for `field`.
fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message, Some(field.to_owned()))
}
