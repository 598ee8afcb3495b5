//! Jobs: one model call of a task. `run_job` is the one way a task calls a model — it records
//! the job, waits for a slot of the model's group (or takes the one the task was claimed
//! with), starts the call, and ends it early when the job is cancelled (dropping the call
//! aborts the upstream request). A council task runs its council through a [`CallHook`] that
//! sends every member, judge and synthesizer call through `run_job`, so each is a job of its
//! own that can be cancelled alone: the council then goes on without that member.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use fusion_types::{CouncilStatus, CutReason};
use futures::future::BoxFuture;
use serde_json::Value;

use super::Engine;
use super::new_id;
use super::run::Running;
use super::slots::SlotPermit;
use super::spec::{CouncilSpec, slot_group};
use crate::council::{self, CallHook, Seat};
use crate::providers::{Completion, ProviderRegistry, call_cost};
use crate::store::{NewJob, TaskOutcome, TaskState, now_ms};
use crate::{ErrorKind, Result};

/// The error of a call stopped by `cancel_job` (a council reports it as the member's failure).
pub(crate) const CANCELLED_BY_JOB: &str = "cancelled by cancel_job";

/// Which job a call is and the slot it may already hold.
pub(crate) struct JobSlot {
    label: String,
    /// A job recorded beforehand (council members, so each can be cancelled while waiting).
    job_id: Option<String>,
    held: Option<SlotPermit>,
}

impl JobSlot {
    pub(crate) fn new(label: String, held: Option<SlotPermit>) -> Self {
        Self {
            label,
            job_id: None,
            held,
        }
    }
}

/// Records a queued job of the running task; its id.
async fn create_job(
    engine: &Engine,
    running: &Running,
    label: &str,
    model: &str,
    provider: &str,
) -> Result<String> {
    let id = new_id("job");
    let (seq, _) = running.open_job(&id, label);
    let job = NewJob {
        id: id.clone(),
        task_id: running.id.clone(),
        attempt: running.attempt,
        seq,
        label: label.to_owned(),
        model: model.to_owned(),
        provider: provider.to_owned(),
        state: TaskState::Queued,
        started_ms: None,
    };
    if let Err(err) = engine.store.insert_job(&job).await {
        running.close_job(&id, 0.0, 0);
        return Err(err);
    }
    engine
        .events
        .job(&id, &running.id, label, TaskState::Queued, None);
    Ok(id)
}

/// One model call of a task as a job (see the module doc).
pub(crate) async fn run_job(
    engine: &Engine,
    running: &Running,
    registry: &ProviderRegistry,
    slot: JobSlot,
    model: &str,
    call: BoxFuture<'_, Result<Completion>>,
) -> Result<Completion> {
    let entry = registry.model(model);
    let provider = entry.as_ref().map_or("", |e| e.provider.as_str());
    let job_id = match slot.job_id {
        Some(id) => id,
        None => create_job(engine, running, &slot.label, model, provider).await?,
    };
    let label = slot.label;
    let Some(cancel) = running.job_token(&job_id) else {
        return Err(cancelled());
    };
    let permit = match entry.as_ref().map(slot_group) {
        None => None,
        Some(group) => match slot.held.filter(|held| held.group == group) {
            Some(held) => Some(held.arm(&engine.wake)),
            None => tokio::select! {
                biased;
                () = cancel.cancelled() => None,
                permit = engine.slots.acquire(&group) => permit,
            },
        },
    };
    let result = if cancel.is_cancelled() {
        Err(cancelled())
    } else {
        if let Err(err) = engine.store.start_job(&job_id, now_ms()).await {
            tracing::warn!(job = %job_id, error = %err, "cannot record a job's start");
        }
        running.mark_reached_model();
        engine
            .events
            .job(&job_id, &running.id, &label, TaskState::Running, None);
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(cancelled()),
            result = call => result,
        }
    };
    drop(permit);
    let (state, error, cost, tokens) = match &result {
        Ok(c) => {
            let cost = entry.as_ref().map_or(0.0, |e| {
                call_cost(e, c.usage.prompt_tokens, c.usage.completion_tokens)
            });
            let tokens = c
                .usage
                .prompt_tokens
                .saturating_add(c.usage.completion_tokens);
            (TaskState::Completed, None, cost, tokens)
        }
        Err(err) if cancel.is_cancelled() => (TaskState::Cancelled, Some(err.to_string()), 0.0, 0),
        Err(err) => (TaskState::Failed, Some(err.to_string()), 0.0, 0),
    };
    if let Err(err) = engine
        .store
        .finish_job(&job_id, state, error.as_deref(), cost, tokens, now_ms())
        .await
    {
        tracing::warn!(job = %job_id, error = %err, "cannot record a job's end");
    }
    tracing::debug!(task = %running.id, job = %job_id, label = %label, model, state = %state, "job ended");
    running.close_job(&job_id, cost, tokens);
    engine
        .events
        .job(&job_id, &running.id, &label, state, error);
    result
}

fn cancelled() -> crate::Error {
    ErrorKind::Cancelled {
        reason: CANCELLED_BY_JOB.to_owned(),
    }
    .into()
}

