//! `GET /api/councils` (`limit`, `before_ms`): the recorded council runs, newest first, each
//! with its council, caller, the question's start, status, whether it degraded, its time and
//! cost; `GET /api/councils/{id}`: one run with its whole trace (`result`, a `CouncilResult`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use fusion_core::store::{CouncilRunRow, CouncilRunSummary};
use serde::{Deserialize, Serialize};

use super::{bad, flushed, ledger, limit, query};
use crate::{ApiError, AppState};

/// Characters of an id at most (`council_` and 16 hex digits are 24).
const MAX_ID_CHARS: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    limit: Option<u32>,
    before_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(super) struct Listing {
    councils: Vec<CouncilRunSummary>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Listing>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit)?;
    let ledger = ledger(&state)?;
    flushed(&ledger).await;
    let councils = ledger.store().council_runs(limit, q.before_ms).await?;
    Ok(Json(Listing { councils }))
}

pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CouncilRunRow>, ApiError> {
    if id.chars().count() > MAX_ID_CHARS {
        return Err(bad(
            "id",
            format!("`id` is longer than {MAX_ID_CHARS} characters"),
        ));
    }
    let ledger = ledger(&state)?;
    flushed(&ledger).await;
    match ledger.store().council_run(&id).await? {
        Some(run) => Ok(Json(run)),
        None => Err(ApiError::not_found(format!(
            "no council run `{id}` (it may have been pruned: the newest {} are kept)",
            fusion_core::store::history::KEEP_COUNCILS
        ))),
    }
}
