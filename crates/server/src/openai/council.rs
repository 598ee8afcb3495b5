//! `fusion/<council>` on the chat API. Non-streamed: the final answer as the message content,
//! usage summed over every call, and the whole council trace in a top-level `fusion` field.
//! Streamed: SSE comment lines (`: fusion {...}`, ignored by OpenAI clients) report progress
//! while the panel and judge work, then the synthesizer's tokens stream as chunks; the last
//! chunk carries the trace in `fusion`. Asked as `local/fusion` (the council project's id), the
//! trace is in `local_fusion`, where that project's clients read it. Dropping the response
//! aborts the council.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use fusion_core::council::{self, CouncilEvent};
use fusion_types::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, CouncilResult, CouncilStatus, Role,
};
use serde_json::{Map, Value, json};
use tokio_util::task::AbortOnDropHandle;

use super::COUNCIL_PREFIX;
use super::stream::{data, done, error_event, sse};
use crate::{ApiError, AppState};

pub async fn complete(
    state: AppState,
    name: &str,
    chat: ChatRequest,
) -> Result<Response, ApiError> {
    let Some(config) = state.config().councils.get(name).cloned() else {
        let known: Vec<String> = state
            .config()
            .councils
            .keys()
            .map(|c| format!("{COUNCIL_PREFIX}{c}"))
            .collect();
        return Err(ApiError::unknown_model(format!(
            "no council named `{name}`; configured councils: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    };
    let prompt = fusion_core::transcript::render(&chat.messages);
    let id = format!("fusion-{}", now_nanos());
    let model = format!("{COUNCIL_PREFIX}{name}");
    let trace_key = if chat.model == super::DEFAULT_COUNCIL_IDS[1] {
        "local_fusion"
    } else {
        "fusion"
    };
    if chat.stream != Some(true) {
        let result = council::run(&state.registry(), name, &config, &prompt, None).await;
        return respond(id, model, trace_key, result);
    }

    let include_usage = chat
        .stream_options
        .as_ref()
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let name = name.to_owned();
    let task = AbortOnDropHandle::new(tokio::spawn(fusion_core::providers::as_caller(
        fusion_core::store::Caller::Http,
        async move {
            council::run_streaming(&state.registry(), &name, &config, &prompt, Some(tx)).await
        },
    )));
    let chunk = ChunkFactory { id, model };
    let events = async_stream(move |mut send| async move {
        send(data(
            &chunk.delta(json!({ "role": "assistant", "content": "" }), None),
        ));
        let mut streamed = false;
        while let Some(event) = rx.recv().await {
            match event {
                CouncilEvent::SynthesizerDelta { text } => {
                    streamed = true;
                    send(data(&chunk.delta(json!({ "content": text }), None)));
                }
                other => send(progress(&other)),
            }
        }
        let result = match task.await {
            Ok(result) => result,
            Err(e) => {
                send(error_event(ApiError::bad_request(
                    format!("the council stopped: {e}"),
                    None,
                )));
                return;
            }
        };
        if result.status == CouncilStatus::Error {
            send(error_event(no_answer(&result)));
            return;
        }
        if !streamed {
            // The synthesizer failed before writing anything: the fallback answer in one piece.
            send(data(
                &chunk.delta(json!({ "content": result.final_answer }), None),
            ));
        }
        let mut last = chunk.delta(json!({}), Some("stop"));
        last.extra.insert(trace_key.into(), trace(&result));
        send(data(&last));
        if include_usage {
            let mut usage = chunk.delta(json!({}), None);
            usage.choices.clear();
            usage.usage = Some(result.usage);
            send(data(&usage));
        }
        send(done());
    });
    Ok(sse(events))
}

fn respond(
    id: String,
    model: String,
    trace_key: &str,
    result: CouncilResult,
) -> Result<Response, ApiError> {
    if result.status == CouncilStatus::Error {
        return Err(no_answer(&result));
    }
    let mut response = ChatResponse {
        id,
        object: "chat.completion".into(),
        created: now_secs(),
        model,
        choices: vec![Choice {
            index: 0,
            message: ChatMessage::text(Role::Assistant, result.final_answer.clone()),
            finish_reason: Some("stop".into()),
            extra: Map::new(),
        }],
        usage: Some(result.usage),
        extra: Map::new(),
    };
    response.extra.insert(trace_key.into(), trace(&result));
    Ok(axum::Json(response).into_response())
}

/// Every panel member failed: a 502 naming each failure, with the trace attached.
fn no_answer(result: &CouncilResult) -> ApiError {
    let failures: Vec<String> = result
        .failed_models
        .iter()
        .map(|f| format!("{}: {}", f.model, f.error))
        .collect();
    let mut err: ApiError = fusion_core::Error::from(fusion_core::ErrorKind::Exec {
        provider: format!("council `{}`", result.council),
        message: format!("every panel member failed ({})", failures.join("; ")),
    })
    .into();
    err = err.with_trace(trace(result));
    err
}

/// A progress line: an SSE comment, which OpenAI clients skip.
fn progress(event: &CouncilEvent) -> Event {
    let text = serde_json::to_string(event).unwrap_or_default();
    Event::default().comment(format!("fusion {text}"))
}

fn trace(result: &CouncilResult) -> Value {
    serde_json::to_value(result).unwrap_or(Value::Null)
}

struct ChunkFactory {
    id: String,
    model: String,
}

impl ChunkFactory {
    fn delta(&self, delta: Value, finish_reason: Option<&str>) -> ChatChunk {
        ChatChunk::single(&self.id, &self.model, now_secs(), delta, finish_reason)
    }
}

/// A stream fed by an async producer through a small channel: `send` queues an event.
fn async_stream<F, Fut>(producer: F) -> impl futures::Stream<Item = Event> + Send + 'static
where
    F: FnOnce(Box<dyn FnMut(Event) + Send>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let producer = AbortOnDropHandle::new(tokio::spawn(producer(Box::new(move |event| {
        let _ = tx.send(event);
    }))));
    futures::stream::unfold((rx, producer), |(mut rx, producer)| async move {
        rx.recv().await.map(|event| (event, (rx, producer)))
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
