//! The dashboard's history writer: council runs (`councils`) and routing decisions
//! (`decisions`) are handed to [`History`], which never blocks and never writes on the caller's
//! path. A bounded channel carries them to one writer task that lets a batch gather for
//! `BATCH_WINDOW` after its first entry (a flush cuts it short), writes it (one transaction
//! per table; the rows' JSON is encoded on the blocking pool, not on an async worker), then
//! prunes both tables to their bounds ([`KEEP_DECISIONS`],
//! [`KEEP_COUNCILS`]). Routing is hot and its history expendable: when the channel is full a
//! decision is dropped and counted (`dropped`, metric `fusion_history_dropped_total`). A
//! council run is rare and cost model calls: it waits for space in a task of its own. A write
//! that fails is logged and counted (`fusion_history_write_errors_total`); the history never
//! fails the work it describes. `flush` waits until everything recorded before it is written.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use fusion_types::{CouncilResult, CouncilStatus};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::councils::{CouncilRunRow, cut};
use super::decisions::{DecisionRow, MAX_SUMMARY_CHARS};
use super::{Caller, Store, now_ms, store_error};
use crate::router::Decision;

/// Routing decisions the store keeps (the newest).
pub const KEEP_DECISIONS: u32 = 2_000;
/// Council runs the store keeps (the newest).
pub const KEEP_COUNCILS: u32 = 1_000;
/// Candidates of a decision kept in the store (the ranked ones come first); the rest are
/// counted in the stored JSON's `candidates_omitted`.
pub const MAX_STORED_CANDIDATES: usize = 16;
/// Characters of each long text of a stored council trace (an answer, the final answer, the
/// judge's raw output).
pub const MAX_TRACE_TEXT_CHARS: usize = 64 * 1024;

/// Entries the channel holds before decisions are dropped.
const CHANNEL_CAPACITY: usize = 1_024;
/// How long the writer lets a batch gather after its first entry.
const BATCH_WINDOW: Duration = Duration::from_millis(200);
/// Entries written per batch, at most.
const BATCH_ENTRIES: usize = 512;

/// A council run that just ended, as its caller hands it over.
#[derive(Debug, Clone)]
pub struct CouncilEnded {
    pub council: String,
    pub caller: Caller,
    pub question: String,
    pub result: CouncilResult,
    pub cost_usd: f64,
}

/// The history's entrance. Cheap to clone; every clone feeds the same writer.
#[derive(Clone)]
pub struct History {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<AtomicU64>,
}

enum Entry {
    /// When, for whom, the decision (candidates cut), how many candidates were cut.
    Decision(Box<(i64, Caller, Decision, usize)>),
    Council(Box<(i64, CouncilEnded)>),
    Flush(oneshot::Sender<()>),
}

impl History {
    /// Starts the writer on `runtime` (the one whose pool connections the store uses).
    pub(super) fn start(store: Store, runtime: &tokio::runtime::Handle) -> History {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        drop(runtime.spawn(writer(store, rx)));
        History {
            tx,
            dropped: Arc::default(),
        }
    }

    /// Records a routing decision made for `caller`; dropped (and counted) when the writer is
    /// behind. The decision is copied only when there is room for it.
    pub fn record_decision(&self, caller: Caller, decision: &Decision) {
        match self.tx.try_reserve() {
            Ok(permit) => {
                permit.send(Entry::Decision(Box::new((
                    now_ms(),
                    caller,
                    kept_part(decision),
                    decision
                        .candidates
                        .len()
                        .saturating_sub(MAX_STORED_CANDIDATES),
                ))));
            }
            Err(_) => self.drop_one("decision"),
        }
    }

    /// Records a council run that ended; waits for room in a task of its own when the writer is
    /// behind (lost only when there is no runtime to wait on, or the writer is gone).
    pub fn record_council(&self, ended: CouncilEnded) {
        let entry = Entry::Council(Box::new((now_ms(), ended)));
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(entry)) => {
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        let (tx, dropped) = (self.tx.clone(), Arc::clone(&self.dropped));
                        drop(runtime.spawn(async move {
                            if tx.send(entry).await.is_err() {
                                dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }));
                    }
                    Err(_) => self.drop_one("council"),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.drop_one("council"),
        }
    }

    /// Resolves once everything recorded before the call has been written (or has failed to
    /// be: see the log); an error when the writer is gone.
    pub async fn flush(&self) -> crate::Result<()> {
        let (done, wait) = oneshot::channel();
        let gone = || store_error("the history writer is gone".to_owned());
        self.tx.send(Entry::Flush(done)).await.map_err(|_| gone())?;
        wait.await.map_err(|_| gone())
    }

    /// Entries dropped since the start because the writer was behind or gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn drop_one(&self, kind: &'static str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("fusion_history_dropped_total", "kind" => kind).increment(1);
    }
}

/// The decision with its first [`MAX_STORED_CANDIDATES`] candidates only: the others are not
/// copied (with 300 models, copying them all cost a quarter of the decision itself).
fn kept_part(decision: &Decision) -> Decision {
    Decision {
        chosen: decision.chosen.clone(),
        fallbacks: decision.fallbacks.clone(),
        priority: decision.priority,
        required_quality: decision.required_quality,
        estimate: decision.estimate.clone(),
        candidates: decision
            .candidates
            .iter()
            .take(MAX_STORED_CANDIDATES)
            .cloned()
            .collect(),
        summary: decision.summary.clone(),
        retry_in_ms: decision.retry_in_ms,
        escalation: decision.escalation.clone(),
    }
}

