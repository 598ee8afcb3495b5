//! Fusion's HTTP front door: `app(state)` builds the whole axum surface — the OpenAI-compatible
//! API (chat, Responses, embeddings, completions) and Anthropic's Messages API under `/v1`,
//! MCP Streamable HTTP at `/mcp`, the REST API under `/api` (usage, models, tasks and their
//! event stream, config reload), `/health`,
//! `/ready` and `/metrics`, and the dashboard's pages (`/`, `/ui/...`: shells and assets, served
//! without a key) — behind the browser guard (`Host`, `Origin`, JSON bodies), and `serve` runs
//! it with TCP_NODELAY, connection limits and timeouts, and graceful shutdown. Handlers are
//! thin: they read the core's runtime, and every model call goes through its registry.

mod answer_lines;
mod anthropic;
mod api;
mod auth;
mod config;
mod dashboard;
mod dashboard_api;
mod error;
mod guard;
mod health;
mod keys;
mod mcp;
mod mcp_servers;
mod metrics;
mod openai;
mod responses;
mod serve;
mod state;
mod tasks;

use axum::Router;
use axum::routing::get;

pub use error::ApiError;
pub use keys::{MIN_KEY_CHARS, keys_from_env};
pub use metrics::prometheus;
pub use serve::{check_exposure, run};
pub use state::AppState;

/// Parses and checks a `POST /v1/chat/completions` body exactly as the handler does (the entry
/// point of the `openai_request` fuzz target).
pub fn parse_chat_request(body: &[u8]) -> Result<fusion_types::ChatRequest, ApiError> {
    openai::parse_request(body)
}

/// The whole HTTP surface. Tests call it with `tower::ServiceExt::oneshot`, no socket needed.
pub fn app(state: AppState) -> Router {
    let mcp = Router::new()
        .route_service("/mcp", mcp::service(&state))
        .layer(axum::middleware::from_fn(mcp::parse_errors))
        .layer(axum::middleware::from_fn(mcp::ended_sessions));
    let protected = openai::routes()
        .merge(anthropic::routes())
        .merge(responses::routes())
        .merge(api::routes())
        .merge(dashboard_api::routes())
        .merge(config::routes())
        .merge(mcp_servers::routes())
        .merge(tasks::routes())
        .route("/metrics", get(metrics::render))
        .merge(mcp)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .merge(protected)
        .merge(dashboard::routes())
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// A bug must not cost the client its connection: a panic becomes an OpenAI-shaped 500.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::error!("a request handler panicked; answered 500");
    ApiError::internal("internal error in Fusion (see its log)").into_response()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_openai_shape() {
        let router: Router = Router::new()
            .route("/boom", get(boom))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
        let response = router
            .oneshot(
                axum::http::Request::get("/boom")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
    }
}
