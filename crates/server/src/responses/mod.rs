//! OpenAI's Responses API — the door Codex and the `openai` SDKs' `responses.create` knock on —
//! and the other raw OpenAI endpoints: `POST /v1/responses`, `GET /v1/responses/{id}`,
//! `POST /v1/embeddings`, `POST /v1/completions`. The client's model name goes through
//! `[aliases]`. A model whose provider speaks Responses (`responses = true`) gets the body
//! passed through (`passthrough`); every other target — any model, `fusion/<council>`,
//! `router/*` — gets it translated to chat completions (`to_chat`), answered by the chat door
//! (`openai::dispatch`) and translated back (`from_chat`, `events` when streamed). A response
//! is stored (`store`, true by default as in OpenAI's API) with the conversation it answered,
//! so `previous_response_id` continues it. Errors are in OpenAI's shape.

mod events;
mod from_chat;
mod passthrough;
mod to_chat;

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fusion_core::providers::{RawPath, as_caller};
use fusion_core::store::{Caller, Store, StoredResponse, now_ms};
use fusion_types::ChatResponse;
use futures::{Stream, StreamExt};
use serde_json::Value;

use self::events::{Named, Translator};
use self::from_chat::Shell;
use crate::answer_lines::Lines;
use crate::{ApiError, AppState};

/// A translated (non-streamed) chat answer larger than this is refused (an upstream's own
/// answers are bounded by its `max_response_bytes` long before).
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;
/// The router's decision header, kept on a translated answer.
const ROUTE_HEADER: &str = "x-fusion-route";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/responses", post(create))
        .route("/v1/responses/{id}", get(retrieve))
        .route("/v1/embeddings", post(passthrough::embeddings))
        .route("/v1/completions", post(passthrough::completions))
}

/// Every model call made for the request is attributed to the HTTP front door.
async fn create(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    as_caller(Caller::Http, answer(state, request)).await
}

/// The body as a JSON object.
fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the request body is not valid JSON: {e}"), None)
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
            None,
        ));
    }
    Ok(value)
}

/// The request's non-empty `model`.
fn model_of(body: &Value) -> Result<&str, ApiError> {
    body.get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("`model` must be a non-empty string", Some("model".into()))
        })
}

async fn answer(state: AppState, request: Request) -> Result<Response, ApiError> {
    let limit = state.config().server.max_body_bytes;
    let bytes = crate::openai::read_body(request, limit).await?;
    let body = parse_object(&bytes)?;
    let asked = model_of(&body)?.to_owned();
    let target = crate::openai::resolve_model(&state, &asked)?;
    if state.registry().speaks_responses(&target) {
        return passthrough::relay(&state, &target, RawPath::Responses, body).await;
    }
    let mut items = previous_conversation(&state, &body).await?;
    items.extend(to_chat::input_items(&body)?);
    let translated = to_chat::to_chat(&body, &items, target)?;
    if !translated.dropped.is_empty() {
        tracing::debug!(model = %asked, target = %translated.chat.model,
            dropped = ?translated.dropped, "/v1/responses: fields the target cannot honour were dropped");
    }
    let saver = saver(&state, &body, &asked, items);
    let shell = Shell::new(&body, &asked);
    let streamed = translated.chat.stream == Some(true);
    let prompt_estimate = translated
        .chat
        .messages
        .iter()
        .map(|m| m.text_len() as u64)
        .sum::<u64>()
        .div_ceil(4);
    let response = crate::openai::dispatch(state, translated.chat).await?;
    let route = response.headers().get(ROUTE_HEADER).cloned();
    let mut answer = if streamed {
        let translator = Translator::new(shell, prompt_estimate);
        let events = translate(response.into_body(), translator, saver);
        Sse::new(events.map(Ok::<_, Infallible>))
            .keep_alive(KeepAlive::default())
            .into_response()
    } else {
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| ApiError::internal(format!("reading the chat answer: {e}")))?;
        let chat: ChatResponse = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::internal(format!("the chat answer is not a chat completion: {e}"))
        })?;
        let object = from_chat::to_response(&chat, &shell);
        if let Some(saver) = &saver {
            saver.save(&object).await;
        }
        axum::Json(object).into_response()
    };
    if let Some(route) = route {
        answer.headers_mut().insert(ROUTE_HEADER, route);
    }
    Ok(answer)
}

