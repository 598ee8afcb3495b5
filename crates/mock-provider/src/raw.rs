//! Minimal OpenAI endpoints besides chat, for Fusion's passthrough tests: every request is
//! recorded like a chat request, and a model the script does not know is a 404.
//!
//! - `POST /v1/embeddings`: one 8-dimensional vector per input string (derived from its bytes,
//!   so equal inputs embed equally), `usage.prompt_tokens` = the inputs' word count.
//! - `POST /v1/completions`: legacy completions answering `"echo: <prompt>"` (plus
//!   `" <suffix>"` when a fill-in-the-middle `suffix` is sent); with `stream`, one chunk per
//!   word then `data: [DONE]`; `usage` from word counts.
//! - `POST /v1/responses`: a Responses server answering `"responses: <input text>"` as one
//!   message item; with `stream`, `response.created`, one `response.output_text.delta` per
//!   word and `response.completed` with the usage.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::Shared;

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The parsed, recorded body and its scripted model; or the error answer.
async fn accept(shared: &Shared, request: Request) -> Result<(Value, String), Response> {
    let received_at = Instant::now();
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("cannot read the body: {e}"),
        )
    })?;
    let parsed = serde_json::from_slice::<Value>(&bytes);
    if shared.is_recording() {
        shared.record(crate::server::record(
            &parts.headers,
            &parsed,
            &bytes,
            received_at,
        ));
    }
    let body = parsed.map_err(|e| error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")))?;
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    if shared.active().begin_call(&model).is_none() {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("The model `{model}` does not exist"),
        ));
    }
    Ok((body, model))
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error",
        "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The text of an `input` / `prompt`: a string, or the strings (and `text` / `content`
/// fields) inside an array, joined by spaces.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                other => ["text", "content"]
                    .iter()
                    .find_map(|k| other.get(*k))
                    .map(text_of)
                    .unwrap_or_default(),
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn sse(events: Vec<String>) -> Response {
    let body = Body::from(events.concat());
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

pub(crate) async fn embeddings(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (body, model) = match accept(&shared, request).await {
        Ok(accepted) => accepted,
        Err(answer) => return answer,
    };
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(|i| text_of(&json!([i]))).collect(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "`input` must be a string or an array",
            );
        }
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let mut vector = [0f64; 8];
            for (i, byte) in text.bytes().enumerate() {
                vector[i % 8] += f64::from(byte) / 255.0;
            }
            json!({"object": "embedding", "index": index, "embedding": vector})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|t| words(t)).sum();
    axum::Json(json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
    .into_response()
}

pub(crate) async fn completions(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (body, model) = match accept(&shared, request).await {
        Ok(accepted) => accepted,
        Err(answer) => return answer,
    };
    let prompt = text_of(&body["prompt"]);
    let mut text = format!("echo: {prompt}");
    if let Some(suffix) = body["suffix"].as_str() {
        text.push(' ');
        text.push_str(suffix);
    }
    let usage = json!({"prompt_tokens": words(&prompt), "completion_tokens": words(&text),
        "total_tokens": words(&prompt) + words(&text)});
    if body["stream"].as_bool() != Some(true) {
        return axum::Json(
            json!({"id": "cmpl-mock", "object": "text_completion", "created": 0,
            "model": model, "choices": [{"index": 0, "text": text, "finish_reason": "stop",
            "logprobs": null}], "usage": usage}),
        )
        .into_response();
    }
    let mut events: Vec<String> = text
        .split_inclusive(' ')
        .map(|piece| {
            let chunk = json!({"id": "cmpl-mock", "object": "text_completion", "created": 0,
                "model": model, "choices": [{"index": 0, "text": piece, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    let last = json!({"id": "cmpl-mock", "object": "text_completion", "created": 0,
        "model": model, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}],
        "usage": usage});
    events.push(format!("data: {last}\n\ndata: [DONE]\n\n"));
    sse(events)
}

pub(crate) async fn responses(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (body, model) = match accept(&shared, request).await {
        Ok(accepted) => accepted,
        Err(answer) => return answer,
    };
    let input = text_of(&body["input"]);
    let text = format!("responses: {input}");
    let usage = json!({"input_tokens": words(&input), "output_tokens": words(&text),
        "total_tokens": words(&input) + words(&text)});
    let item = json!({"type": "message", "id": "msg_mock", "status": "completed",
        "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let done = json!({"id": "resp_mock", "object": "response", "created_at": 0,
        "status": "completed", "model": model, "output": [item], "usage": usage});
    if body["stream"].as_bool() != Some(true) {
        return axum::Json(done).into_response();
    }
    let mut sequence = 0u64;
    let mut event = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(sequence);
        sequence += 1;
        format!("event: {name}\ndata: {data}\n\n")
    };
    let mut created = done.clone();
    created["status"] = json!("in_progress");
    created["output"] = json!([]);
    let mut events = vec![event("response.created", json!({"response": created}))];
    for piece in text.split_inclusive(' ') {
        events.push(event(
            "response.output_text.delta",
            json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0, "delta": piece}),
        ));
    }
    events.push(event("response.completed", json!({"response": done})));
    sse(events)
}
