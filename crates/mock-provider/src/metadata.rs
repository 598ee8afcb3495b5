//! What the mock says about its models rather than with them: the OpenAI listing
//! (`GET /v1/models`, with OpenRouter's `context_length` and `pricing` or vLLM's `max_model_len`),
//! Ollama's `GET /api/tags` and `POST /api/show`, llama.cpp's `GET /props` and LM Studio's
//! `GET /api/v0/models`. The local servers' endpoints answer only when the script's
//! [`ServerFlavor`] says the mock is that server; otherwise 404, as the real servers of the other
//! kinds would.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    script::ServerFlavor,
    state::Shared,
    wire::{self, ModelEntry, ModelList},
};

/// `GET /v1/models`: every scripted model; context lengths as the impersonated server lists them.
pub(crate) async fn list_models(State(shared): State<Arc<Shared>>) -> Response {
    let active = shared.active();
    let flavor = active.script.server;
    let data = active
        .script
        .models
        .iter()
        .map(|(id, model)| ModelEntry {
            id,
            object: "model",
            created: shared.started,
            owned_by: "mock",
            context_length: model
                .context_length
                .filter(|_| flavor == ServerFlavor::Openai),
            max_model_len: model
                .context_length
                .filter(|_| flavor == ServerFlavor::Vllm),
            pricing: model.pricing.as_ref(),
        })
        .collect();
    wire::json_response(
        StatusCode::OK,
        &ModelList {
            object: "list",
            data,
        },
    )
}

/// Ollama's native listing of the same models.
pub(crate) async fn list_tags(State(shared): State<Arc<Shared>>) -> Response {
    let active = shared.active();
    let models = active
        .script
        .models
        .keys()
        .map(|name| wire::Tag { name, model: name })
        .collect();
    wire::json_response(StatusCode::OK, &wire::Tags { models })
}

/// llama.cpp's `GET /props`: the server's settings, `n_ctx` being the first model's context
/// length (llama.cpp serves one model).
pub(crate) async fn props(State(shared): State<Arc<Shared>>) -> Response {
    let active = shared.active();
    if active.script.server != ServerFlavor::LlamaCpp {
        return not_found();
    }
    let first = active.script.models.iter().next();
    let n_ctx = first.and_then(|(_, m)| m.context_length).unwrap_or(4096);
    let path = first.map_or("model.gguf", |(id, _)| id.as_str());
    wire::json_response(
        StatusCode::OK,
        &json!({
            "default_generation_settings": { "n_ctx": n_ctx, "temperature": 0.8 },
            "total_slots": 1,
            "model_path": path,
        }),
    )
}

/// Ollama's `POST /api/show {"model": NAME}`: `model_info` with `llama.context_length`.
pub(crate) async fn show(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let active = shared.active();
    if active.script.server != ServerFlavor::Ollama {
        return not_found();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let name = request
        .get("model")
        .or_else(|| request.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(model) = active.script.models.get(name) else {
        let error = json!({ "error": format!("model '{name}' not found") });
        return wire::json_response(StatusCode::NOT_FOUND, &error);
    };
    let mut info = json!({ "general.architecture": "llama", "general.parameter_count": 1 });
    if let Some(tokens) = model.context_length {
        info["llama.context_length"] = json!(tokens);
    }
    wire::json_response(
        StatusCode::OK,
        &json!({
            "modelfile": "",
            "parameters": "",
            "details": { "format": "gguf", "family": "llama" },
            "model_info": info,
        }),
    )
}

/// LM Studio's `GET /api/v0/models`: every model with `max_context_length`.
pub(crate) async fn lm_studio_models(State(shared): State<Arc<Shared>>) -> Response {
    #[derive(Serialize)]
    struct Entry<'a> {
        id: &'a str,
        object: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_context_length: Option<u32>,
    }
    let active = shared.active();
    if active.script.server != ServerFlavor::LmStudio {
        return not_found();
    }
    let data: Vec<Entry<'_>> = active
        .script
        .models
        .iter()
        .map(|(id, model)| Entry {
            id,
            object: "model",
            kind: "llm",
            state: "not-loaded",
            max_context_length: model.context_length,
        })
        .collect();
    wire::json_response(StatusCode::OK, &json!({ "object": "list", "data": data }))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}
