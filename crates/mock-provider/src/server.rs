//! The HTTP surface: `POST /v1/chat/completions` (records the request, then plays the model's
//! script — a text or OpenAI tool calls — stating its rate limit in OpenRouter's headers when it has one), the model listings
//! and local servers' metadata endpoints (in `metadata`), minimal embeddings, completions and
//! Responses endpoints (in `raw`), `GET /health`, and the errors for requests it cannot serve.

use std::{
    borrow::Cow,
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::StreamExt;
use serde_json::Value;

use crate::{
    RecordedRequest,
    conn::ConnHandle,
    metadata,
    reply::{Answer, Prompt, prompt_words, render},
    script::{Failure, ModelScript, RateLimit},
    state::{Shared, unix_now},
    stream::{self, StreamPlan, pause},
    wire::{self, ApiError, Choice, Completion, JSON, Message, Usage},
};

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// What a `Failure::Malformed` non-streaming call answers: a truncated completion.
const MALFORMED_JSON: &[u8] =
    br#"{"id":"chatcmpl-mock-malformed","object":"chat.completion","choices": ["#;

/// What a `Failure::Malformed` streaming call answers: an event whose JSON is cut off.
const MALFORMED_SSE: &[u8] = b"data: {\"id\":\"chatcmpl-mock-malformed\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"trunc\n\ndata: [DONE]\n\n";

/// The whole HTTP surface over `shared`. Serve it with
/// `into_make_service_with_connect_info::<ConnHandle>()` so `Failure::Reset` can reach the
/// socket.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(metadata::list_models))
        .route("/api/tags", get(metadata::list_tags))
        .route("/api/show", post(metadata::show))
        .route("/api/v0/models", get(metadata::lm_studio_models))
        .route("/props", get(metadata::props))
        .route("/health", get(health))
        .route("/v1/embeddings", post(crate::raw::embeddings))
        .route("/v1/completions", post(crate::raw::completions))
        .route("/v1/responses", post(crate::raw::responses))
        .with_state(shared)
}

async fn health() -> &'static str {
    "ok"
}

/// The fields of a chat request the mock reads; borrowed from the parsed body.
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Value],
    stream: bool,
    include_usage: bool,
}

impl<'a> ChatRequest<'a> {
    fn from_json(body: &'a Value) -> Result<Self, RequestError> {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .ok_or(RequestError::MissingModel)?;
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or(RequestError::MissingMessages)?;
        let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        Ok(Self {
            model,
            messages,
            stream,
            include_usage,
        })
    }
}

async fn chat_completions(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let received_at = Instant::now();
    let in_flight = shared.enter();
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(err) => return RequestError::Body(err.to_string()).into_response(),
    };
    let parsed = serde_json::from_slice::<Value>(&bytes);
    if shared.is_recording() {
        shared.record(record(&parts.headers, &parsed, &bytes, received_at));
    }
    let body = match parsed {
        Ok(body) => body,
        Err(err) => return RequestError::InvalidJson(err).into_response(),
    };
    let request = match ChatRequest::from_json(&body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    let active = shared.active();
    let Some((script, call)) = active.begin_call(request.model) else {
        return RequestError::UnknownModel(request.model.to_owned()).into_response();
    };
    tracing::debug!(
        model = request.model,
        stream = request.stream,
        call,
        "chat request"
    );
    let Some(limit) = script.rate_limit else {
        return play(&shared, script, call, &request, &parts, in_flight).await;
    };
    let stated = Stated::new(limit, call, shared.started);
    let mut response = if stated.exceeded {
        let message = if limit.window_secs >= 86_400 {
            "Rate limit exceeded: free-models-per-day. Add credits to unlock more requests per day"
        } else {
            "Rate limit exceeded: requests per window"
        };
        let (kind, code) = wire::error_kind(StatusCode::TOO_MANY_REQUESTS);
        ApiError {
            message,
            kind,
            param: None,
            code,
        }
        .into_response(StatusCode::TOO_MANY_REQUESTS, None)
    } else {
        play(&shared, script, call, &request, &parts, in_flight).await
    };
    stated.write(response.headers_mut());
    response
}

