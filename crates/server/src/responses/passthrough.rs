//! The raw doors: `POST /v1/embeddings` and `POST /v1/completions` (legacy completions, what
//! editors use for fill-in-the-middle) for the resolved model's provider, and `/v1/responses`
//! for a model whose provider speaks Responses (`responses = true`). The client's body goes
//! through the registry (`raw_passthrough`: slot, timeout, retries, ledger) with only `model`
//! replaced, and the answer comes back as the upstream wrote it, a stream relayed piece by
//! piece. A stream that fails midway ends with an error event in the wire's shape.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fusion_core::providers::{RawBody, RawPath, as_caller};
use fusion_core::store::Caller;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::openai::{COUNCIL_PREFIX, DEFAULT_COUNCIL_IDS};
use crate::{ApiError, AppState};

/// `POST /v1/embeddings`.
pub(super) async fn embeddings(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    as_caller(Caller::Http, raw_door(state, request, RawPath::Embeddings)).await
}

/// `POST /v1/completions`.
pub(super) async fn completions(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    as_caller(Caller::Http, raw_door(state, request, RawPath::Completions)).await
}

async fn raw_door(state: AppState, request: Request, path: RawPath) -> Result<Response, ApiError> {
    let limit = state.config().server.max_body_bytes;
    let body = crate::openai::read_body(request, limit).await?;
    let body = super::parse_object(&body)?;
    let model = super::model_of(&body)?;
    let target = crate::openai::resolve_model(&state, model)?;
    if is_composite(&target) {
        return Err(ApiError::bad_request(
            format!(
                "/v1/{} takes a model id; `{target}` is a council or the router, which only \
                 answer chat (/v1/chat/completions, /v1/responses, /v1/messages). Name one of \
                 the models of GET /v1/models",
                path.as_str()
            ),
            Some("model".into()),
        ));
    }
    relay(&state, &target, path, body).await
}

/// A council (`fusion/<name>`, `fusion`, `local/fusion`) or the router (`router/*`).
fn is_composite(target: &str) -> bool {
    DEFAULT_COUNCIL_IDS.contains(&target)
        || target.starts_with(COUNCIL_PREFIX)
        || target.starts_with("router/")
}

/// Passes `body` through to `model`'s provider at `path` and hands its answer back.
pub(super) async fn relay(
    state: &AppState,
    model: &str,
    path: RawPath,
    body: Value,
) -> Result<Response, ApiError> {
    let answer = state
        .registry()
        .raw_passthrough(model, path, body)
        .await
        .map_err(refusal)?;
    let streamed = matches!(answer.body, RawBody::Stream(_));
    let body = match answer.body {
        RawBody::Whole(bytes) => Body::from(bytes),
        RawBody::Stream(pieces) => Body::from_stream(pieces.map(move |piece| {
            Ok::<_, Infallible>(match piece {
                Ok(bytes) => bytes,
                Err(err) => error_event(path, err),
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

/// The upstream's own refusal of the client's body (400, 404, 422) keeps its status and
/// message, as a passthrough should; every other failure is Fusion's usual answer.
fn refusal(err: fusion_core::Error) -> ApiError {
    match err.kind() {
        fusion_core::ErrorKind::UpstreamStatus {
            status: 400 | 422,
            message,
            ..
        } => ApiError::bad_request(message.clone(), None),
        fusion_core::ErrorKind::UpstreamStatus {
            status: 404,
            message,
            ..
        } => ApiError::not_found(message.clone()),
        _ => ApiError::from(err),
    }
}

/// The event ending a relayed stream that failed (after a blank line, in case the upstream
/// stopped inside an event): Responses' `error` event, else an OpenAI `data: {"error": ...}`.
fn error_event(path: RawPath, err: fusion_core::Error) -> Bytes {
    let body = ApiError::from(err).body();
    let text = match path {
        RawPath::Responses => {
            let error = &body["error"];
            let event = json!({"type": "error", "code": error["code"], "message": error["message"],
                "param": error["param"]});
            format!("\n\nevent: error\ndata: {event}\n\n")
        }
        RawPath::Embeddings | RawPath::Completions => format!("\n\ndata: {body}\n\n"),
    };
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn councils_and_the_router_are_composite_and_models_are_not() {
        for target in ["fusion", "local/fusion", "fusion/default", "router/auto"] {
            assert!(is_composite(target), "{target}");
        }
        assert!(!is_composite("qwen-coder"));
    }

    #[test]
    fn an_upstream_refusal_keeps_its_status_and_message() {
        let upstream = |status| {
            fusion_core::Error::from(fusion_core::ErrorKind::UpstreamStatus {
                provider: "p".into(),
                status,
                message: "input too long".into(),
                retry_after: None,
            })
        };
        let err = refusal(upstream(400));
        assert_eq!(err.status(), 400);
        assert_eq!(err.body()["error"]["message"], "input too long");
        assert_eq!(refusal(upstream(404)).status(), 404);
        assert_eq!(
            refusal(upstream(503)).status(),
            ApiError::from(upstream(503)).status()
        );
    }

    #[test]
    fn a_failed_stream_ends_with_an_error_event_in_the_wire_shape() {
        let err = || fusion_core::Error::from(fusion_core::ErrorKind::Invalid("boom".into()));
        let responses = String::from_utf8(error_event(RawPath::Responses, err()).to_vec()).unwrap();
        assert!(responses.contains("event: error\ndata: {"), "{responses}");
        assert!(responses.contains("\"type\":\"error\""));
        let completions =
            String::from_utf8(error_event(RawPath::Completions, err()).to_vec()).unwrap();
        assert!(completions.contains("data: {\"error\":{"), "{completions}");
    }
}
