//! Benchmarks for the dashboard: `GET /api/bench/runs` (`limit`: the newest runs with their
//! suites, status, dates and models), `GET /api/bench/stats` (`since`, `run`: per model and
//! category, the numbers `fusion bench` prints), `GET /api/bench/chart.svg` (`kind`
//! `quality_cost` or `over_time`, `category`, `since`, `run`: a report chart drawn by
//! fusion-bench, as `image/svg+xml`) and `POST /api/bench` (queue a run of built-in suites as
//! a benchmark task; progress through the task and its events).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use fusion_bench::report::{ChartKind, ReportOptions};
use fusion_bench::run::{BenchError, BenchSpec, MAX_MODELS, MAX_RUNS_PER_TASK, default_models};
use fusion_bench::suite::{self, SuiteSource};
use fusion_core::store::{BenchResultRow, BenchRunRow, Caller, Ledger, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{bad, json_body, ledger, limit, query, since_ms};
use crate::{ApiError, AppState};

/// Runs a report reads at most (their dates and suites label the results).
const REPORT_RUNS: u32 = 10_000;
/// Suites one request may name.
const MAX_SUITES: usize = 16;
/// Output tokens one answer may be given at most.
const MAX_ANSWER_TOKENS: u32 = 131_072;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunsQuery {
    limit: Option<u32>,
}

pub(super) async fn runs(
    State(state): State<AppState>,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(query(q)?.limit)?;
    let ledger = ledger(&state)?;
    let runs: Vec<Value> = ledger
        .store()
        .bench_runs(limit)
        .await?
        .into_iter()
        .map(|run| {
            json!({
                "id": run.id,
                "suites": run.suites.split(',').map(str::trim).filter(|s| !s.is_empty())
                    .collect::<Vec<_>>(),
                "status": run.status,
                "created_ms": run.created_ms,
                "finished_ms": run.finished_ms,
                "models": run.spec.get("models").cloned().unwrap_or_else(|| json!([])),
            })
        })
        .collect();
    Ok(Json(json!({ "runs": runs })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatsQuery {
    since: Option<String>,
    run: Option<String>,
}

pub(super) async fn stats(
    State(state): State<AppState>,
    q: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let ledger = ledger(&state)?;
    let rows = results(&ledger, q.since.as_deref(), q.run.as_deref()).await?;
    let stats = fusion_core::cpu::sized(rows.len() * 64, move || {
        fusion_bench::stats::summarize(&rows)
    })
    .await;
    Ok(Json(json!({ "stats": stats })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChartQuery {
    kind: Option<String>,
    category: Option<String>,
    since: Option<String>,
    run: Option<String>,
}

pub(super) async fn chart(
    State(state): State<AppState>,
    q: Result<Query<ChartQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let kind = match q.kind.as_deref() {
        None | Some("quality_cost") => ChartKind::QualityCost,
        Some("over_time" | "quality_over_time") => ChartKind::QualityOverTime,
        Some(other) => {
            return Err(bad(
                "kind",
                format!("`kind`: `{other}` is not one of quality_cost, over_time"),
            ));
        }
    };
    let ledger = ledger(&state)?;
    let rows = results(&ledger, q.since.as_deref(), q.run.as_deref()).await?;
    let runs = ledger.store().bench_runs(REPORT_RUNS).await?;
    let category = q.category;
    let drawn = fusion_core::cpu::off_worker(move || draw(&rows, &runs, kind, category)).await?;
    Ok((
        [
            (CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            // The SVG's text comes from the store (model names): nothing in it may run.
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CACHE_CONTROL, "no-store"),
        ],
        drawn,
    )
        .into_response())
}

/// The chart of `kind` for `category` (the first category that has one when `None`).
fn draw(
    rows: &[BenchResultRow],
    runs: &[BenchRunRow],
    kind: ChartKind,
    category: Option<String>,
) -> Result<String, ApiError> {
    let options = ReportOptions {
        generated_ms: now_ms(),
        ..ReportOptions::default()
    };
    let mut report = fusion_bench::report::report(rows, runs, options);
    let names: Vec<String> = report
        .categories
        .iter()
        .map(|c| c.category.clone())
        .collect();
    if let Some(wanted) = &category
        && !names.contains(wanted)
    {
        return Err(bad(
            "category",
            format!(
                "`category`: no benchmark results in `{wanted}`; there are: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
    }
    report.categories.retain(|c| {
        category.as_ref().is_none_or(|w| &c.category == w)
            && c.charts.iter().any(|r| r.kind == kind)
    });
    report.categories.truncate(1);
    for c in &mut report.categories {
        c.charts.retain(|r| r.kind == kind);
    }
    if report.categories.is_empty() {
        return Err(ApiError::not_found(match kind {
            ChartKind::QualityCost => "no chart: no scored benchmark result yet".to_owned(),
            ChartKind::QualityOverTime => {
                "no chart: no model has two runs in this category yet".to_owned()
            }
        }));
    }
    let charts = report
        .charts()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    charts
        .into_iter()
        .next()
        .map(|c| c.svg)
        .ok_or_else(|| ApiError::internal("the chart was not drawn"))
}

/// The results of run `run` (every run when `None`) since `since`; 404 for an unknown run.
async fn results(
    ledger: &Ledger,
    since: Option<&str>,
    run: Option<&str>,
) -> Result<Vec<BenchResultRow>, ApiError> {
    let since = since.map(|s| since_ms(Some(s), "")).transpose()?;
    let store = ledger.store();
    if let Some(run) = run
        && store.bench_run(run).await?.is_none()
    {
        return Err(ApiError::not_found(format!(
            "`run`: no benchmark run `{run}`"
        )));
    }
    let mut rows = store.bench_results(run).await?;
    if let Some(since) = since {
        rows.retain(|r| r.created_ms >= since);
    }
    Ok(rows)
}

const EXPECTED: &str = "{\"suites\": [\"builtin:code\", ...], \"models\": [\"model-id\", ...], \
                        \"runs_per_task\": 1, \"max_tokens\": 1024} (all but suites optional; \
                        models default to every healthy local and free model)";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchBody {
    suites: Vec<String>,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    runs_per_task: Option<u32>,
    #[serde(default)]
    max_tokens: Option<u32>,
}

/// `POST /api/bench`: 202 with the task (`task_id`, `status`, `queue_position`, ...), the
/// `run_id`, the `models` and the number of `calls`.
pub(super) async fn start(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: BenchBody = json_body(&state, &body, EXPECTED)?;
    let engine = match state.tasks() {
        Some(engine) if engine.runs_benchmarks() => engine.clone(),
        _ => {
            return Err(ApiError::unavailable(
                "this server runs without a task engine that runs benchmarks",
            ));
        }
    };
    let suites = builtin_suites(&body.suites)?;
    let registry = state.registry();
    let models = match body.models {
        Some(models) => {
            if models.is_empty() || models.len() > MAX_MODELS {
                return Err(bad(
                    "models",
                    format!("`models` must name 1 to {MAX_MODELS} models (or be left out)"),
                ));
            }
            models
        }
        None => {
            let models = default_models(&registry).await;
            if models.is_empty() {
                return Err(bad(
                    "models",
                    "no local or free model is healthy to benchmark: name `models`",
                ));
            }
            models
        }
    };
    let mut spec = BenchSpec::new(models, suites);
    if let Some(runs) = body.runs_per_task {
        if !(1..=MAX_RUNS_PER_TASK).contains(&runs) {
            return Err(bad(
                "runs_per_task",
                format!("`runs_per_task` must be 1 to {MAX_RUNS_PER_TASK}; got {runs}"),
            ));
        }
        spec.runs_per_task = runs;
    }
    if let Some(tokens) = body.max_tokens {
        if !(1..=MAX_ANSWER_TOKENS).contains(&tokens) {
            return Err(bad(
                "max_tokens",
                format!("`max_tokens` must be 1 to {MAX_ANSWER_TOKENS}; got {tokens}"),
            ));
        }
        spec.max_tokens = Some(tokens);
    }
    spec.check(&registry).map_err(|e| match e {
        BenchError::UnknownModel { .. } => bad("models", e.to_string()),
        other => ApiError::bad_request(other.to_string(), None),
    })?;
    let calls = spec.call_count();
    let label = format!("dashboard bench ({})", spec.suite_names());
    let (mut submission, run_id) = fusion_bench::task::submission(&spec, label);
    submission.caller = Some(Caller::Http);
    let submitted = engine.submit(submission).await?;
    let mut answer = engine.router_answer(&submitted).await;
    answer["run_id"] = json!(run_id);
    answer["models"] = json!(spec.models);
    answer["calls"] = json!(calls);
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// The built-in suites `names` asks for (`builtin` or `builtin:KIND`; a suite file cannot be
/// named over HTTP), each once.
fn builtin_suites(names: &[String]) -> Result<Vec<suite::Suite>, ApiError> {
    if names.is_empty() || names.len() > MAX_SUITES {
        return Err(bad(
            "suites",
            format!("`suites` must name 1 to {MAX_SUITES} suites, such as builtin:code"),
        ));
    }
    let mut suites: Vec<suite::Suite> = Vec::new();
    for name in names {
        let source: SuiteSource = name
            .parse()
            .map_err(|e: suite::SuiteError| bad("suites", format!("`suites`: {}", e.message)))?;
        let SuiteSource::Builtin(kind) = source else {
            return Err(bad(
                "suites",
                format!(
                    "`suites`: `{name}` is not a built-in suite; the API runs builtin or \
                     builtin:KIND (suite files run with fusion bench --suite)"
                ),
            ));
        };
        let found =
            suite::builtin(kind).map_err(|e| ApiError::internal(format!("built-in suite: {e}")))?;
        for suite in found {
            if !suites.iter().any(|s| s.name == suite.name) {
                suites.push(suite);
            }
        }
    }
    Ok(suites)
}
