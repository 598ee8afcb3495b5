//! Anthropic's Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`, the
//! door Claude Code and the Anthropic SDKs knock on. The client's model name goes through
//! `[aliases]`; a model whose provider speaks Messages (`kind = "anthropic"`) gets the request
//! passed through untouched (`passthrough`), every other target — an OpenAI-compatible model,
//! `fusion/<council>`, `router/*` — gets it translated to chat completions (`to_chat`),
//! answered by the chat door, and translated back (`from_chat`, `events` when streamed).
//! Errors are in Anthropic's shape (`error`); the wire types live in `wire`.

mod error;
mod events;
mod from_chat;
mod passthrough;
mod to_chat;
mod wire;

use std::convert::Infallible;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fusion_core::providers::as_caller;
use fusion_core::store::Caller;
use fusion_types::ChatResponse;
use futures::StreamExt;
use serde_json::json;

use self::error::MessagesError;
use crate::AppState;

/// A translated (non-streamed) chat answer larger than this is refused (an upstream's own
/// answers are bounded by its `max_response_bytes` long before).
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;
/// Headers of the client's passed on to an Anthropic upstream.
const FORWARDED: [&str; 2] = ["anthropic-version", "anthropic-beta"];
/// The router's decision header, kept on a translated answer.
const ROUTE_HEADER: &str = "x-fusion-route";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
}

/// Every model call made for the request is attributed to the HTTP front door.
async fn messages(State(state): State<AppState>, request: Request) -> Response {
    as_caller(Caller::Http, async move {
        answer(state, request)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

async fn answer(state: AppState, request: Request) -> Result<Response, MessagesError> {
    let forward = forwarded(request.headers());
    let limit = state.config().server.max_body_bytes;
    let body = crate::openai::read_body(request, limit).await?;
    let parsed = wire::parse(&body)?;
    if parsed.max_tokens.is_none() {
        return Err(MessagesError::invalid("max_tokens: Field required"));
    }
    let target = crate::openai::resolve_model(&state, &parsed.model)?;
    if state.registry().speaks_messages(&target) {
        return passthrough::relay(&state, &target, &body, &forward).await;
    }
    let asked = parsed.model.clone();
    let stop_sequences = parsed.stop_sequences.clone().unwrap_or_default();
    let translated = to_chat::to_chat(parsed, target);
    if !translated.dropped.is_empty() {
        tracing::debug!(model = %asked, target = %translated.chat.model,
            dropped = ?translated.dropped, "/v1/messages: fields the target cannot honour were dropped");
    }
    let streamed = translated.chat.stream == Some(true);
    let response = crate::openai::dispatch(state, translated.chat).await?;
    let route = response.headers().get(ROUTE_HEADER).cloned();
    let mut answer = if streamed {
        let events = events::translate(response.into_body(), asked, stop_sequences);
        Sse::new(events.map(Ok::<_, Infallible>))
            .keep_alive(KeepAlive::default())
            .into_response()
    } else {
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| {
                MessagesError::from(crate::ApiError::internal(format!(
                    "reading the chat answer: {e}"
                )))
            })?;
        let chat: ChatResponse = serde_json::from_slice(&bytes).map_err(|e| {
            MessagesError::from(crate::ApiError::internal(format!(
                "the chat answer is not a chat completion: {e}"
            )))
        })?;
        axum::Json(from_chat::to_messages(chat, &asked, &stop_sequences)).into_response()
    };
    if let Some(route) = route {
        answer.headers_mut().insert(ROUTE_HEADER, route);
    }
    Ok(answer)
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}` by Fusion's estimator over the
/// translated prompt and tool definitions (counted off the async worker when large).
async fn count_tokens(State(state): State<AppState>, request: Request) -> Response {
    count(state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn count(state: AppState, request: Request) -> Result<Response, MessagesError> {
    let limit = state.config().server.max_body_bytes;
    let body = crate::openai::read_body(request, limit).await?;
    let parsed = wire::parse(&body)?;
    let target = crate::openai::resolve_model(&state, &parsed.model)?;
    let chat = to_chat::to_chat(parsed, target).chat;
    let tools = chat.tools.as_ref().map(ToString::to_string);
    let bytes =
        fusion_core::tokens::message_bytes(&chat.messages) + tools.as_ref().map_or(0, String::len);
    let tokens = fusion_core::cpu::sized(bytes, move || {
        fusion_core::tokens::estimate_messages(&chat.messages)
            + tools
                .as_deref()
                .map_or(0, fusion_core::tokens::estimate_text)
    })
    .await;
    Ok(axum::Json(json!({ "input_tokens": tokens })).into_response())
}

/// Whether `path` is one of this door's: its errors are answered in Anthropic's shape.
pub(crate) fn serves(path: &str) -> bool {
    path == "/v1/messages" || path.starts_with("/v1/messages/")
}

/// The 401 for a missing or wrong key, in Anthropic's shape (`authentication_error`).
pub(crate) fn unauthorized() -> Response {
    let api = crate::ApiError::unauthorized();
    let mut err = MessagesError::from(api);
    err.set_message(
        "missing or invalid API key: send `x-api-key: <key>` (or `Authorization: Bearer <key>`) \
         with a key from server.api_keys_env",
    );
    err.into_response()
}

/// The client's headers an Anthropic upstream needs (the API version, beta features).
fn forwarded(headers: &HeaderMap) -> Vec<(String, String)> {
    FORWARDED
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect()
}
