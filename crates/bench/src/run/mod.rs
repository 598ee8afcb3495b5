//! Running benchmarks: every call of a [`BenchSpec`] (models × tasks × runs per task) through
//! the provider registry — so the usage ledger sees each one, attributed to the caller scope
//! (`fusion_core::providers::as_caller`) the run is awaited in — at most `parallel` at a time,
//! each bounded by the spec's timeout, validated, and written to the store as it finishes (with
//! the router's complexity estimate of its task, which the router reads scores against). The
//! run's row keeps its spec and status (`running`, then `completed`, `interrupted` or
//! `failed`); [`run_bench`] on a run that has rows already does only what is missing, so an
//! interrupted run resumes where it stopped.
//!
//! ```ignore
//! let spec = BenchSpec::new(vec!["local/qwen".into()], suite::builtin(None)?);
//! let run_id = new_run_id();
//! let summary = run_bench(&registry, &store, &spec, &run_id, &cancel, |p| eprintln!("{p:?}")).await?;
//! // later, after an interruption:
//! let spec = stored_spec(&store, &run_id).await?;
//! let summary = run_bench(&registry, &store, &spec, &run_id, &cancel, |_| {}).await?;
//! ```

mod spec;

use std::collections::HashSet;
use std::time::Instant;

use fusion_core::config::Tier;
use fusion_core::providers::{ProviderRegistry, call_cost};
use fusion_core::router::{Health, RouteInput, estimate};
use fusion_core::store::{BenchResultRow, BenchRunRow, Store, now_ms};
use fusion_types::ChatRequest;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use spec::{
    BenchSpec, Call, DEFAULT_MAX_TOKENS, DEFAULT_PARALLEL, DEFAULT_TIMEOUT, MAX_CALLS, MAX_MODELS,
    MAX_PARALLEL, MAX_RUNS_PER_TASK, MAX_TASKS, MAX_TIMEOUT,
};

use crate::stats::{self, ModelCategoryStats};
use crate::validate::{self, cut_to, is_unscored};

/// How long [`default_models`] waits for each provider's probe.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// The answer kept in a result's detail.
const KEPT_ANSWER_BYTES: usize = 4096;
/// The error kept of a failed call.
const KEPT_ERROR_BYTES: usize = 1000;

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The spec is not valid (a usage error).
    #[error("{0}")]
    Invalid(String),
    #[error("unknown model `{model}` (known: {known})")]
    UnknownModel { model: String, known: String },
    #[error("no benchmark run `{0}`")]
    RunNotFound(String),
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] fusion_core::Error),
}

impl BenchError {
    /// The caller asked for something wrong (as opposed to the store failing).
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Store(_))
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    /// Every call has its result.
    Completed,
    /// Stopped before the end (cancelled); resume it with the same run id.
    Interrupted,
    /// Every call failed (no answer was scored), or the store failed.
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Interrupted => "interrupted",
            Self::Failed => "failed",
        }
    }
}

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The run starts or resumes: `total` calls in all, `recorded` of them already stored.
    Started {
        run_id: String,
        total: usize,
        recorded: usize,
    },
    /// One call finished and its result is stored; `done` of `total` now.
    Finished {
        result: BenchResultRow,
        done: usize,
        total: usize,
    },
}

/// A run's outcome: its status and counts, and per model and category what it measured (over
/// every result of the run, those of earlier sessions of a resumed run included).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub status: RunStatus,
    pub suites: String,
    pub models: Vec<String>,
    /// Calls in the whole run.
    pub total: usize,
    /// Results stored before this session (a resumed run).
    pub recorded_before: usize,
    /// Calls made in this session.
    pub ran: usize,
    /// Results of the run whose call failed (no score; unscored answers are not failures).
    pub failed: usize,
    pub stats: Vec<ModelCategoryStats>,
}

/// A fresh run id: `bench_` and 16 hex digits.
pub fn new_run_id() -> String {
    format!("bench_{:016x}", rand::random::<u64>())
}

