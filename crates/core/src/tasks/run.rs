//! One claimed task's life in this process: registered as running, its work executed (a
//! completion here, a council in `jobs`, a benchmark in `bench`) inside the `task` caller scope, its lease renewed
//! every third of the lease (which is also when a cancellation asked for by another process is
//! noticed), aborted on cancel, shutdown or a lost lease by dropping the work (and with it
//! every in-flight upstream request), and its outcome recorded — only while this process still
//! owns it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::jobs::{JobSlot, run_council, run_job};
use super::slots::SlotPermit;
use super::spec::{CompletionSpec, TaskWork};
use crate::config::OnInterrupt;
use crate::providers::{Completion, FailedAttempt, as_caller};
use crate::store::{Caller, TaskOutcome, TaskState, TaskView, now_ms};
use crate::{ErrorKind, Result};

/// Why running work was stopped before it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// `cancel_task`, here or in another process.
    Cancelled,
    /// This process is shutting down.
    Shutdown,
    /// Another process recovered the task (this one's lease expired).
    Lost,
}

/// An open job of a running task: how to cancel it and how to know it stopped.
struct OpenJob {
    label: String,
    cancel: CancellationToken,
    done: CancellationToken,
}

/// A task running in this process.
pub(crate) struct Running {
    pub(crate) id: String,
    /// The task attempt (1-based) this run is.
    pub(crate) attempt: u32,
    token: CancellationToken,
    reason: Mutex<Option<Abort>>,
    /// Cancelled once the outcome is recorded.
    pub(crate) finished: CancellationToken,
    jobs: Mutex<HashMap<String, OpenJob>>,
    next_job: AtomicU32,
    /// A job of this attempt started a model call.
    reached_model: AtomicBool,
    /// Sums over finished jobs: cost in micro-dollars (atomic), tokens.
    cost_micros: AtomicU64,
    tokens: AtomicU64,
}

impl Running {
    fn new(id: &str, attempt: u32) -> Self {
        Self {
            id: id.to_owned(),
            attempt,
            token: CancellationToken::new(),
            reason: Mutex::new(None),
            finished: CancellationToken::new(),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU32::new(0),
            reached_model: AtomicBool::new(false),
            cost_micros: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
        }
    }

    /// Stops the work; the first reason given wins.
    pub(crate) fn abort(&self, reason: Abort) {
        let mut current = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        if current.is_none() {
            *current = Some(reason);
        }
        self.token.cancel();
    }

