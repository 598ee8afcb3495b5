//! The REST API under `/api` that scripts and the dashboard share: `GET /api/usage` (the usage
//! ledger's report; filters `since` as a duration such as `24h`, `model`, `provider`, `caller`)
//! and `GET /api/models` (every known provider and model with its health).

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use fusion_core::store::{Caller, UsageFilter, UsageReport, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/usage", get(usage))
        .route("/api/models", get(models))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    since: Option<String>,
    model: Option<String>,
    provider: Option<String>,
    caller: Option<String>,
}

async fn usage(
    State(state): State<AppState>,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UsageReport>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text()), None))?;
    let since_ms = match &query.since {
        None => None,
        Some(text) => {
            let span = humantime::parse_duration(text).map_err(|e| {
                ApiError::bad_request(
                    format!("`since`: `{text}` is not a duration like 24h or 7d ({e})"),
                    Some("since".into()),
                )
            })?;
            Some(now_ms() - i64::try_from(span.as_millis()).unwrap_or(i64::MAX))
        }
    };
    let caller = match &query.caller {
        None => None,
        Some(text) => Some(Caller::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                format!("`caller`: `{text}` is not one of cli, http, mcp, task"),
                Some("caller".into()),
            )
        })?),
    };
    let registry = state.registry();
    let Some(ledger) = registry.ledger() else {
        return Err(ApiError::unavailable(
            "this server runs without a store: no usage is recorded",
        ));
    };
    let filter = UsageFilter {
        since_ms,
        until_ms: None,
        caller,
        provider: query.provider,
        model: query.model,
    };
    // Rows still queued for the writer belong in the report.
    ledger.flush().await?;
    Ok(Json(ledger.store().usage_report(&filter).await?))
}

async fn models(State(state): State<AppState>) -> Json<Value> {
    let (providers, models) = state.registry().status();
    Json(json!({ "providers": providers, "models": models }))
}
