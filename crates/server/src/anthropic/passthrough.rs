//! `/v1/messages` to a model whose provider speaks Messages natively: the client's body (its
//! `model` replaced by the upstream's id, in the registry) goes to the provider as written, and
//! the answer comes back as the upstream wrote it, a stream relayed piece by piece. A stream
//! that fails midway ends with an Anthropic `error` event.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fusion_core::providers::RawBody;
use futures::StreamExt;
use serde_json::Value;

use super::error::MessagesError;
use crate::AppState;

pub(super) async fn relay(
    state: &AppState,
    model: &str,
    body: &[u8],
    forward: &[(String, String)],
) -> Result<Response, MessagesError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| MessagesError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let answer = state
        .registry()
        .messages_passthrough(model, value, forward)
        .await
        .map_err(MessagesError::from_core)?;
    let streamed = matches!(answer.body, RawBody::Stream(_));
    let body = match answer.body {
        RawBody::Whole(bytes) => Body::from(bytes),
        RawBody::Stream(pieces) => Body::from_stream(pieces.map(|piece| {
            Ok::<_, Infallible>(match piece {
                Ok(bytes) => bytes,
                Err(err) => error_event(err),
            })
        })),
    };
    let mut response = body.into_response();
    let content_type = answer.content_type.unwrap_or_else(|| {
        if streamed {
            "text/event-stream".to_owned()
        } else {
            "application/json".to_owned()
        }
    });
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    Ok(response)
}

/// An `error` event ending a relayed stream (after a blank line, in case the upstream stopped
/// inside an event).
fn error_event(err: fusion_core::Error) -> Bytes {
    let body = MessagesError::from_core(err).body();
    Bytes::from(format!("\n\nevent: error\ndata: {body}\n\n"))
}