    fn reason(&self) -> Option<Abort> {
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cancels an open job of this task; its `done` token, or `None` when it is not open here.
    pub(crate) fn cancel_job(&self, job_id: &str) -> Option<CancellationToken> {
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let job = jobs.get(job_id)?;
        job.cancel.cancel();
        Some(job.done.clone())
    }

    /// The cancel token of an open job of this task.
    pub(crate) fn job_token(&self, job_id: &str) -> Option<CancellationToken> {
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.get(job_id).map(|job| job.cancel.clone())
    }

    /// Registers an open job: its 1-based order in the task and its cancel token.
    pub(crate) fn open_job(&self, job_id: &str, label: &str) -> (u32, CancellationToken) {
        let cancel = CancellationToken::new();
        let job = OpenJob {
            label: label.to_owned(),
            cancel: cancel.clone(),
            done: CancellationToken::new(),
        };
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.insert(job_id.to_owned(), job);
        (self.next_job.fetch_add(1, Ordering::Relaxed) + 1, cancel)
    }

    /// A job ended: its cost and tokens count towards the task.
    pub(crate) fn close_job(&self, job_id: &str, cost_usd: f64, tokens: u64) {
        let micros = (cost_usd * 1e6).round().max(0.0) as u64;
        self.cost_micros.fetch_add(micros, Ordering::Relaxed);
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(job) = jobs.remove(job_id) {
            job.done.cancel();
        }
    }

    pub(crate) fn mark_reached_model(&self) {
        self.reached_model.store(true, Ordering::Relaxed);
    }

    pub(crate) fn cost_usd(&self) -> f64 {
        self.cost_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    pub(crate) fn tokens(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }

    /// The jobs still open (id, label, done token), forgotten.
    fn take_open_jobs(&self) -> Vec<(String, String, CancellationToken)> {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.drain().map(|(id, j)| (id, j.label, j.done)).collect()
    }

    /// Forgets the open jobs without recording them (the task is no longer ours); whoever
    /// waits for one of them stops waiting.
    fn forget_open_jobs(&self) {
        for (_, _, done) in self.take_open_jobs() {
            done.cancel();
        }
    }
}

/// Runs a claimed task to its end (or abort) and records what happened.
pub(crate) async fn run_task(engine: Arc<Engine>, task: TaskView, permit: SlotPermit) {
    let id = task.task.id.clone();
    let running = Arc::new(Running::new(&id, task.task.attempts));
    {
        let mut all = engine
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.insert(id.clone(), Arc::clone(&running));
    }
    if engine.stop.is_cancelled() {
        running.abort(Abort::Shutdown);
    }
    tracing::info!(task = %id, attempt = running.attempt, group = %permit.group, "task started");
    engine
        .events
        .task(&id, TaskState::Running, Some(0.0), "started");
    let work = as_caller(
        Caller::Task,
        guarded(&running, execute(&engine, &task, &running, permit)),
    );
    let outcome = supervise(&engine, &running, work).await;
    record(&engine, &running, outcome).await;
    {
        let mut all = engine
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.remove(&id);
    }
    running.finished.cancel();
    engine.wake.notify_one();
}

/// Drives the work while renewing the lease; `None` when it was aborted.
async fn supervise(
    engine: &Engine,
    running: &Running,
    work: impl Future<Output = TaskOutcome>,
) -> Option<TaskOutcome> {
    tokio::pin!(work);
    let period = (engine.config.lease / 3).max(std::time::Duration::from_millis(50));
    let mut renew = tokio::time::interval_at(Instant::now() + period, period);
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut lease_until = now_ms().saturating_add(engine.lease_ms());
    loop {
        tokio::select! {
            biased;
            () = running.token.cancelled() => return None,
            outcome = &mut work => return Some(outcome),
            _ = renew.tick() => {
                let until = now_ms().saturating_add(engine.lease_ms());
                match engine.store.renew_lease(&running.id, &engine.owner, until).await {
                    Ok(Some(state)) => {
                        lease_until = until;
                        if state.cancel_requested {
                            tracing::info!(task = %running.id, "cancellation requested; stopping");
                            running.abort(Abort::Cancelled);
                        }
                        for job in state.cancelled_jobs {
                            running.cancel_job(&job);
                        }
                    }
                    Ok(None) => {
                        tracing::warn!(task = %running.id, "task no longer ours (lease lost); stopping");
                        running.abort(Abort::Lost);
                    }
                    Err(err) => {
                        tracing::warn!(task = %running.id, error = %err, "cannot renew task lease");
                        if now_ms() >= lease_until {
                            // Another process may recover it now: never run it twice.
                            running.abort(Abort::Lost);
                        }
                    }
                }
            }
        }
    }
}

/// The work's outcome; a panic in it fails the task with the panic's message (a bug must not
/// pass for "the process running it stopped").
async fn guarded(running: &Running, work: impl Future<Output = TaskOutcome>) -> TaskOutcome {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = crate::cpu::panic_message(payload.as_ref());
            tracing::error!(task = %running.id, panic = %message, "task work panicked");
            TaskOutcome {
                state: TaskState::Failed,
                result: None,
                error: Some(format!("internal error in Fusion: {message}")),
                cost_usd: running.cost_usd(),
                tokens: running.tokens(),
                model: None,
                provider: None,
                message: "failed".to_owned(),
            }
        }
    }
}