/// The stored conversation `previous_response_id` continues (its input items, then its
/// output), or nothing when the request names none; a 400 when that response is not stored.
async fn previous_conversation(state: &AppState, body: &Value) -> Result<Vec<Value>, ApiError> {
    let Some(previous) = body.get("previous_response_id").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let not_found = |why: &str| {
        ApiError::bad_request(
            format!("Previous response {previous} not found: {why}"),
            Some("previous_response_id".into()),
        )
        .code("previous_response_not_found")
    };
    let Some(id) = previous.as_str() else {
        return Err(not_found("`previous_response_id` must be a string"));
    };
    let Some(store) = state.runtime().store() else {
        return Err(not_found(
            "Fusion runs without a store, so no response is stored",
        ));
    };
    let Some(stored) = store.stored_response(id).await? else {
        return Err(not_found(
            "it was never stored (sent with store: false, answered by a Responses provider that \
             keeps its own, or pruned: Fusion keeps the newest 1000)",
        ));
    };
    let mut items = match stored.input {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    if let Some(output) = stored.response["output"].as_array() {
        items.extend(output.iter().cloned());
    }
    Ok(items)
}

/// Writes a finished response with its conversation to the store.
struct Saver {
    store: Store,
    model: String,
    input: Vec<Value>,
}

impl Saver {
    /// Stores `response` (a failure is logged: the client still gets its answer).
    async fn save(&self, response: &Value) {
        let row = StoredResponse {
            id: response["id"].as_str().unwrap_or_default().to_owned(),
            at_ms: now_ms(),
            model: self.model.clone(),
            input: Value::Array(self.input.clone()),
            response: response.clone(),
        };
        if let Err(err) = self.store.insert_response(&row).await {
            tracing::warn!(id = %row.id, error = %err, "/v1/responses: the response was not stored");
        }
    }
}

/// A saver when the request asks to store (`store` defaults to true) and there is a store.
fn saver(state: &AppState, body: &Value, model: &str, input: Vec<Value>) -> Option<Saver> {
    if body.get("store").and_then(Value::as_bool) == Some(false) {
        return None;
    }
    let Some(store) = state.runtime().store() else {
        tracing::debug!("/v1/responses: no store, the response is not stored");
        return None;
    };
    Some(Saver {
        store: store.clone(),
        model: model.to_owned(),
        input,
    })
}

/// `GET /v1/responses/{id}`: a stored response, else 404.
async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let stored = match state.runtime().store() {
        Some(store) => store.stored_response(&id).await?,
        None => None,
    };
    match stored {
        Some(stored) => Ok(axum::Json(stored.response).into_response()),
        None => Err(ApiError::not_found(format!(
            "no stored response with id `{id}` (responses sent with store: false are not kept, \
             and Fusion keeps the newest 1000)"
        ))),
    }
}

/// The Responses events for a chat SSE `body`, as each chunk arrives; the finished response
/// is stored (when `saver` is given) before `response.completed` is sent.
fn translate(
    body: Body,
    mut translator: Translator,
    saver: Option<Saver>,
) -> impl Stream<Item = Event> + Send + 'static {
    let queued: VecDeque<Named> = translator.start().into();
    let state = StreamState {
        body: body.into_data_stream(),
        lines: Lines::default(),
        translator,
        queued,
        saver,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some((name, data)) = state.queued.pop_front() {
                if matches!(name, "response.completed" | "response.incomplete")
                    && let Some(saver) = state.saver.take()
                {
                    saver.save(&data["response"]).await;
                }
                let event = Event::default().event(name).data(data.to_string());
                return Some((event, state));
            }
            if state.translator.ended {
                return None;
            }
            let events = match state.body.next().await {
                Some(Ok(bytes)) => match state.lines.feed(&bytes) {
                    Ok(lines) => lines
                        .iter()
                        .flat_map(|line| state.translator.on_line(line))
                        .collect(),
                    Err(message) => state.translator.fail(&message),
                },
                Some(Err(e)) => state
                    .translator
                    .fail(&format!("the answer stream broke: {e}")),
                None => state
                    .translator
                    .fail("the answer stream ended before it was complete"),
            };
            state.queued.extend(events);
        }
    })
}

struct StreamState {
    body: axum::body::BodyDataStream,
    lines: Lines,
    translator: Translator,
    queued: VecDeque<Named>,
    saver: Option<Saver>,
}
