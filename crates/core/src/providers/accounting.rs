//! What each model call leaves behind: its outcome in the model's health and one row in the
//! usage ledger (caller, tokens, cost, latency, outcome). The caller is set by each front door
//! for the work it starts (`as_caller`) and read when a call begins, so council members and
//! streamed answers are attributed to the door that asked for them.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use fusion_types::Usage;

use super::registry::{ModelEntry, ModelSlot};
use crate::config::Tier;
use crate::store::{Caller, Ledger, UsageRecord};
use crate::{Error, ErrorKind};

tokio::task_local! {
    static CALLER: Caller;
}

/// Runs `work` with every model call inside it attributed to `caller`.
pub async fn as_caller<F: Future>(caller: Caller, work: F) -> F::Output {
    CALLER.scope(caller, work).await
}

/// The caller scope the running task is in, if any.
pub(crate) fn caller_in_scope() -> Option<Caller> {
    CALLER.try_with(|c| *c).ok()
}

/// Runs synchronous `work` (e.g. on the blocking pool) in `caller`'s scope when there is one,
/// so what it records is attributed as if it ran where it was asked for.
pub(crate) fn within_caller<T>(caller: Option<Caller>, work: impl FnOnce() -> T) -> T {
    match caller {
        Some(caller) => CALLER.sync_scope(caller, work),
        None => work(),
    }
}

/// The caller of the running task; `cli` outside any front door's scope.
pub fn current_caller() -> Caller {
    CALLER.try_with(|c| *c).unwrap_or(Caller::Cli)
}

/// How a call ended.
pub(super) enum CallOutcome<'a> {
    Ok(&'a Usage),
    Failed(&'a Error),
    /// The caller went away first (a dropped future or stream); tokens seen so far.
    Cancelled(&'a Usage),
}

/// Whether a failure says something about the model's health. A refused request (bad
/// parameters, unknown model), a full local queue, or a rate limit (HTTP 429: the model cools
/// down for its `Retry-After` instead, see `limits`) does not.
pub(super) fn counts_against_health(err: &Error) -> bool {
    match err.kind() {
        ErrorKind::UpstreamStatus { status, .. } => *status >= 500,
        ErrorKind::QueueFull { .. } | ErrorKind::Invalid(_) | ErrorKind::UnknownModel { .. } => {
            false
        }
        _ => true,
    }
}

/// Estimated USD of a call: nothing for local and free tiers, the configured price otherwise.
pub fn call_cost(entry: &ModelEntry, tokens_in: u64, tokens_out: u64) -> f64 {
    if entry.tier != Tier::Paid {
        return 0.0;
    }
    entry.price.map_or(0.0, |p| {
        (tokens_in as f64 * p.input_per_mtok + tokens_out as f64 * p.output_per_mtok) / 1e6
    })
}

fn usage_record(
    entry: &ModelEntry,
    caller: Caller,
    started: Instant,
    outcome: &CallOutcome<'_>,
) -> UsageRecord {
    let (usage, outcome) = match outcome {
        CallOutcome::Ok(usage) => (**usage, "ok".to_owned()),
        CallOutcome::Failed(err) => (Usage::default(), err.class().to_owned()),
        CallOutcome::Cancelled(usage) => (**usage, "cancelled".to_owned()),
    };
    UsageRecord {
        at_ms: crate::store::now_ms(),
        caller,
        provider: entry.provider.clone(),
        model: entry.id.clone(),
        tokens_in: usage.prompt_tokens,
        tokens_out: usage.completion_tokens,
        estimated: usage.estimated,
        cost_usd: call_cost(entry, usage.prompt_tokens, usage.completion_tokens),
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        outcome,
    }
}

/// One call in flight. `finish` reports it; dropped unfinished, it is reported as cancelled
/// (so an aborted request still shows in the ledger).
pub(super) struct CallRecord {
    slot: Arc<ModelSlot>,
    caller: Caller,
    ledger: Option<Ledger>,
    failure_threshold: u32,
    pub(super) started: Instant,
    /// Usage seen so far (streams), reported if the call is cancelled.
    pub(super) usage: Usage,
    finished: bool,
}

impl CallRecord {
    pub(super) fn start(slot: Arc<ModelSlot>, ledger: Option<Ledger>, threshold: u32) -> Self {
        Self {
            slot,
            caller: current_caller(),
            ledger,
            failure_threshold: threshold,
            started: Instant::now(),
            usage: Usage::default(),
            finished: false,
        }
    }

    pub(super) fn entry(&self) -> &ModelEntry {
        &self.slot.entry
    }

    pub(super) fn finish(&mut self, outcome: CallOutcome<'_>) {
        if self.finished {
            return;
        }
        self.finished = true;
        match &outcome {
            CallOutcome::Ok(_) => self.slot.health.on_success(self.started.elapsed()),
            CallOutcome::Failed(err) if counts_against_health(err) => {
                self.slot
                    .health
                    .on_failure(&err.to_string(), self.failure_threshold);
            }
            CallOutcome::Failed(err)
                if matches!(err.kind(), ErrorKind::UpstreamStatus { status: 429, .. }) =>
            {
                self.slot.health.on_rate_limited(&err.to_string());
            }
            CallOutcome::Failed(_) | CallOutcome::Cancelled(_) => {}
        }
        if let Some(ledger) = &self.ledger {
            ledger.record(usage_record(
                &self.slot.entry,
                self.caller,
                self.started,
                &outcome,
            ));
        }
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if !self.finished {
            let usage = std::mem::take(&mut self.usage);
            self.finish(CallOutcome::Cancelled(&usage));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Price, QualityPriors};
    use crate::providers::ModelSource;

    fn entry(tier: Tier, price: Option<Price>) -> ModelEntry {
        ModelEntry {
            id: "m".into(),
            provider: "p".into(),
            upstream_model: "m".into(),
            tier,
            context_window: None,
            price,
            quality: QualityPriors::default(),
            source: ModelSource::Config,
        }
    }

    #[test]
    fn local_and_free_calls_cost_nothing_and_paid_ones_their_price() {
        let price = Some(Price {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
        });
        assert_eq!(call_cost(&entry(Tier::Local, price), 1000, 1000), 0.0);
        assert_eq!(call_cost(&entry(Tier::Free, price), 1000, 1000), 0.0);
        let paid = call_cost(&entry(Tier::Paid, price), 1_000_000, 100_000);
        assert!((paid - 4.5).abs() < 1e-9, "{paid}");
        assert_eq!(call_cost(&entry(Tier::Paid, None), 1000, 1000), 0.0);
    }

    #[tokio::test]
    async fn the_caller_is_the_scope_of_the_front_door_and_cli_outside() {
        assert_eq!(current_caller(), Caller::Cli);
        let inside = as_caller(Caller::Mcp, async { current_caller() }).await;
        assert_eq!(inside, Caller::Mcp);
    }
}
