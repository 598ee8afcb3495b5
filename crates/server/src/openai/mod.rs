//! The OpenAI-compatible API: `POST /v1/chat/completions` (a configured model passed through to
//! its provider, `fusion/<council>`, `router/*`, or `fusion` / `local/fusion` for the default
//! council; a client's own model name through `[aliases]`), and `GET /v1/models`. Request
//! parsing and validation live in `request`, streamed relays in `stream`, councils in
//! `council`, the aliases in `alias`.

mod alias;
mod council;
mod models;
mod request;
mod routed;
mod stream;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use fusion_core::providers::as_caller;
use fusion_core::store::Caller;
use fusion_types::ChatRequest;

use crate::{ApiError, AppState};

pub(crate) use alias::resolve as resolve_model;
pub(crate) use request::{parse as parse_request, read_body};

/// Model names with this prefix run a council.
pub(crate) const COUNCIL_PREFIX: &str = "fusion/";
/// Model names of the default council (the one named `default`, or the only one):
/// Fusion's own, and the council project's `local/fusion`.
pub(crate) const DEFAULT_COUNCIL_IDS: [&str; 2] = ["fusion", "local/fusion"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models::list))
}

/// Every model call made for the request is attributed to the HTTP front door.
async fn chat_completions(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    as_caller(Caller::Http, complete(state, request)).await
}

async fn complete(state: AppState, request: Request) -> Result<Response, ApiError> {
    let body = request::read_body(request, state.config().server.max_body_bytes).await?;
    let chat = request::parse(&body)?;
    dispatch(state, chat).await
}

/// Answers a checked chat request as `/v1/chat/completions` does: a JSON completion, or an SSE
/// stream of chunks when `stream` is set. The other wires (`/v1/messages`, `/v1/responses`)
/// translate into and out of this one door.
pub(crate) async fn dispatch(state: AppState, mut chat: ChatRequest) -> Result<Response, ApiError> {
    chat.model = alias::resolve(&state, &chat.model)?;
    if DEFAULT_COUNCIL_IDS.contains(&chat.model.as_str()) {
        let council = state
            .config()
            .pick_council(None)
            .map_err(|e| ApiError::unknown_model(format!("`{}`: {e}", chat.model)))?
            .to_owned();
        return council::complete(state, &council, chat).await;
    }
    if let Some(council) = chat.model.strip_prefix(COUNCIL_PREFIX) {
        let council = council.to_owned();
        return council::complete(state, &council, chat).await;
    }
    if let Some(name) = chat.model.strip_prefix(routed::ROUTER_PREFIX) {
        let name = name.to_owned();
        return routed::complete(state, &name, chat).await;
    }
    if chat.stream == Some(true) {
        return stream::relay(&state, chat).await;
    }
    let model = chat.model.clone();
    let completion = state.registry().chat(&model, chat).await?;
    Ok(axum::Json(completion.response).into_response())
}
