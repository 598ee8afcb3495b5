//! Fusion's HTTP front door: `app(state)` builds the whole axum surface — the OpenAI-compatible
//! API under `/v1`, `/health`, `/ready` and `/metrics` — and `serve` runs it with TCP_NODELAY and
//! graceful shutdown. Handlers are thin: every model call goes through the core's registry.

mod auth;
mod error;
mod health;
mod metrics;
mod openai;
mod serve;
mod state;

use axum::Router;
use axum::routing::get;

pub use error::ApiError;
pub use metrics::prometheus;
pub use serve::{check_exposure, run};
pub use state::AppState;

/// The whole HTTP surface. Tests call it with `tower::ServiceExt::oneshot`, no socket needed.
pub fn app(state: AppState) -> Router {
    let protected = openai::routes()
        .route("/metrics", get(metrics::render))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .merge(protected)
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}
