//! Relaying a streamed completion: each upstream chunk is sent on as an SSE `data:` event the
//! moment it arrives, then `data: [DONE]`. An upstream failure mid-stream becomes a final
//! `data: {"error": ...}` event (what OpenAI clients raise as an API error), with no `[DONE]`.
//! Dropping the response (the client went away) drops the upstream stream and its connection.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fusion_types::ChatRequest;
use futures::{Stream, StreamExt};
use serde::Serialize;

use crate::{ApiError, AppState};

pub async fn relay(state: &AppState, chat: ChatRequest) -> Result<Response, ApiError> {
    let model = chat.model.clone();
    let chunks = state.registry().chat_stream(&model, chat).await?;
    let events = futures::stream::unfold(Some(chunks), |chunks| async move {
        let mut chunks = chunks?;
        Some(match chunks.next().await {
            Some(Ok(chunk)) => (data(&chunk), Some(chunks)),
            Some(Err(err)) => (error_event(err.into()), None),
            None => (done(), None),
        })
    });
    Ok(sse(events))
}

/// An SSE response with keep-alive comments while the upstream is quiet.
pub fn sse(events: impl Stream<Item = Event> + Send + 'static) -> Response {
    Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A `data:` event carrying `value` as JSON.
pub fn data<T: Serialize>(value: &T) -> Event {
    match serde_json::to_string(value) {
        Ok(json) => Event::default().data(json),
        Err(e) => error_event(ApiError::bad_request(
            format!("cannot encode chunk: {e}"),
            None,
        )),
    }
}

pub fn error_event(err: ApiError) -> Event {
    Event::default().data(err.body().to_string())
}

pub fn done() -> Event {
    Event::default().data("[DONE]")
}
