//! `GET /v1/models`: every configured model, then every council as `fusion/<name>`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::COUNCIL_PREFIX;
use crate::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let models = state
        .registry()
        .models()
        .map(|m| json!({ "id": m.id, "object": "model", "created": 0, "owned_by": m.provider }));
    let councils = state.config().councils.keys().map(|name| {
        json!({ "id": format!("{COUNCIL_PREFIX}{name}"), "object": "model", "created": 0, "owned_by": "fusion" })
    });
    Json(json!({ "object": "list", "data": models.chain(councils).collect::<Vec<_>>() }))
}
