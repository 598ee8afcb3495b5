//! Liveness (`/health`: the process answers; `ok: true` too, as the council project's clients
//! read it) and readiness (`/ready`: a configuration is loaded
//! and at least one provider is reachable right now).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "ok": true }))
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let probes = state.registry().probe_all(PROBE_TIMEOUT).await;
    let any_ok = probes.iter().any(|(_, outcome)| outcome.is_ok());
    let providers: Vec<Value> = probes
        .iter()
        .map(|(name, outcome)| match outcome {
            Ok(()) => json!({ "name": name, "reachable": true }),
            Err(err) => json!({ "name": name, "reachable": false, "error": err.to_string() }),
        })
        .collect();
    let status = if any_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if any_ok { "ready" } else { "not_ready" },
        "providers": providers,
    });
    (status, Json(body))
}
