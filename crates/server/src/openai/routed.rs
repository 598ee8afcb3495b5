//! `router/auto` and `router/<priority>` on `/v1/chat/completions`: the router picks the
//! cheapest adequate model and the call goes through the registry with fallback. The decision
//! travels with the answer: a top-level `fusion` field (non-streamed: in the body; streamed: in
//! the first chunk) and an `x-fusion-route` header naming the model and the priority.
//! Optional hints ride in the request as `"fusion": {"complexity", "category",
//! "expected_output_tokens", "priority"}`. A request the router escalates to a council
//! (`[router.escalate]`) is answered by that council as `fusion/<council>` answers (streamed:
//! its answer in one piece), the council's trace in `fusion.council`.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use fusion_core::config::{Category, Priority};
use fusion_core::providers::Routed;
use fusion_core::router::{Decision, RouteInput};
use fusion_types::ChatRequest;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::stream::{data, done, error_event, sse};
use crate::{ApiError, AppState};

/// Model names with this prefix are routed.
pub(crate) const ROUTER_PREFIX: &str = "router/";

/// The header carrying the route: `MODEL; priority=P`.
pub(crate) const ROUTE_HEADER: &str = "x-fusion-route";

/// Routing hints a client may send in the request's `fusion` field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hints {
    complexity: Option<f64>,
    category: Option<Category>,
    expected_output_tokens: Option<u64>,
    priority: Option<Priority>,
}

pub async fn complete(
    state: AppState,
    name: &str,
    mut chat: ChatRequest,
) -> Result<Response, ApiError> {
    let named = match name {
        "auto" => None,
        other => Some(Priority::parse(other).ok_or_else(|| {
            ApiError::not_found(format!(
                "unknown router model `{ROUTER_PREFIX}{other}`; use router/auto, router/cost, \
                 router/balanced, router/quality or router/speed"
            ))
        })?),
    };
    let hints = match chat.extra.remove("fusion") {
        None => Hints::default(),
        Some(value) => serde_json::from_value::<Hints>(value).map_err(|e| {
            ApiError::bad_request(
                format!("`fusion` routing hints: {e}"),
                Some("fusion".into()),
            )
        })?,
    };
    if let Some(c) = hints.complexity
        && !(0.0..=1.0).contains(&c)
    {
        return Err(ApiError::bad_request(
            "`fusion.complexity` must be between 0 and 1",
            Some("fusion.complexity".into()),
        ));
    }
    let mut input = RouteInput::from_messages_off_worker(&chat.messages).await;
    input.priority = named.or(hints.priority);
    input.complexity = hints.complexity;
    input.category = hints.category;
    input.expected_output_tokens = hints
        .expected_output_tokens
        .or(chat.max_tokens.map(u64::from));
    let registry = state.registry();
    if chat.stream == Some(true) {
        let routed = registry.chat_stream_routed(&input, chat).await?;
        let trace = trace(&routed);
        let header = header(&routed.model, &routed.decision);
        let chunks = routed.value;
        let events = futures::stream::unfold(
            (Some(chunks), Some(trace)),
            |(chunks, mut trace)| async move {
                let mut chunks = chunks?;
                Some(match chunks.next().await {
                    Some(Ok(mut chunk)) => {
                        if let Some(trace) = trace.take() {
                            chunk.extra.insert("fusion".into(), trace);
                        }
                        (data(&chunk), (Some(chunks), trace))
                    }
                    Some(Err(err)) => (error_event(err.into()), (None, None)),
                    None => (done(), (None, None)),
                })
            },
        );
        let mut response = sse(events);
        response.headers_mut().insert(ROUTE_HEADER, header);
        return Ok(response);
    }
    let routed = registry.chat_routed(&input, chat).await?;
    let trace = trace(&routed);
    let header = header(&routed.model, &routed.decision);
    let mut body = routed.value.response;
    body.extra.insert("fusion".into(), trace);
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(ROUTE_HEADER, header);
    Ok(response)
}

/// The `fusion` field: the decision, the model that answered, what failed before it and, when
/// a council answered, its trace.
fn trace<T>(routed: &Routed<T>) -> Value {
    let mut trace = json!({
        "route": routed.decision,
        "model": routed.model,
        "failed": routed.failed,
    });
    if let (Some(council), Some(object)) = (&routed.council, trace.as_object_mut()) {
        object.insert("council".into(), json!(council));
    }
    trace
}

fn header(model: &str, decision: &Decision) -> HeaderValue {
    let text = format!("{model}; priority={}", decision.priority);
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("unprintable"))
}