/// The task's work: its outcome, never an error (failures are a `failed` outcome).
async fn execute(
    engine: &Engine,
    task: &TaskView,
    running: &Running,
    permit: SlotPermit,
) -> TaskOutcome {
    let work = serde_json::from_value::<TaskWork>(task.request.clone()).map_err(|e| {
        crate::Error::from(ErrorKind::Invalid(format!(
            "task `{}` has an unreadable request: {e}",
            task.task.id
        )))
    });
    let outcome = match work {
        Ok(TaskWork::Completion(spec)) => run_completion(engine, task, running, &spec, permit)
            .await
            .map(|(completion, failed)| completion_outcome(running, completion, failed)),
        Ok(TaskWork::Council(spec)) => run_council(engine, running, &spec, permit).await,
        Ok(TaskWork::Bench(work)) => super::bench::run_bench(engine, running, work, permit).await,
        Err(err) => Err(err),
    };
    outcome.unwrap_or_else(|err| TaskOutcome {
        state: TaskState::Failed,
        result: None,
        error: Some(err.to_string()),
        cost_usd: running.cost_usd(),
        tokens: running.tokens(),
        model: None,
        provider: None,
        message: "failed".to_owned(),
    })
}

/// The chosen model, then the stored decision's fallbacks, one job per attempted model.
async fn run_completion(
    engine: &Engine,
    task: &TaskView,
    running: &Running,
    spec: &CompletionSpec,
    permit: SlotPermit,
) -> Result<(Completion, Vec<FailedAttempt>)> {
    let (_, registry) = (engine.source)();
    let request = fusion_types::ChatRequest {
        messages: spec.messages.clone(),
        temperature: spec.temperature,
        max_tokens: spec.max_tokens,
        ..fusion_types::ChatRequest::default()
    };
    let first = Mutex::new(Some(permit));
    let attempts = AtomicU32::new(0);
    let call = |model: String| {
        let request = request.clone();
        let registry = &registry;
        let first = &first;
        let attempts = &attempts;
        async move {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let held = first.lock().unwrap_or_else(PoisonError::into_inner).take();
            let slot = JobSlot::new(format!("attempt {n}"), held);
            let message = format!("attempt {n}: asking {model}");
            match engine
                .store
                .set_task_progress(&running.id, &engine.owner, 0.1, &message)
                .await
            {
                Ok(_) => engine
                    .events
                    .task(&running.id, TaskState::Running, Some(0.1), message),
                Err(err) => {
                    tracing::warn!(task = %running.id, error = %err, "cannot record task progress")
                }
            }
            let chat = Box::pin(registry.chat(&model, request));
            run_job(engine, running, registry, slot, &model, chat).await
        }
    };
    if let Some(model) = &spec.model {
        return call(model.clone()).await.map(|c| (c, Vec::new()));
    }
    let decision = task.decision.as_ref().unwrap_or(&Value::Null);
    let models: Vec<String> = decision
        .get("chosen")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .into_iter()
        .chain(
            decision
                .get("fallbacks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str().map(str::to_owned)),
        )
        .collect();
    let summary = decision
        .get("summary")
        .and_then(Value::as_str)
        .unwrap_or("the task has no routing decision");
    let (_, failed, completion) = registry.in_ranked_order(&models, summary, call).await?;
    Ok((completion, failed))
}

fn completion_outcome(
    running: &Running,
    completion: Completion,
    failed: Vec<FailedAttempt>,
) -> TaskOutcome {
    let result = json!({
        "response": completion.response,
        "text": completion.text(),
        "model": completion.model,
        "provider": completion.provider,
        "usage": completion.usage,
        "cost_usd": running.cost_usd(),
        "latency_ms": completion.latency_ms,
        "failed_attempts": failed,
    });
    TaskOutcome {
        state: TaskState::Completed,
        result: Some(result),
        error: None,
        cost_usd: running.cost_usd(),
        tokens: running.tokens(),
        model: Some(completion.model),
        provider: Some(completion.provider),
        message: "completed".to_owned(),
    }
}

/// Writes the outcome (or what an abort means), closes jobs left open, and says so.
async fn record(engine: &Engine, running: &Running, outcome: Option<TaskOutcome>) {
    let id = &running.id;
    let store = &engine.store;
    let now = now_ms();
    let interrupted = format!(
        "interrupted: the process running it stopped (attempt {})",
        running.attempt
    );
    let (written, state, message, job_state, job_error) = match outcome {
        Some(outcome) => {
            let state = outcome.state;
            let message = outcome.message.clone();
            let written = store.finish_task(id, &engine.owner, now, &outcome).await;
            let job_error = "stopped: its task ended first".to_owned();
            (written, state, message, TaskState::Failed, job_error)
        }
        None => match running.reason() {
            Some(Abort::Lost) | None => {
                tracing::warn!(task = %id, "task was recovered elsewhere; its outcome here is dropped");
                running.forget_open_jobs();
                return;
            }
            Some(Abort::Cancelled) => {
                let outcome = aborted(running, TaskState::Cancelled, "cancelled by cancel_task");
                let written = store.finish_task(id, &engine.owner, now, &outcome).await;
                let message = outcome.message.clone();
                let error = "cancelled with its task".to_owned();
                (
                    written,
                    TaskState::Cancelled,
                    message,
                    TaskState::Cancelled,
                    error,
                )
            }
            Some(Abort::Shutdown) => {
                let reached = running.reached_model.load(Ordering::Relaxed);
                let requeue = !reached || engine.config.on_interrupt == OnInterrupt::Requeue;
                if requeue {
                    let message = if reached {
                        format!("requeued: {interrupted}")
                    } else {
                        "requeued: the process shut down before any model call".to_owned()
                    };
                    // A cancel asked for from another process (not yet noticed here) ends
                    // it cancelled instead: never run again elsewhere.
                    match store.requeue_task(id, &engine.owner, now, &message).await {
                        Ok(Some(TaskState::Cancelled)) => (
                            Ok(true),
                            TaskState::Cancelled,
                            "cancelled by cancel_task".to_owned(),
                            TaskState::Cancelled,
                            "cancelled with its task".to_owned(),
                        ),
                        requeued => (
                            requeued.map(|state| state.is_some()),
                            TaskState::Queued,
                            message,
                            TaskState::Failed,
                            interrupted,
                        ),
                    }
                } else {
                    let outcome = aborted(running, TaskState::Failed, &interrupted);
                    let written = store.finish_task(id, &engine.owner, now, &outcome).await;
                    (
                        written,
                        TaskState::Failed,
                        interrupted.clone(),
                        TaskState::Failed,
                        interrupted,
                    )
                }
            }
        },
    };
    match written {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(task = %id, "task was no longer ours when it ended; outcome dropped");
            running.forget_open_jobs();
            return;
        }
        Err(err) => tracing::error!(task = %id, error = %err, "cannot record the task outcome"),
    }
    for (job_id, label, done) in running.take_open_jobs() {
        if let Err(err) = store
            .finish_job(&job_id, job_state, Some(&job_error), 0.0, 0, now)
            .await
        {
            tracing::warn!(job = %job_id, error = %err, "cannot record a job's end");
        }
        engine
            .events
            .job(&job_id, id, &label, job_state, Some(job_error.clone()));
        done.cancel();
    }
    if let Err(err) = store.finish_open_jobs(id, job_state, &job_error, now).await {
        tracing::warn!(task = %id, error = %err, "cannot close the task's jobs");
    }
    tracing::info!(task = %id, state = %state, "{message}");
    let progress = (state == TaskState::Completed).then_some(1.0);
    engine.events.task(id, state, progress, message);
}

fn aborted(running: &Running, state: TaskState, error: &str) -> TaskOutcome {
    TaskOutcome {
        state,
        result: None,
        error: Some(error.to_owned()),
        cost_usd: running.cost_usd(),
        tokens: running.tokens(),
        model: None,
        provider: None,
        message: error.to_owned(),
    }
}