/// The spec a run was started with (to resume it).
pub async fn stored_spec(store: &Store, run_id: &str) -> Result<BenchSpec, BenchError> {
    let row = store
        .bench_run(run_id)
        .await?
        .ok_or_else(|| BenchError::RunNotFound(run_id.to_owned()))?;
    BenchSpec::from_json(&row.spec)
}

/// The models a benchmark runs when none are named: after one probe of every provider (and
/// discovery, when `router.discover` is on), every local or free model whose health is good.
/// Paid models are left out — a benchmark spends money only on models named for it.
pub async fn default_models(registry: &ProviderRegistry) -> Vec<String> {
    registry.probe_all(PROBE_TIMEOUT).await;
    if registry.router_config().discover {
        registry.discover().await;
    }
    let (_, models) = registry.status();
    models
        .into_iter()
        .filter(|m| m.entry.tier != Tier::Paid && m.health == Health::Healthy)
        .map(|m| m.entry.id)
        .collect()
}

/// Runs (or resumes) run `run_id` of `spec`: records the run when it is new (a run that exists
/// must have the same work), then makes every call it has no result for, `spec.parallel` at a
/// time, writing each result as it comes and reporting it to `progress`. Cancelling `cancel`
/// stops it: calls in flight are dropped (they are made again on resume) and the run is
/// `interrupted`.
pub async fn run_bench(
    registry: &ProviderRegistry,
    store: &Store,
    spec: &BenchSpec,
    run_id: &str,
    cancel: &CancellationToken,
    progress: impl Fn(Progress),
) -> Result<RunSummary, BenchError> {
    spec.check(registry)?;
    open_run(store, spec, run_id).await?;
    let recorded: HashSet<(String, String, u32)> = store
        .bench_results(Some(run_id))
        .await?
        .into_iter()
        .map(|r| (r.task_id, r.model, r.attempt))
        .collect();
    let total = spec.call_count();
    let work: Vec<Call<'_>> = spec
        .calls()
        .filter(|c| !recorded.contains(&(c.task.id.clone(), c.model.to_owned(), c.attempt)))
        .collect();
    let recorded_before = total - work.len();
    progress(Progress::Started {
        run_id: run_id.to_owned(),
        total,
        recorded: recorded_before,
    });
    // Named futures in a `FuturesUnordered` (not a stream combinator over a closure) keep the
    // run's future `Send`, so it can be spawned.
    let mut queue = work.into_iter();
    let mut in_flight = FuturesUnordered::new();
    for call in queue.by_ref().take(spec.parallel) {
        in_flight.push(answer(registry, spec, run_id, call));
    }
    let mut done = recorded_before;
    let mut interrupted = false;
    loop {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                interrupted = true;
                break;
            }
            next = in_flight.next() => next,
        };
        let Some((row, complexity)) = next else { break };
        if let Some(call) = queue.next() {
            in_flight.push(answer(registry, spec, run_id, call));
        }
        if let Err(e) = store
            .put_bench_result_with_complexity(&row, Some(complexity))
            .await
        {
            drop(in_flight);
            let _ = store
                .set_bench_run_status(run_id, RunStatus::Failed.as_str(), Some(now_ms()))
                .await;
            return Err(e.into());
        }
        done += 1;
        progress(Progress::Finished {
            result: row,
            done,
            total,
        });
    }
    // Calls still in flight are dropped: the ledger records them as cancelled, and a resumed
    // run makes them again.
    drop(in_flight);
    let rows = store.bench_results(Some(run_id)).await?;
    let failed = rows
        .iter()
        .filter(|r| r.error.as_deref().is_some_and(|e| !is_unscored(e)))
        .count();
    let status = if interrupted {
        RunStatus::Interrupted
    } else if !rows.is_empty() && failed == rows.len() {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    let finished = (status != RunStatus::Interrupted).then(now_ms);
    store
        .set_bench_run_status(run_id, status.as_str(), finished)
        .await?;
    Ok(RunSummary {
        run_id: run_id.to_owned(),
        status,
        suites: spec.suite_names(),
        models: spec.models.clone(),
        total,
        recorded_before,
        ran: done - recorded_before,
        failed,
        stats: stats::summarize(&rows),
    })
}

