//! `POST /api/route` — the dashboard's "try a route": `{"task", "category"?, "complexity"?,
//! "priority"?, "context_length"?, "expected_output_length"?}` answers the router's `Decision`
//! for it over the live models. A preview: nothing is recorded, queued or called.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use fusion_core::config::{Category, Priority};
use fusion_core::router::RouteInput;
use serde::Deserialize;

use super::{bad, json_body};
use crate::{ApiError, AppState};

/// Tokens of context or output a preview may state at most.
const MAX_TOKENS: u64 = 100_000_000;

const EXPECTED: &str = "{\"task\": \"...\", \"category\": \"code\", \"complexity\": 0.5, \
                        \"priority\": \"balanced\", \"context_length\": 4096, \
                        \"expected_output_length\": 512} (all but task optional)";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteBody {
    task: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    complexity: Option<f64>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    context_length: Option<u64>,
    #[serde(default)]
    expected_output_length: Option<u64>,
}

pub(super) async fn preview(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: RouteBody = json_body(&state, &body, EXPECTED)?;
    let input = route_input(body)?;
    let registry = state.registry();
    let bytes = input.counting_bytes();
    let decision = fusion_core::cpu::sized(bytes, move || registry.route_preview(&input)).await;
    Ok(Json(decision).into_response())
}

/// The router's input for the body, every field checked.
fn route_input(body: RouteBody) -> Result<RouteInput, ApiError> {
    if body.task.trim().is_empty() {
        return Err(bad("task", "`task` is empty"));
    }
    let category = match &body.category {
        None => None,
        Some(text) => Some(
            Category::parse(&text.trim().to_ascii_lowercase()).ok_or_else(|| {
                let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                bad(
                    "category",
                    format!("`category`: `{text}` is not one of {}", names.join(", ")),
                )
            })?,
        ),
    };
    let priority = match &body.priority {
        None => None,
        Some(text) => Some(Priority::parse(text).ok_or_else(|| {
            bad(
                "priority",
                format!("`priority`: `{text}` is not one of cost, balanced, quality, speed"),
            )
        })?),
    };
    if let Some(c) = body.complexity
        && !(c.is_finite() && (0.0..=1.0).contains(&c))
    {
        return Err(bad(
            "complexity",
            format!("`complexity` must be between 0 and 1; got {c}"),
        ));
    }
    for (field, value) in [
        ("context_length", body.context_length),
        ("expected_output_length", body.expected_output_length),
    ] {
        if let Some(n) = value
            && n > MAX_TOKENS
        {
            return Err(bad(
                field,
                format!("`{field}` must be at most {MAX_TOKENS} tokens; got {n}"),
            ));
        }
    }
    // Without `context_length` the router counts the task's tokens (off the async worker
    // when it is large: see `preview`).
    Ok(RouteInput {
        text: body.task,
        context_tokens: body.context_length,
        expected_output_tokens: body.expected_output_length,
        complexity: body.complexity,
        category,
        priority,
    })
}
