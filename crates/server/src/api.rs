//! The REST API under `/api` that scripts and the dashboard share: `GET /api/usage` (the usage
//! ledger's report; filters `since` as a duration such as `24h`, `model`, `provider`, `caller`;
//! with its `savings` against the dearest model used) and `GET /api/models` (every known
//! provider and model with its health, its circuit, and its quality per category as the router
//! sees it — measured, blended or prior).

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use fusion_core::config::Category;
use fusion_core::router::{Health, ModelView, quality_estimate};
use fusion_core::store::{Caller, UsageFilter, now_ms};
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
) -> Result<Json<Value>, ApiError> {
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
    let report = ledger.store().usage_report(&filter).await?;
    let savings = crate::dashboard_api::savings(&report, &registry);
    let mut body = json!(report);
    body["savings"] = json!(savings);
    Ok(Json(body))
}

async fn models(State(state): State<AppState>) -> Json<Value> {
    let registry = state.registry();
    let (providers, models) = registry.status();
    let views = registry.model_views();
    let reliable_after = registry.router_config().reliable_after;
    let models: Vec<Value> = models
        .iter()
        .map(|status| {
            let mut model = json!(status);
            model["circuit"] = json!(circuit(&status.health));
            if let Some(view) = views.iter().find(|v| v.id == status.entry.id) {
                model["quality_by_category"] = quality_by_category(view, reliable_after);
            }
            model
        })
        .collect();
    Json(json!({ "providers": providers, "models": models }))
}

/// The model's circuit breaker: `open` (out of routing until its cooldown ends), `half_open`
/// (one trial call allowed) or `closed`.
fn circuit(health: &Health) -> &'static str {
    match health {
        Health::CircuitOpen { .. } => "open",
        Health::HalfOpen => "half_open",
        _ => "closed",
    }
}

/// Per category, the quality the router would use and where it comes from:
/// `{"code": {"quality": 0.8, "source": "measured", "n": 40}, ...}` (`blended` adds the
/// `measured` mean and the `prior`).
fn quality_by_category(view: &ModelView, reliable_after: u32) -> Value {
    let mut out = serde_json::Map::new();
    for category in Category::ALL {
        let estimate = quality_estimate(view, category, reliable_after);
        let mut entry = json!({ "quality": estimate.quality });
        if let (Some(entry), Value::Object(source)) =
            (entry.as_object_mut(), json!(estimate.source))
        {
            entry.extend(source);
        }
        out.insert(category.as_str().to_owned(), entry);
    }
    Value::Object(out)
}