/// What OpenRouter's rate-limit headers say after the call with 0-based index `call`.
struct Stated {
    limit: u64,
    remaining: u64,
    reset_ms: u64,
    exceeded: bool,
}

impl Stated {
    fn new(limit: RateLimit, call: u64, started: u64) -> Self {
        Self {
            limit: limit.limit,
            remaining: limit.limit.saturating_sub(call + 1),
            reset_ms: started
                .saturating_add(limit.window_secs)
                .saturating_mul(1000),
            exceeded: call >= limit.limit,
        }
    }

    fn write(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("x-ratelimit-limit", self.limit),
            ("x-ratelimit-remaining", self.remaining),
            ("x-ratelimit-reset", self.reset_ms),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

/// Plays the model's script for one call: its failure, or its answer.
async fn play(
    shared: &Shared,
    script: &ModelScript,
    call: u64,
    request: &ChatRequest<'_>,
    parts: &axum::http::request::Parts,
    in_flight: crate::state::InFlight,
) -> Response {
    if let Some(failure) = script.failure_for_call(call) {
        let conn = parts
            .extensions
            .get::<ConnectInfo<ConnHandle>>()
            .map(|ConnectInfo(conn)| conn);
        return play_failure(shared, failure, script, request, conn).await;
    }

    let prompt = Prompt::from_messages(request.messages);
    let answer = render(&script.reply, call, &prompt, request.model);
    let usage = script
        .usage
        .then(|| Usage::new(prompt_words(request.messages), answer.words()));
    let id = shared.next_id();
    let created = unix_now();
    let latency = Duration::from_millis(script.latency_ms);
    let (text, tool_calls) = match answer {
        Answer::Text(text) => (text, Vec::new()),
        Answer::ToolCalls(calls) => (Cow::Borrowed(""), wire::ToolCall::from_script(&id, calls)),
    };

    if request.stream {
        return stream::response(StreamPlan {
            id,
            created,
            model: request.model.to_owned(),
            text: text.into_owned(),
            tool_calls,
            usage,
            include_usage: request.include_usage,
            first_delay: latency,
            chunk_delay: Duration::from_millis(script.chunk_delay_ms),
            cut_after: script.cut_after_chunks,
            chunk_words: script.chunk_words,
            shutdown: shared.shutdown.clone(),
            _in_flight: in_flight,
        });
    }

    if !pause(latency, &shared.shutdown).await {
        return shutting_down();
    }
    let (message, finish_reason) = if tool_calls.is_empty() {
        let message = Message {
            role: "assistant",
            content: Some(&text),
            tool_calls: None,
        };
        (message, "stop")
    } else {
        let message = Message {
            role: "assistant",
            content: None,
            tool_calls: Some(&tool_calls),
        };
        (message, "tool_calls")
    };
    let choices = [Choice {
        index: 0,
        message,
        logprobs: None,
        finish_reason,
    }];
    wire::json_response(
        StatusCode::OK,
        &Completion {
            id: &id,
            object: "chat.completion",
            created,
            model: request.model,
            choices: &choices,
            usage,
        },
    )
}

pub(crate) fn record(
    headers: &HeaderMap,
    parsed: &Result<Value, serde_json::Error>,
    bytes: &Bytes,
    received_at: Instant,
) -> RecordedRequest {
    let (model, body) = match parsed {
        Ok(body) => (
            body.get("model")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            body.clone(),
        ),
        Err(_) => (
            String::new(),
            Value::String(String::from_utf8_lossy(bytes).into_owned()),
        ),
    };
    let headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    RecordedRequest {
        model,
        body,
        headers,
        received_at,
    }
}

/// Plays a scripted failure. Latency applies first, except to `Hang`.
async fn play_failure(
    shared: &Shared,
    failure: &Failure,
    script: &ModelScript,
    request: &ChatRequest<'_>,
    conn: Option<&ConnHandle>,
) -> Response {
    if matches!(failure, Failure::Hang) {
        shared.shutdown.cancelled().await;
        return shutting_down();
    }
    if !pause(Duration::from_millis(script.latency_ms), &shared.shutdown).await {
        return shutting_down();
    }
    match failure {
        Failure::Hang => shutting_down(),
        Failure::Status {
            status,
            message,
            retry_after,
        } => {
            let Ok(status) = StatusCode::from_u16(*status) else {
                return server_error("mock script has an invalid HTTP status");
            };
            let (kind, code) = wire::error_kind(status);
            let message = if message.is_empty() {
                status.canonical_reason().unwrap_or("scripted failure")
            } else {
                message
            };
            ApiError {
                message,
                kind,
                param: None,
                code,
            }
            .into_response(status, *retry_after)
        }
        Failure::Malformed if request.stream => stream::fixed_response(MALFORMED_SSE.to_vec()),
        Failure::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, JSON)],
            MALFORMED_JSON,
        )
            .into_response(),
        Failure::EmptyChoices => {
            let id = shared.next_id();
            let created = unix_now();
            if request.stream {
                match stream::empty_choices_event(&id, created, request.model) {
                    Ok(event) => {
                        let mut body = event.to_vec();
                        body.extend_from_slice(stream::done_event());
                        stream::fixed_response(body)
                    }
                    Err(_) => server_error("cannot serialize mock chunk"),
                }
            } else {
                wire::json_response(
                    StatusCode::OK,
                    &Completion {
                        id: &id,
                        object: "chat.completion",
                        created,
                        model: request.model,
                        choices: &[],
                        usage: None,
                    },
                )
            }
        }
        Failure::Endless => {
            let (prefix, content_type): (&'static [u8], _) = if request.stream {
                (
                    b"data: {\"choices\":[{\"delta\":{\"content\":\"",
                    stream::EVENT_STREAM,
                )
            } else {
                (b"{\"choices\":[{\"message\":{\"content\":\"", JSON)
            };
            let filler = Bytes::from(vec![b'a'; 64 * 1024]);
            let shutdown = shared.shutdown.clone();
            let body =
                futures::stream::once(
                    async move { Ok::<_, io::Error>(Bytes::from_static(prefix)) },
                )
                .chain(futures::stream::repeat_with(move || Ok(filler.clone())))
                .take_until(shutdown.cancelled_owned());
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, content_type)],
                Body::from_stream(body),
            )
                .into_response()
        }
        Failure::Reset => match conn {
            Some(conn) => {
                conn.reset();
                // Never written: the connection fails on its next write.
                StatusCode::OK.into_response()
            }
            None => server_error("reset needs a socket: serve with connect info"),
        },
    }
}

