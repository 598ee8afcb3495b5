//! `GET /v1/models`: every known model (configured, discovered, synced), the router's
//! `router/<priority>` names, then every council as `fusion/<name>`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::COUNCIL_PREFIX;
use crate::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let models =
        state.registry().models().into_iter().map(
            |m| json!({ "id": m.id, "object": "model", "created": 0, "owned_by": m.provider }),
        );
    let config = state.config();
    let councils = config.councils.keys().map(|name| {
        json!({ "id": format!("{COUNCIL_PREFIX}{name}"), "object": "model", "created": 0, "owned_by": "fusion" })
    });
    let routers = ["auto", "cost", "balanced", "quality", "speed"].map(|p| {
        json!({ "id": format!("router/{p}"), "object": "model", "created": 0, "owned_by": "fusion" })
    });
    Json(
        json!({ "object": "list", "data": models.chain(routers).chain(councils).collect::<Vec<_>>() }),
    )
}
