//! `GET /v1/models`: every known model (configured, discovered, synced), the router's
//! `router/<priority>` names, `fusion` when there is a default council, then every council as
//! `fusion/<name>`. (`local/fusion` is accepted as well but not listed.)

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{COUNCIL_PREFIX, DEFAULT_COUNCIL_IDS};
use crate::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let models =
        state.registry().models().into_iter().map(
            |m| json!({ "id": m.id, "object": "model", "created": 0, "owned_by": m.provider }),
        );
    let config = state.config();
    let default = config
        .pick_council(None)
        .ok()
        .map(|_| json!({ "id": DEFAULT_COUNCIL_IDS[0], "object": "model", "created": 0, "owned_by": "fusion" }));
    let councils = default.into_iter().chain(config.councils.keys().map(|name| {
        json!({ "id": format!("{COUNCIL_PREFIX}{name}"), "object": "model", "created": 0, "owned_by": "fusion" })
    }));
    let routers = ["auto", "cost", "balanced", "quality", "speed"].map(|p| {
        json!({ "id": format!("router/{p}"), "object": "model", "created": 0, "owned_by": "fusion" })
    });
    Json(
        json!({ "object": "list", "data": models.chain(routers).chain(councils).collect::<Vec<_>>() }),
    )
}