fn server_error(message: &str) -> Response {
    ApiError {
        message,
        kind: "server_error",
        param: None,
        code: None,
    }
    .into_response(StatusCode::INTERNAL_SERVER_ERROR, None)
}

fn shutting_down() -> Response {
    ApiError {
        message: "mock provider is shutting down",
        kind: "server_error",
        param: None,
        code: None,
    }
    .into_response(StatusCode::SERVICE_UNAVAILABLE, None)
}

/// A chat request the mock cannot serve, answered with an OpenAI-shaped error.
#[derive(Debug)]
enum RequestError {
    Body(String),
    InvalidJson(serde_json::Error),
    MissingModel,
    MissingMessages,
    UnknownModel(String),
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let invalid = |message: &str, param, code| {
            ApiError {
                message,
                kind: "invalid_request_error",
                param,
                code,
            }
            .into_response(StatusCode::BAD_REQUEST, None)
        };
        match self {
            Self::Body(err) => invalid(&format!("cannot read request body: {err}"), None, None),
            Self::InvalidJson(err) => invalid(
                &format!("We could not parse the JSON body of your request: {err}"),
                None,
                None,
            ),
            Self::MissingModel => invalid(
                "you must provide a model parameter",
                Some("model"),
                Some("missing_required_parameter"),
            ),
            Self::MissingMessages => invalid(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ),
            Self::UnknownModel(model) => ApiError {
                message: &format!(
                    "The model `{model}` does not exist or you do not have access to it."
                ),
                kind: "invalid_request_error",
                param: Some("model"),
                code: Some("model_not_found"),
            }
            .into_response(StatusCode::NOT_FOUND, None),
        }
    }
}
