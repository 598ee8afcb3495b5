//! `GET /api/decisions` (`limit`, `before_ms`): the router's recent decisions, newest first —
//! the caller it decided for, the model chosen, its summary and the whole `Decision` — and how
//! many decisions the history dropped because its writer was behind.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use fusion_core::store::DecisionRow;
use serde::{Deserialize, Serialize};

use super::{flushed, ledger, limit, query};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    limit: Option<u32>,
    before_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(super) struct Listing {
    decisions: Vec<DecisionRow>,
    /// Decisions this process did not record because the history's queue was full.
    dropped: u64,
}

pub(super) async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Listing>, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit)?;
    let ledger = ledger(&state)?;
    flushed(&ledger).await;
    let decisions = ledger.store().decisions(limit, q.before_ms).await?;
    Ok(Json(Listing {
        decisions,
        dropped: ledger.history().dropped(),
    }))
}
