//! Usage for the dashboard's charts: `GET /api/usage/series?since=7d&by=model` — calls, tokens
//! and cost per UTC day, one series per model, provider, tier (the model's, as the registry
//! knows it now) or caller; and [`savings`], the part of `GET /api/usage` that says what the
//! same tokens would have cost on the dearest model used in the window.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use fusion_core::providers::{ProviderRegistry, call_cost};
use fusion_core::store::UsageReport;
use fusion_core::store::now_ms;
use fusion_core::store::usage_series::{UsageDay, UsageSeries, usage_series};
use serde::{Deserialize, Serialize};

use super::{bad, ledger, query, since_ms};
use crate::{ApiError, AppState};

/// Series a chart gets at most (the rest are summed as `other`).
const MAX_SERIES: usize = 24;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeriesQuery {
    since: Option<String>,
    by: Option<String>,
}

/// What a series is per.
#[derive(Debug, Clone, Copy)]
enum By {
    Model,
    Provider,
    Tier,
    Caller,
}

impl By {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "model" => Some(Self::Model),
            "provider" => Some(Self::Provider),
            "tier" => Some(Self::Tier),
            "caller" => Some(Self::Caller),
            _ => None,
        }
    }
}

pub(super) async fn series(
    State(state): State<AppState>,
    q: Result<Query<SeriesQuery>, QueryRejection>,
) -> Result<Json<UsageSeries>, ApiError> {
    let q = query(q)?;
    let since = since_ms(q.since.as_deref(), "7d")?;
    let by = match q.by.as_deref() {
        None => By::Model,
        Some(text) => By::parse(text).ok_or_else(|| {
            bad(
                "by",
                format!("`by`: `{text}` is not one of model, provider, tier, caller"),
            )
        })?,
    };
    let ledger = ledger(&state)?;
    // Rows still queued for the writer belong in the chart.
    ledger.flush().await?;
    let days = ledger.store().usage_days(since).await?;
    let registry = state.registry();
    let key_of = |day: &UsageDay| match by {
        By::Model => day.model.clone(),
        By::Provider => day.provider.clone(),
        By::Caller => day.caller.as_str().to_owned(),
        By::Tier => registry.model(&day.model).map_or_else(
            || "unknown".to_owned(),
            |entry| entry.tier.as_str().to_owned(),
        ),
    };
    Ok(Json(usage_series(
        &days,
        since,
        now_ms(),
        key_of,
        MAX_SERIES,
    )))
}

/// What the window's calls cost, and what the same tokens would have cost on the dearest model
/// used in it (priced as the registry prices it now).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Savings {
    pub cost_usd: f64,
    pub on_most_expensive_usd: f64,
    /// `None` when no model used in the window has a price (every call was free).
    pub most_expensive_model: Option<String>,
    pub saved_usd: f64,
}

/// The savings of `report`: every token it counts priced on each model it used, the dearest
/// total against what the calls cost.
pub(crate) fn savings(report: &UsageReport, registry: &ProviderRegistry) -> Savings {
    let (tokens_in, tokens_out) = (report.total.tokens_in, report.total.tokens_out);
    let dearest = report
        .by_model
        .iter()
        .filter_map(|group| {
            let entry = registry.model(&group.key)?;
            let cost = call_cost(&entry, tokens_in, tokens_out);
            (cost > 0.0).then_some((group.key.clone(), cost))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
    let cost_usd = report.total.cost_usd;
    match dearest {
        Some((model, on_most_expensive_usd)) => Savings {
            cost_usd,
            on_most_expensive_usd,
            most_expensive_model: Some(model),
            saved_usd: (on_most_expensive_usd - cost_usd).max(0.0),
        },
        None => Savings {
            cost_usd,
            on_most_expensive_usd: cost_usd,
            most_expensive_model: None,
            saved_usd: 0.0,
        },
    }
}
