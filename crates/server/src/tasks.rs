//! The task REST API and its event stream: `GET /api/tasks` (filters `status`, `kind`,
//! `provider`, `model`, `q`, `page`, `page_size`), `GET /api/tasks/{id}`, `POST /api/tasks`
//! (a task spec: `{"work": {"kind": "completion", "messages": [...]}, "priority": 0}` or
//! `{"work": {"kind": "council", "question": "..."}}`), `POST /api/tasks/{id}/cancel`,
//! `POST /api/jobs/{id}/cancel`, `GET /api/queue` (the slot groups, then a page of tasks:
//! queued and running ones unless `status` says otherwise; filters `status`, `provider`,
//! `model`, `task_id`, `q`, `page`, `page_size`), and `GET /api/events`: server-sent events,
//! one per task or job change this process makes (`event: task` or `job`, JSON data). The
//! routing server's body and state names are read too (`compat`).

mod compat;

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fusion_core::store::Caller;
use fusion_core::tasks::{CancelOutcome, TaskEngine, TaskEvent, TaskFilter, TaskKind, TaskSpec};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::{ApiError, AppState};

/// Largest page a listing returns.
const MAX_PAGE_SIZE: u32 = 500;
/// A comment line on an idle event stream this often keeps proxies from closing it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tasks", get(list).post(submit))
        .route("/api/tasks/{id}", get(show))
        .route("/api/tasks/{id}/cancel", post(cancel_task))
        .route("/api/jobs/{id}/cancel", post(cancel_job))
        .route("/api/queue", get(queue))
        .route("/api/events", get(events))
}

fn engine(state: &AppState) -> Result<TaskEngine, ApiError> {
    state
        .tasks()
        .cloned()
        .ok_or_else(|| ApiError::unavailable("this server runs without a task engine"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    q: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

/// The filters of `GET /api/queue`, as the routing server's dashboard API named them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueQuery {
    status: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    task_id: Option<String>,
    q: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

fn bad_query(e: &QueryRejection) -> ApiError {
    ApiError::bad_request(format!("bad query: {}", e.body_text()), None)
}

/// The filter of a listing, with `status`, `page` and `page_size` checked.
fn filter(
    status: Option<&str>,
    page: Option<u32>,
    page_size: Option<u32>,
) -> Result<TaskFilter, ApiError> {
    if page == Some(0) {
        return Err(ApiError::bad_request(
            "`page` counts from 1",
            Some("page".into()),
        ));
    }
    if let Some(size) = page_size
        && !(1..=MAX_PAGE_SIZE).contains(&size)
    {
        return Err(ApiError::bad_request(
            format!("`page_size` must be 1 to {MAX_PAGE_SIZE}"),
            Some("page_size".into()),
        ));
    }
    Ok(TaskFilter {
        state: status.map(compat::task_state).transpose()?,
        page,
        page_size,
        ..TaskFilter::default()
    })
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
    let engine = engine(&state)?;
    let kind = match &query.kind {
        None => None,
        Some(text) => Some(TaskKind::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                format!("`kind`: `{text}` is not one of completion, council"),
                Some("kind".into()),
            )
        })?),
    };
    let filter = TaskFilter {
        kind,
        provider: query.provider,
        model: query.model,
        q: query.q,
        ..filter(query.status.as_deref(), query.page, query.page_size)?
    };
    Ok(Json(engine.list(filter).await?).into_response())
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let engine = engine(&state)?;
    Ok(Json(engine.get(&id).await?).into_response())
}

async fn submit(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let engine = engine(&state)?;
    let limit = state.config().server.max_body_bytes;
    if body.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    let expected = "expected {\"work\": {\"kind\": \"completion\", \"messages\": [...]}, \
                    \"priority\": 0}, {\"work\": {\"kind\": \"council\", \"question\": \
                    \"...\"}} or the routing server's {\"task\": \"...\"}";
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid task: {e}; {expected}"), None))?;
    if let Some(router) = compat::router_body(&value) {
        let router = router?;
        if router.preemptive() {
            let decision = state.registry().route(&router.route_input()?);
            return Ok(Json(
                json!({ "preemptive": true, "model": decision.chosen, "decision": decision }),
            )
            .into_response());
        }
        let mut spec = router.spec()?;
        spec.caller = Some(Caller::Http);
        let submitted = engine.submit(spec).await?;
        let answer = engine.router_answer(&submitted).await;
        return Ok((StatusCode::ACCEPTED, Json(answer)).into_response());
    }
    let mut spec: TaskSpec = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("invalid task: {e}; {expected}"), None))?;
    spec.caller = Some(Caller::Http);
    let submitted = engine.submit(spec).await?;
    Ok((StatusCode::ACCEPTED, Json(submitted)).into_response())
}

async fn cancel_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let outcome = engine(&state)?.cancel_task(&id).await?;
    Ok(cancelled(&id, &outcome))
}

async fn cancel_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let outcome = engine(&state)?.cancel_job(&id).await?;
    Ok(cancelled(&id, &outcome))
}

/// 200 when it is cancelled, 202 when the process running it has been asked to stop it.
fn cancelled(id: &str, outcome: &CancelOutcome) -> Response {
    match outcome {
        CancelOutcome::Cancelled => Json(json!({ "id": id, "state": "cancelled" })).into_response(),
        CancelOutcome::Requested { owner } => (
            StatusCode::ACCEPTED,
            Json(json!({ "id": id, "state": "cancel_requested", "owner": owner })),
        )
            .into_response(),
    }
}

/// The queue's slot groups and counts, then one page of its tasks (`tasks`, `total`, `page`,
/// `page_size`): queued and running ones, or those in `status`.
async fn queue(
    State(state): State<AppState>,
    query: Result<Query<QueueQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
    let engine = engine(&state)?;
    let filter = TaskFilter {
        active: query.status.is_none(),
        provider: query.provider,
        model: query.model,
        task_id: query.task_id,
        q: query.q,
        ..filter(query.status.as_deref(), query.page, query.page_size)?
    };
    let page = engine.list(filter).await?;
    let mut body = json!(engine.queue().await?);
    if let (Some(body), serde_json::Value::Object(page)) = (body.as_object_mut(), json!(page)) {
        body.extend(page);
    }
    Ok(Json(body).into_response())
}

async fn events(
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let receiver = engine(&state)?.subscribe();
    let shutdown = state.shutdown_token().clone();
    let stream = futures::stream::unfold(
        (receiver, shutdown),
        |(mut receiver, shutdown)| async move {
            let next = tokio::select! {
                next = receiver.recv() => next,
                () = shutdown.cancelled() => return None,
            };
            let event = match next {
                Ok(change) => to_event(&change),
                Err(broadcast::error::RecvError::Lagged(missed)) => Event::default()
                    .event("lagged")
                    .data(json!({ "missed": missed }).to_string()),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(event), (receiver, shutdown)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn to_event(change: &TaskEvent) -> Event {
    let name = match change.kind {
        fusion_core::tasks::TaskEventKind::Task => "task",
        fusion_core::tasks::TaskEventKind::Job => "job",
    };
    let data = serde_json::to_string(change).unwrap_or_else(|e| {
        json!({ "error": format!("cannot encode the event: {e}") }).to_string()
    });
    Event::default().event(name).data(data)
}
