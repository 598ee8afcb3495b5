//! The dispatcher: one loop per engine that recovers tasks whose lease expired (at start, then
//! every half lease) and claims queued tasks while their slot groups have free slots. A slot is
//! taken before the claim, so a claimed task always has one (nothing sits claimed but idle).
//! It wakes on submits and released slots in this process and polls the store every
//! `poll_interval` for work other processes queued.

use std::sync::{Arc, PoisonError};

use tokio::time::Instant;

use super::Engine;
use super::run::run_task;
use crate::Result;
use crate::config::OnInterrupt;
use crate::store::{TaskState, now_ms};

/// Starts the loop; it ends when the engine stops or is dropped.
pub(crate) fn spawn(engine: &Arc<Engine>) {
    let weak = Arc::downgrade(engine);
    let stop = engine.stop.clone();
    let wake = Arc::clone(&engine.wake);
    let poll = engine.config.poll_interval;
    let recover_every = (engine.config.lease / 2).max(poll);
    engine.tracker.spawn(async move {
        let mut last_recovery: Option<Instant> = None;
        loop {
            if stop.is_cancelled() {
                break;
            }
            let Some(engine) = weak.upgrade() else { break };
            if last_recovery.is_none_or(|at| at.elapsed() >= recover_every) {
                last_recovery = Some(Instant::now());
                if let Err(err) = recover(&engine).await {
                    tracing::warn!(error = %err, "cannot recover tasks with expired leases");
                }
            }
            loop {
                if stop.is_cancelled() {
                    break;
                }
                match claim_one(&engine).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot claim a task");
                        break;
                    }
                }
            }
            drop(engine);
            tokio::select! {
                () = stop.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
        tracing::debug!("task dispatcher stopped");
    });
}

/// Requeues, fails or cancels the tasks of processes whose lease expired.
async fn recover(engine: &Engine) -> Result<()> {
    let requeue = engine.config.on_interrupt == OnInterrupt::Requeue;
    let alive: Vec<String> = {
        let running = engine
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.keys().cloned().collect()
    };
    let recovered = engine
        .store
        .recover_expired_tasks(now_ms(), requeue, &alive)
        .await?;
    for id in &recovered.requeued {
        let message = "requeued: the process running it stopped";
        engine
            .events
            .task(id, TaskState::Queued, Some(0.0), message);
    }
    for id in &recovered.failed {
        let message = "interrupted: the process running it stopped";
        engine.events.task(id, TaskState::Failed, None, message);
    }
    for id in &recovered.cancelled {
        let message = "cancelled: the process running it stopped first";
        engine.events.task(id, TaskState::Cancelled, None, message);
    }
    Ok(())
}

/// Claims one task of a group with a free slot and starts it; false when there was none.
async fn claim_one(engine: &Arc<Engine>) -> Result<bool> {
    let (config, _) = (engine.source)();
    let mut permits: Vec<_> = engine
        .slots
        .dispatch_groups(&config)
        .iter()
        .filter_map(|group| engine.slots.try_acquire(group))
        .collect();
    if permits.is_empty() {
        return Ok(false);
    }
    let groups: Vec<String> = permits.iter().map(|p| p.group.clone()).collect();
    let now = now_ms();
    let lease_until = now.saturating_add(engine.lease_ms());
    let Some(task) = engine
        .store
        .claim_task(&engine.owner, now, lease_until, &groups)
        .await?
    else {
        return Ok(false);
    };
    let Some(i) = permits.iter().position(|p| p.group == task.task.slot_group) else {
        // Cannot happen (the claim was limited to these groups); leave it to recovery.
        tracing::error!(task = %task.task.id, group = %task.task.slot_group, "claimed a task of a group without a slot");
        return Ok(false);
    };
    let permit = permits.swap_remove(i).arm(&engine.wake);
    drop(permits);
    engine
        .tracker
        .spawn(run_task(Arc::clone(engine), task, permit));
    Ok(true)
}
