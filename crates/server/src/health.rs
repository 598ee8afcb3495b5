//! Liveness (`/health`: the process answers; `ok: true` too, as the council project's clients
//! read it; with a store, whether it answers now and how many usage rows were dropped — a store
//! that is down degrades the usage ledger, not the gateway, so the status stays `ok`) and
//! readiness (`/ready`: a configuration is loaded and at least one provider is reachable right
//! now).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `/health` waits for the store to answer.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let mut body = json!({ "status": "ok", "ok": true });
    let registry = state.registry();
    if let Some(ledger) = registry.ledger() {
        let store = ledger.store();
        let mut report = json!({
            "kind": store.kind(),
            "reachable": true,
            "ledger_rows_dropped": ledger.dropped(),
        });
        if let Err(err) = store.ping(STORE_PROBE_TIMEOUT).await {
            report["reachable"] = json!(false);
            report["error"] = json!(err.to_string());
        }
        body["store"] = report;
    }
    Json(body)
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
