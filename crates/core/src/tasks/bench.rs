//! Benchmark tasks: the engine queues, claims, leases, cancels and records them like any task,
//! and runs their work through the [`BenchRunner`] another crate registers
//! ([`TaskEngine::set_bench_runner`]; `fusion_bench` provides it — the engine cannot depend on
//! it). A benchmark run that asks a local model is dispatched under the `local` slot group and
//! holds that slot for its whole run (so a routed task for a local model waits, and its
//! `route_task` answer names the benchmark runs in its way); the runner is told so and asks
//! one model at a time. Progress the runner reports is written to the task as it comes.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::watch;

use super::run::Running;
use super::slots::SlotPermit;
use super::spec::{BenchWork, LOCAL_GROUP};
use super::{Engine, TaskEngine};
use crate::providers::ProviderRegistry;
use crate::store::{Store, TaskOutcome, TaskState};
use crate::{ErrorKind, Result};

/// Runs the work of benchmark tasks. Dropping the future it returns stops the run (cancel,
/// shutdown, a lost lease): the runner must leave the run resumable then.
pub trait BenchRunner: Send + Sync {
    fn run(&self, cx: BenchContext) -> BoxFuture<'static, Result<BenchOutcome>>;
}

/// What a runner is given.
pub struct BenchContext {
    pub task_id: String,
    pub work: BenchWork,
    /// The registry now (every model call goes through it).
    pub registry: Arc<ProviderRegistry>,
    pub store: Store,
    /// The run holds one `local` slot: it must not ask more than one model at a time.
    pub holds_local_slot: bool,
    pub progress: ProgressSender,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct BenchOutcome {
    /// The task's result (the run's summary).
    pub result: Value,
    /// Why the run counts as failed, when it does.
    pub failure: Option<String>,
    pub cost_usd: f64,
    pub tokens: u64,
}

/// Reports a running benchmark's progress to its task (the latest report wins).
#[derive(Clone)]
pub struct ProgressSender(Arc<watch::Sender<Option<(f64, String)>>>);

impl ProgressSender {
    /// `fraction` of the work done (0 to 1), and what is happening.
    pub fn report(&self, fraction: f64, message: impl Into<String>) {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.0.send_replace(Some((fraction, message.into())));
    }
}

impl TaskEngine {
    /// Lets this engine run benchmark tasks (the first runner set stays). Without one, a
    /// benchmark task this process claims fails, saying so.
    pub fn set_bench_runner(&self, runner: Arc<dyn BenchRunner>) {
        let _ = self.inner.bench_runner.set(runner);
    }

    /// Whether this engine runs benchmark tasks.
    pub fn runs_benchmarks(&self) -> bool {
        self.inner.bench_runner.get().is_some()
    }
}

/// Runs a claimed benchmark task's work, holding `permit` until it ends.
pub(crate) async fn run_bench(
    engine: &Engine,
    running: &Running,
    work: BenchWork,
    permit: SlotPermit,
) -> Result<TaskOutcome> {
    let runner = engine.bench_runner.get().cloned().ok_or_else(|| {
        crate::Error::from(ErrorKind::Invalid(
            "this Fusion process cannot run benchmark tasks (no benchmark runner)".to_owned(),
        ))
    })?;
    let (_, registry) = (engine.source)();
    let (sender, mut progress) = watch::channel(None);
    // A resumed run must not pass for one that never reached a model.
    running.mark_reached_model();
    let run = runner.run(BenchContext {
        task_id: running.id.clone(),
        work,
        registry,
        store: engine.store.clone(),
        holds_local_slot: permit.group == LOCAL_GROUP,
        progress: ProgressSender(Arc::new(sender)),
    });
    tokio::pin!(run);
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            changed = progress.changed() => {
                if changed.is_err() {
                    break (&mut run).await;
                }
                let latest = progress.borrow_and_update().clone();
                if let Some((fraction, message)) = latest {
                    write_progress(engine, running, fraction, &message).await;
                }
            }
        }
    };
    drop(permit);
    let outcome = outcome?;
    let (state, message) = match &outcome.failure {
        None => (TaskState::Completed, "completed".to_owned()),
        Some(why) => (TaskState::Failed, why.clone()),
    };
    Ok(TaskOutcome {
        state,
        result: Some(outcome.result),
        error: outcome.failure,
        cost_usd: outcome.cost_usd,
        tokens: outcome.tokens,
        model: None,
        provider: None,
        message,
    })
}

async fn write_progress(engine: &Engine, running: &Running, fraction: f64, message: &str) {
    match engine
        .store
        .set_task_progress(&running.id, &engine.owner, fraction, message)
        .await
    {
        Ok(_) => engine
            .events
            .task(&running.id, TaskState::Running, Some(fraction), message),
        Err(err) => tracing::warn!(task = %running.id, error = %err, "cannot record task progress"),
    }
}
