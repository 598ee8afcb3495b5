//! Durable async tasks: the `TaskEngine`, the worker pool inside `fusion serve` and
//! `fusion mcp`. A client submits a task (a routed completion or a council run) and gets its id
//! at once; the task waits in the store's queue (priority first, then age) until its slot group
//! has a free slot in some process, which claims it, runs it as jobs (one model call each,
//! attributed to the `task` caller in the usage ledger) and records the outcome. Running tasks
//! hold a lease their process renews; a task whose process stopped is recovered by any process
//! once the lease expires (`[tasks] on_interrupt`). Tasks and jobs can be cancelled from any
//! process. Submodules: `spec` (what is submitted, validation), `slots` (concurrency groups),
//! `dispatch` (claiming and recovery), `run` (one task's life: lease, abort, outcome), `jobs`
//! (one model call, and the council's per-member hook), `events` (the broadcast of changes).

mod answer;
mod bench;
mod dispatch;
mod events;
mod jobs;
mod queue;
mod run;
mod slots;
mod spec;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, TasksConfig};
use crate::providers::{ProviderRegistry, current_caller};
use crate::router::Decision;
use crate::store::{NewTask, Store, now_ms};
use crate::{ErrorKind, Result};

pub use crate::store::{
    CancelOutcome, JobView, TaskFilter, TaskKind, TaskPage, TaskState, TaskSummary, TaskView,
};
pub use bench::{BenchContext, BenchOutcome, BenchRunner, ProgressSender};
pub use events::{TaskEvent, TaskEventKind};
pub use queue::{BenchContention, Contention, QueueView, SlotGroupView};
pub use spec::{
    BENCH_GROUP, BENCH_PRIORITY, BenchWork, COUNCIL_GROUP, CompletionSpec, CouncilSpec,
    LOCAL_GROUP, PRIORITY_RANGE, RouteHints, TaskSpec, TaskWork, slot_group,
};

use events::Events;
use run::{Abort, Running};
use slots::Slots;

/// The current configuration and registry (`fusion serve` hot-reloads both; the engine asks
/// for them per task).
pub type EngineSource = Arc<dyn Fn() -> (Arc<Config>, Arc<ProviderRegistry>) + Send + Sync>;

/// A source that always answers with `config` and `registry`.
pub fn fixed_source(config: Arc<Config>, registry: Arc<ProviderRegistry>) -> EngineSource {
    Arc::new(move || (Arc::clone(&config), Arc::clone(&registry)))
}

/// How long `cancel_task` / `cancel_job` wait for work running in this process to stop.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// What `submit` answers at once.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub id: String,
    pub state: TaskState,
    /// 1-based place in the queue.
    pub position: Option<u64>,
    pub slot_group: String,
    /// The model chosen (or named) for a completion.
    pub model: Option<String>,
    /// The routing decision taken at submit (routed completions).
    pub decision: Option<Decision>,
}

/// The worker pool. Cheap to clone; [`TaskEngine::shutdown`] stops it.
#[derive(Clone)]
pub struct TaskEngine {
    inner: Arc<Engine>,
}

/// What the dispatcher, the running tasks and the public API share.
pub(crate) struct Engine {
    pub(crate) store: Store,
    pub(crate) source: EngineSource,
    pub(crate) config: TasksConfig,
    pub(crate) owner: String,
    pub(crate) slots: Slots,
    pub(crate) events: Events,
    pub(crate) wake: Arc<Notify>,
    pub(crate) stop: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) running: Mutex<HashMap<String, Arc<Running>>>,
    /// Runs benchmark tasks, once another crate registered one.
    pub(crate) bench_runner: OnceLock<Arc<dyn BenchRunner>>,
}

impl Engine {
    pub(crate) fn running(&self, id: &str) -> Option<Arc<Running>> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.get(id).cloned()
    }

    pub(crate) fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

/// `PREFIX_` followed by 16 random hex digits.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