/// The order of a row recorded at `at_ms`: microseconds since the epoch, bumped to stay
/// strictly increasing in this process. Rows are written in the order they were recorded, so a
/// batch written late still sorts by when its rows happened (across processes to the ms).
pub(super) fn next_seq(at_ms: i64) -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let base = at_ms.saturating_mul(1000);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = base.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// What one batch writes.
#[derive(Default)]
struct Batch {
    councils: Vec<(i64, CouncilEnded)>,
    decisions: Vec<(i64, Caller, Decision, usize)>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Batch {
    /// Takes an entry; `true` for a flush (the batch is written at once).
    fn take(&mut self, entry: Entry) -> bool {
        match entry {
            Entry::Decision(boxed) => {
                self.decisions.push(*boxed);
                false
            }
            Entry::Council(boxed) => {
                self.councils.push(*boxed);
                false
            }
            Entry::Flush(done) => {
                self.flushes.push(done);
                true
            }
        }
    }

    fn len(&self) -> usize {
        self.councils.len() + self.decisions.len() + self.flushes.len()
    }

    /// Encodes the rows (JSON of traces and decisions: CPU work, off the async worker), writes
    /// them, prunes, and answers the flushes.
    async fn write(self, store: &Store) {
        let Batch {
            councils,
            decisions,
            flushes,
        } = self;
        let (councils, decisions) = crate::cpu::off_worker(move || {
            let councils: Vec<CouncilRunRow> = councils
                .into_iter()
                .map(|(at_ms, ended)| council_row(at_ms, ended))
                .collect();
            let decisions: Vec<DecisionRow> = decisions
                .into_iter()
                .map(|(at_ms, caller, decision, omitted)| {
                    decision_row(at_ms, caller, &decision, omitted)
                })
                .collect();
            (councils, decisions)
        })
        .await;
        let mut wrote = false;
        if let Err(err) = store.insert_council_runs(&councils).await {
            failed("council runs", councils.len(), &err);
        } else {
            wrote |= !councils.is_empty();
        }
        if let Err(err) = store.insert_decisions(&decisions).await {
            failed("routing decisions", decisions.len(), &err);
        } else {
            wrote |= !decisions.is_empty();
        }
        if wrote {
            if let Err(err) = store.prune_council_runs(KEEP_COUNCILS).await {
                tracing::warn!("history: cannot prune council runs: {err}");
            }
            if let Err(err) = store.prune_decisions(KEEP_DECISIONS).await {
                tracing::warn!("history: cannot prune routing decisions: {err}");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn failed(what: &str, rows: usize, err: &crate::Error) {
    metrics::counter!("fusion_history_write_errors_total").increment(1);
    tracing::warn!(rows, "history: cannot record {what}, they are lost: {err}");
}

/// The writer: waits for a first entry, lets the batch gather for `BATCH_WINDOW` (a flush
/// ends the wait), writes it, and so on until every sender is gone.
async fn writer(store: Store, mut rx: mpsc::Receiver<Entry>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Batch::default();
        let mut flushing = batch.take(first);
        let deadline = Instant::now() + BATCH_WINDOW;
        while !flushing && batch.len() < BATCH_ENTRIES {
            tokio::select! {
                entry = rx.recv() => match entry {
                    Some(entry) => flushing = batch.take(entry),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        while batch.len() < BATCH_ENTRIES {
            match rx.try_recv() {
                Ok(entry) => {
                    batch.take(entry);
                }
                Err(_) => break,
            }
        }
        batch.write(&store).await;
    }
}

fn decision_row(at_ms: i64, caller: Caller, decision: &Decision, omitted: usize) -> DecisionRow {
    let mut json = serde_json::to_value(decision).unwrap_or_else(|e| {
        serde_json::json!({ "summary": decision.summary, "error": format!("cannot encode: {e}") })
    });
    let summary = cut(&decision.summary, MAX_SUMMARY_CHARS);
    if let Some(object) = json.as_object_mut() {
        if omitted > 0 {
            object.insert("candidates_omitted".into(), omitted.into());
        }
        object.insert("summary".into(), summary.clone().into());
    }
    DecisionRow {
        id: format!("decision_{:016x}", rand::random::<u64>()),
        at_ms,
        caller,
        chosen: decision.chosen.clone(),
        summary,
        decision: json,
    }
}

fn council_row(at_ms: i64, ended: CouncilEnded) -> CouncilRunRow {
    let CouncilEnded {
        council,
        caller,
        question,
        mut result,
        cost_usd,
    } = ended;
    bound_texts(&mut result);
    CouncilRunRow {
        id: format!("council_{:016x}", rand::random::<u64>()),
        at_ms,
        council,
        caller,
        question,
        status: match result.status {
            CouncilStatus::Ok => "ok",
            CouncilStatus::Error => "error",
        }
        .to_owned(),
        degraded: !result.degradation_reasons.is_empty(),
        total_ms: result.timings.total_ms,
        cost_usd,
        result: serde_json::to_value(&result).unwrap_or_else(
            |e| serde_json::json!({ "error": format!("cannot encode the trace: {e}") }),
        ),
    }
}

/// Cuts every long text of a trace to [`MAX_TRACE_TEXT_CHARS`] characters.
fn bound_texts(result: &mut CouncilResult) {
    let bound = |text: &mut String| {
        if text.len() > MAX_TRACE_TEXT_CHARS {
            *text = cut(text, MAX_TRACE_TEXT_CHARS);
        }
    };
    bound(&mut result.final_answer);
    for response in &mut result.responses {
        bound(&mut response.content);
    }
    if let Some(raw) = &mut result.raw_judge_output {
        bound(raw);
    }
}
