//! `/api/config`: `POST /api/config/reload` reloads the configuration file now, through the
//! runtime every front door reads (`/v1`, `/api`, `/mcp` see the result at once), and answers
//! what changed, or `422 invalid_config` with the file, the dotted key and the reason (the
//! running configuration stays).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fusion_core::runtime::ReloadReport;

use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/config/reload", post(reload))
}

async fn reload(State(state): State<AppState>) -> Result<Json<ReloadReport>, ApiError> {
    state
        .runtime()
        .reload_because("POST /api/config/reload")
        .await
        .map(Json)
        .map_err(|rejected| ApiError::invalid_config(&rejected))
}