/// Strictly increasing in this process (microseconds since the epoch, bumped on collisions):
/// orders tasks created in the same millisecond.
fn next_seq() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms().saturating_mul(1000);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

impl TaskEngine {
    /// Starts the dispatcher on the current tokio runtime: it recovers tasks whose lease
    /// expired, then claims queued tasks while their groups have free slots, waking on each
    /// submit in this process and polling the store every `config.poll_interval`.
    pub fn start(store: Store, source: EngineSource, config: TasksConfig) -> TaskEngine {
        let wake = Arc::new(Notify::new());
        let owner = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        let inner = Arc::new(Engine {
            store,
            source,
            slots: Slots::new(config.clone(), Arc::clone(&wake)),
            config,
            owner,
            events: Events::new(),
            wake,
            stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
            running: Mutex::new(HashMap::new()),
            bench_runner: OnceLock::new(),
        });
        tracing::info!(owner = %inner.owner, "task engine started");
        dispatch::spawn(&inner);
        TaskEngine { inner }
    }

    /// Takes the slot limits of a reloaded `[tasks]` (its lease, poll interval and
    /// `on_interrupt` take effect at the next start).
    pub fn reconfigure(&self, config: TasksConfig) {
        self.inner.slots.reconfigure(config);
    }

    /// This process's owner id, as written in the `owner` of the tasks it runs.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Validates, routes (completions) and queues a task; answers at once.
    pub async fn submit(&self, spec: TaskSpec) -> Result<Submitted> {
        let (config, registry) = (self.inner.source)();
        // Routing counts the prompt's tokens: off the async worker when the prompt is large.
        let bytes = match &spec.work {
            TaskWork::Completion(completion) => crate::tokens::message_bytes(&completion.messages),
            TaskWork::Council(_) | TaskWork::Bench(_) => 0,
        };
        let (spec, prepared) = crate::cpu::sized(bytes, move || {
            let prepared = spec::prepare(&spec, &config, &registry);
            (spec, prepared)
        })
        .await;
        let prepared = prepared?;
        let id = new_id("task");
        let request = serde_json::to_value(&prepared.work)
            .map_err(|e| ErrorKind::Invalid(format!("task request: {e}")))?;
        let decision = prepared
            .decision
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| ErrorKind::Invalid(format!("routing decision: {e}")))?;
        let task = NewTask {
            id: id.clone(),
            kind: prepared.kind,
            priority: spec.priority,
            created_ms: now_ms(),
            seq: next_seq(),
            slot_group: prepared.slot_group.clone(),
            request,
            decision,
            model: prepared.model.clone(),
            provider: prepared.provider.clone(),
            caller: spec.caller.unwrap_or_else(current_caller).to_string(),
        };
        self.inner.store.insert_task(&task).await?;
        tracing::info!(task = %id, kind = task.kind.as_str(), group = %task.slot_group,
            priority = task.priority, "task queued");
        self.inner
            .events
            .task(&id, TaskState::Queued, Some(0.0), "queued");
        // Read back before waking the dispatcher, so the position is the one at submit; a
        // process polling the store may still have claimed it already (then it is running).
        let (state, position) = match self.inner.store.get_task(&id).await? {
            Some(view) => (view.task.state, view.task.position),
            None => (TaskState::Queued, None),
        };
        self.inner.wake.notify_one();
        Ok(Submitted {
            id,
            state,
            position,
            slot_group: prepared.slot_group,
            model: prepared.model,
            decision: prepared.decision,
        })
    }

    /// A task with its jobs, its place in the queue while queued, and its result once done.
    pub async fn get(&self, id: &str) -> Result<TaskView> {
        self.inner
            .store
            .get_task(id)
            .await?
            .ok_or_else(|| ErrorKind::TaskNotFound { id: id.to_owned() }.into())
    }

    /// A page of tasks, newest first.
    pub async fn list(&self, filter: TaskFilter) -> Result<TaskPage> {
        self.inner.store.list_tasks(&filter).await
    }

    /// Cancels a task: a queued one at once; a running one by aborting every job (the
    /// in-flight upstream requests are dropped). A task running in another process stops at
    /// that process's next lease renewal (`Requested`). Unknown ids and ended tasks are errors.
    pub async fn cancel_task(&self, id: &str) -> Result<CancelOutcome> {
        let outcome = self.inner.store.cancel_task(id, now_ms()).await?;
        match &outcome {
            CancelOutcome::Cancelled => {
                tracing::info!(task = %id, "queued task cancelled");
                self.inner
                    .events
                    .task(id, TaskState::Cancelled, None, "cancelled while queued");
                Ok(outcome)
            }
            CancelOutcome::Requested { .. } => match self.inner.running(id) {
                Some(running) => {
                    running.abort(Abort::Cancelled);
                    if !stopped(&running.finished).await {
                        return Ok(outcome);
                    }
                    // It may have ended on its own just before the abort reached it.
                    match self.inner.store.task_state(id).await? {
                        Some(TaskState::Cancelled) => Ok(CancelOutcome::Cancelled),
                        Some(state) if state.is_final() => Err(ErrorKind::TaskFinished {
                            id: id.to_owned(),
                            state: state.to_string(),
                        }
                        .into()),
                        _ => Ok(outcome),
                    }
                }
                None => Ok(outcome),
            },
        }
    }

    /// Cancels one job. In a council the council goes on without that member (it counts as a
    /// failed member, "cancelled by cancel_job"); cancelling a completion's job cancels the
    /// task. A job of a task running in another process stops at that process's next lease
    /// renewal (`Requested`). Unknown ids and ended jobs are errors.
    pub async fn cancel_job(&self, id: &str) -> Result<CancelOutcome> {
        let store = &self.inner.store;
        let job = store
            .get_job(id)
            .await?
            .ok_or_else(|| ErrorKind::JobNotFound { id: id.to_owned() })?;
        let finished = || -> crate::Error {
            ErrorKind::JobFinished {
                id: id.to_owned(),
                state: job.state.to_string(),
            }
            .into()
        };
        if job.state.is_final() {
            return Err(finished());
        }
        let task = self.get(&job.task_id).await?;
        if task.task.kind == TaskKind::Completion {
            return self.cancel_task(&job.task_id).await;
        }
        if !store.request_job_cancel(id).await? {
            return Err(finished());
        }
        let local = self
            .inner
            .running(&job.task_id)
            .and_then(|running| running.cancel_job(id));
        match local {
            Some(done) => {
                let outcome = CancelOutcome::Requested {
                    owner: Some(self.inner.owner.clone()),
                };
                if !stopped(&done).await {
                    return Ok(outcome);
                }
                // It may have ended on its own just before the cancel reached it.
                match store.get_job(id).await?.map(|job| job.state) {
                    Some(TaskState::Cancelled) => Ok(CancelOutcome::Cancelled),
                    Some(state) if state.is_final() => Err(ErrorKind::JobFinished {
                        id: id.to_owned(),
                        state: state.to_string(),
                    }
                    .into()),
                    _ => Ok(outcome),
                }
            }
            None => Ok(CancelOutcome::Requested {
                owner: task.task.owner,
            }),
        }
    }

    /// Every task and job change this process makes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.inner.events.subscribe()
    }

    /// Stops claiming, then stops the tasks running here: one that never reached a model is
    /// queued again; one interrupted mid-call is queued again or failed per
    /// `tasks.on_interrupt`. Returns once they are recorded and their leases released.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let running: Vec<Arc<Running>> = {
            let running = self
                .inner
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            running.values().cloned().collect()
        };
        for task in &running {
            task.abort(Abort::Shutdown);
        }
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        tracing::info!(owner = %self.inner.owner, stopped = running.len(), "task engine stopped");
    }
}

/// Waits (up to [`CANCEL_WAIT`]) for local work to stop; whether it did.
async fn stopped(done: &CancellationToken) -> bool {
    tokio::time::timeout(CANCEL_WAIT, done.cancelled())
        .await
        .is_ok()
}