/// Records a new run, or marks an existing one (with the same work) running again.
async fn open_run(store: &Store, spec: &BenchSpec, run_id: &str) -> Result<(), BenchError> {
    match store.bench_run(run_id).await? {
        None => {
            store
                .insert_bench_run(&BenchRunRow {
                    id: run_id.to_owned(),
                    suites: spec.suite_names(),
                    spec: spec.to_json(),
                    status: RunStatus::Running.as_str().to_owned(),
                    created_ms: now_ms(),
                    finished_ms: None,
                })
                .await?;
        }
        Some(row) => {
            let stored = BenchSpec::from_json(&row.spec)?;
            if !stored.same_work(spec) {
                return Err(BenchError::Invalid(format!(
                    "run `{run_id}` exists with other models, tasks or runs per task: resume it \
                     with its own spec, or start a new run"
                )));
            }
            store
                .set_bench_run_status(run_id, RunStatus::Running.as_str(), None)
                .await?;
        }
    }
    Ok(())
}

/// Asks one call's model, validates the answer and makes its result row, with the router's
/// complexity estimate of the task (its messages, in its category — as the router would see
/// them routed).
async fn answer(
    registry: &ProviderRegistry,
    spec: &BenchSpec,
    run_id: &str,
    call: Call<'_>,
) -> (BenchResultRow, f64) {
    let task = call.task;
    let mut request = ChatRequest::simple(call.model, task.system.as_deref(), task.prompt.clone());
    request.max_tokens = spec.max_tokens;
    let mut routed = RouteInput::from_messages_off_worker(&request.messages).await;
    routed.category = Some(task.kind.category());
    let complexity = estimate(&routed).complexity;
    let started = Instant::now();
    let outcome = tokio::time::timeout(spec.timeout, registry.chat(call.model, request)).await;
    let mut row = BenchResultRow {
        run_id: run_id.to_owned(),
        task_id: task.id.clone(),
        model: call.model.to_owned(),
        attempt: call.attempt,
        suite: call.suite.name.clone(),
        category: task.kind.category().as_str().to_owned(),
        score: 0.0,
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        output_tokens: 0,
        cost_usd: 0.0,
        error: None,
        detail: None,
        created_ms: 0,
    };
    match outcome {
        Err(_) => {
            row.error = Some(format!(
                "no answer within {}",
                humantime::format_duration(spec.timeout)
            ));
        }
        Ok(Err(e)) => row.error = Some(cut_to(&e.to_string(), KEPT_ERROR_BYTES).to_owned()),
        Ok(Ok(completion)) => {
            let usage = completion.usage;
            row.latency_ms = completion.latency_ms;
            row.output_tokens = usage.completion_tokens;
            row.cost_usd = registry.model(call.model).map_or(0.0, |entry| {
                call_cost(&entry, usage.prompt_tokens, usage.completion_tokens)
            });
            let text = completion.text();
            let mut detail = json!({
                "kind": task.kind,
                "validator": task.validator.kind(),
                "answer": cut_to(&text, KEPT_ANSWER_BYTES),
            });
            if usage.estimated {
                detail["tokens_estimated"] = json!(true);
            }
            match validate::validate(&task.validator, &text).await {
                Ok(verdict) => {
                    row.score = verdict.score;
                    detail["passed"] = json!(verdict.passed);
                    detail["check"] = verdict.detail;
                }
                Err(unjudged) => row.error = Some(unjudged.0),
            }
            row.detail = Some(detail);
        }
    }
    row.created_ms = now_ms();
    (row, complexity)
}