/// Runs a council task; `permit` is its `council` slot, held to the end.
pub(crate) async fn run_council(
    engine: &Engine,
    running: &Running,
    spec: &CouncilSpec,
    permit: SlotPermit,
) -> Result<TaskOutcome> {
    let _council_slot = permit;
    let (config, registry) = (engine.source)();
    let name = config
        .pick_council(spec.council.as_deref())
        .map_err(ErrorKind::Invalid)?
        .to_owned();
    let Some(council_config) = config.councils.get(&name) else {
        return Err(ErrorKind::Invalid(format!("no council named `{name}`")).into());
    };
    let members = council::members(council_config);
    let mut jobs = HashMap::new();
    for member in &members {
        let provider = registry
            .model(&member.seat.model)
            .map(|e| e.provider)
            .unwrap_or_default();
        let id = create_job(engine, running, &member.name, &member.seat.model, &provider).await?;
        jobs.insert(member.name.clone(), id);
    }
    let hook = CouncilJobs {
        engine,
        running,
        registry: &registry,
        members: jobs,
        panel_size: u32::try_from(members.len()).unwrap_or(u32::MAX),
        judge_calls: AtomicU32::new(0),
        steps: tokio::sync::Mutex::new(Steps::default()),
    };
    hook.progress(0.1, format!("panel: asking {} members", members.len()))
        .await;
    let result = council::run_hooked(
        &registry,
        &name,
        council_config,
        &spec.question,
        None,
        &hook,
    )
    .await;
    let ok = result.status == CouncilStatus::Ok;
    let value = serde_json::to_value(&result).unwrap_or(Value::Null);
    Ok(TaskOutcome {
        state: if ok {
            TaskState::Completed
        } else {
            TaskState::Failed
        },
        error: (!ok).then(|| result.degradation_reasons.join("; ")),
        result: Some(value),
        cost_usd: running.cost_usd(),
        tokens: running.tokens(),
        model: None,
        provider: None,
        message: if ok { "completed" } else { "failed" }.to_owned(),
    })
}

/// Sends a council's calls through `run_job`, one job each, and reports progress.
struct CouncilJobs<'a> {
    engine: &'a Engine,
    running: &'a Running,
    registry: &'a ProviderRegistry,
    /// Member name → its job, recorded before the council starts.
    members: HashMap<String, String>,
    panel_size: u32,
    judge_calls: AtomicU32,
    /// Held while a step's progress is written, so progress is recorded in order.
    steps: tokio::sync::Mutex<Steps>,
}

/// Calls ended so far, in all and of panel members.
#[derive(Default)]
struct Steps {
    all: u32,
    members: u32,
}

impl CouncilJobs<'_> {
    async fn progress(&self, progress: f64, message: String) {
        let engine = self.engine;
        let id = &self.running.id;
        if let Err(err) = engine
            .store
            .set_task_progress(id, &engine.owner, progress, &message)
            .await
        {
            tracing::warn!(task = %id, error = %err, "cannot record task progress");
        }
        engine
            .events
            .task(id, TaskState::Running, Some(progress), message);
    }

    /// One call ended: progress over panel + judge + synthesizer, never 1 before the end.
    async fn step(&self, seat: Seat<'_>) {
        let mut steps = self.steps.lock().await;
        steps.all += 1;
        let total = self.panel_size.saturating_add(2).max(1);
        let progress = (0.1 + 0.85 * f64::from(steps.all) / f64::from(total)).min(0.95);
        let message = match seat {
            Seat::Member(_) => {
                steps.members += 1;
                format!(
                    "panel: {} of {} members done",
                    steps.members, self.panel_size
                )
            }
            Seat::Judge => "judge done".to_owned(),
            Seat::Synthesizer => "synthesizer done".to_owned(),
        };
        self.progress(progress, message).await;
    }
}

impl CallHook for CouncilJobs<'_> {
    fn call<'a>(
        &'a self,
        seat: Seat<'a>,
        model: &'a str,
        call: BoxFuture<'a, Result<Completion>>,
    ) -> BoxFuture<'a, Result<Completion>> {
        Box::pin(async move {
            let slot = match seat {
                Seat::Member(name) => JobSlot {
                    label: name.to_owned(),
                    job_id: self.members.get(name).cloned(),
                    held: None,
                },
                Seat::Judge => {
                    let n = self.judge_calls.fetch_add(1, Ordering::Relaxed);
                    let label = if n == 0 { "judge" } else { "judge (retry)" };
                    JobSlot::new(label.to_owned(), None)
                }
                Seat::Synthesizer => JobSlot::new("synthesizer".to_owned(), None),
            };
            let result = run_job(self.engine, self.running, self.registry, slot, model, call).await;
            self.step(seat).await;
            result
        })
    }

    /// A member the council cut: its job (its call dropped, or never made) ends cancelled,
    /// saying why, instead of staying open until the task ends.
    fn cut<'a>(&'a self, seat: Seat<'a>, reason: CutReason) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Seat::Member(name) = seat else {
                return;
            };
            let Some(job_id) = self.members.get(name) else {
                return;
            };
            let error = format!("cut by the council: {reason}");
            let (engine, state) = (self.engine, TaskState::Cancelled);
            if let Err(err) = engine
                .store
                .finish_job(job_id, state, Some(&error), 0.0, 0, now_ms())
                .await
            {
                tracing::warn!(job = %job_id, error = %err, "cannot record a job's end");
            }
            self.running.close_job(job_id, 0.0, 0);
            engine
                .events
                .job(job_id, &self.running.id, name, state, Some(error));
            self.step(seat).await;
        })
    }
}
