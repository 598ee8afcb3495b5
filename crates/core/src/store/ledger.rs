//! The usage ledger: the request path hands rows to `record`, which never blocks; a bounded
//! channel carries them to one writer that wakes once per `BATCH_WINDOW` (not once per row), or
//! as soon as a whole batch is waiting, and writes what has gathered, up to `BATCH_ROWS` rows, in
//! one transaction. On SQLite the writer runs on its own thread (the statement work and the
//! driver's worker then stay off the request path's tokio workers); on PostgreSQL it is a task of
//! the runtime that opened the store (its pooled connections belong to that runtime's I/O
//! driver).
//!
//! Memory is bounded: a full channel spills into one overflow queue the writer drains next, and
//! beyond `OVERFLOW_ROWS` waiting rows (the store is down or far too slow) a row is dropped and
//! counted (`fusion_ledger_rows_dropped_total`, and `flush` reports it) rather than held. Short of
//! that nothing is lost: a failed write is retried with backoff and the rows kept, rows recorded
//! after shutdown are written directly, and whatever still cannot be written is logged with its
//! count. `flush` waits for every row recorded before it.
//!
//! The ledger also carries the dashboard's [`History`] (its own writer, started with the
//! ledger's; `shutdown` flushes it first).
//!
//! Every row gets a sequence number when recorded; `Progress::watermark` is the first number
//! not yet written, so "every row before the call is in the store" is `watermark >= target`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Mutex, Notify, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::history::History;
use super::usage::UsageRecord;
use super::{Store, store_error};
use crate::error::ErrorKind;

/// Rows written per transaction, at most.
const BATCH_ROWS: usize = 4096;
/// How long the writer lets a batch gather after its first row (a flush cuts it short).
const BATCH_WINDOW: Duration = Duration::from_millis(200);
/// Rows the channel holds before `record` spills into the overflow queue.
const CHANNEL_CAPACITY: usize = 8192;
/// Rows the overflow queue holds before `record` drops (and counts) a row: with the channel,
/// at most 64 Ki rows (~13 MB) wait in memory.
const OVERFLOW_ROWS: usize = 65_536 - CHANNEL_CAPACITY;
/// Waits between the attempts of one write (so 1 + this many attempts).
const RETRY_BACKOFF: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(250),
    Duration::from_secs(1),
];
/// After a write failed every attempt, the writer waits this long (doubling) before trying again.
const COOLDOWN_START: Duration = Duration::from_secs(1);
const COOLDOWN_MAX: Duration = Duration::from_secs(30);

/// The usage ledger. Cheap to clone; every clone feeds the same writer.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Queued>,
    shared: Arc<Shared>,
}

struct Queued {
    seq: u64,
    row: UsageRecord,
}

/// How many rows may wait in memory; [`Ledger::start`] uses the defaults, tests shrink them.
#[derive(Debug, Clone, Copy)]
pub struct LedgerLimits {
    /// Rows the channel to the writer holds.
    pub channel: usize,
    /// Rows the overflow queue holds once the channel is full.
    pub overflow: usize,
    /// Rows written per transaction, at most.
    pub batch: usize,
}

impl Default for LedgerLimits {
    fn default() -> Self {
        LedgerLimits {
            channel: CHANNEL_CAPACITY,
            overflow: OVERFLOW_ROWS,
            batch: BATCH_ROWS,
        }
    }
}

/// Where rows wait when the channel is full.
#[derive(Default)]
struct Overflow {
    rows: VecDeque<Queued>,
    /// The writer has stopped: rows that find the channel full are written directly.
    closed: bool,
}

struct Shared {
    store: Store,
    limits: LedgerLimits,
    /// Rows waiting for the writer beyond the channel (a plain mutex: held for a push or a take).
    overflow: std::sync::Mutex<Overflow>,
    /// Rows dropped because the channel and the overflow queue were full.
    dropped: AtomicU64,
    /// A whole batch is waiting in the channel: the writer need not wait out its window.
    batch_ready: Notify,
    /// The next row's sequence number; also the count of rows ever recorded.
    next_seq: AtomicU64,
    /// The highest `flush` target asked for: the writer skips its batch window until reached.
    flush_target: AtomicU64,
    progress: watch::Sender<Progress>,
    /// A flush is waiting.
    nudge: Notify,
    /// Shutdown asked the writer to stop.
    stop: Notify,
    writer: Mutex<WriterState>,
    runtime: tokio::runtime::Handle,
    /// The dashboard's history (council runs, routing decisions), batched by its own writer.
    history: History,
}

enum WriterState {
    /// The writer's result arrives here when it stops.
    Running(oneshot::Receiver<Result<(), String>>),
    Stopped(Result<(), String>),
}

/// Which rows are done (written, or given up on).
#[derive(Debug, Default)]
struct Progress {
    /// Every row numbered below this is done.
    watermark: u64,
    /// Done rows numbered above the watermark (rows finish slightly out of order).
    ahead: BTreeSet<u64>,
    /// The writer's rows failed every attempt; it keeps them and tries again later.
    failing: Option<String>,
    /// Rows given up on: the lowest such number, how many, and why.
    lost: Option<(u64, u64, String)>,
}

impl Progress {
    fn finish(&mut self, seqs: &mut [u64]) {
        seqs.sort_unstable();
        for &seq in seqs.iter() {
            if seq == self.watermark {
                self.watermark += 1;
                while self.ahead.remove(&self.watermark) {
                    self.watermark += 1;
                }
            } else if seq > self.watermark {
                self.ahead.insert(seq);
            }
        }
    }

    fn lose(&mut self, seqs: &mut [u64], error: &str) {
        let lowest = seqs.iter().copied().min().unwrap_or(u64::MAX);
        let count = seqs.len() as u64;
        self.lost = Some(match self.lost.take() {
            Some((low, n, _)) => (low.min(lowest), n + count, error.to_owned()),
            None => (lowest, count, error.to_owned()),
        });
        self.finish(seqs);
    }
}

impl Ledger {
    /// Starts the writer: on its own thread for SQLite, on the current tokio runtime for
    /// PostgreSQL.
    pub fn start(store: Store) -> Ledger {
        Ledger::start_with(store, LedgerLimits::default())
    }

    /// [`Ledger::start`] with other bounds (every bound at least 1).
    pub fn start_with(store: Store, limits: LedgerLimits) -> Ledger {
        let limits = LedgerLimits {
            channel: limits.channel.max(1),
            overflow: limits.overflow.max(1),
            batch: limits.batch.max(1),
        };
        let (tx, rx) = mpsc::channel(limits.channel);
        let (progress, _) = watch::channel(Progress::default());
        let runtime = tokio::runtime::Handle::current();
        let shared = Arc::new(Shared {
            store: store.clone(),
            limits,
            overflow: std::sync::Mutex::new(Overflow::default()),
            dropped: AtomicU64::new(0),
            batch_ready: Notify::new(),
            next_seq: AtomicU64::new(0),
            flush_target: AtomicU64::new(0),
            progress,
            nudge: Notify::new(),
            stop: Notify::new(),
            writer: Mutex::new(WriterState::Stopped(Ok(()))),
            runtime: runtime.clone(),
            history: History::start(store.clone(), &runtime),
        });
        let (done, result) = oneshot::channel();
        let run = {
            let shared = shared.clone();
            async move {
                let _ = done.send(writer(shared, rx).await);
            }
        };
        spawn_writer_thread(run, &runtime);
        // Nothing else can hold the lock yet (the writer never takes it).
        if let Ok(mut state) = shared.writer.try_lock() {
            *state = WriterState::Running(result);
        }
        Ledger { tx, shared }
    }

    /// Never blocks. When the channel is full the row waits in the overflow queue; when that is
    /// full too the row is dropped and counted; after shutdown a spawned task writes the row
    /// directly (or logs it on failure).
    pub fn record(&self, row: UsageRecord) {
        let seq = self.shared.next_seq.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(Queued { seq, row }) {
            Ok(()) => {
                if self.tx.capacity() + self.shared.limits.batch <= self.tx.max_capacity() {
                    self.shared.batch_ready.notify_one();
                }
            }
            Err(TrySendError::Full(queued)) => {
                metrics::counter!("fusion_ledger_overflow_total").increment(1);
                if let Some(queued) = self.shared.spill(queued) {
                    let shared = self.shared.clone();
                    self.spawn(async move { write_directly(&shared, queued).await });
                }
            }
            Err(TrySendError::Closed(queued)) => {
                let shared = self.shared.clone();
                self.spawn(async move { write_directly(&shared, queued).await });
            }
        }
    }

    /// Rows dropped so far because too many were waiting.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Resolves once every row recorded before the call is in the store, or returns the write
    /// error that keeps them out.
    pub async fn flush(&self) -> crate::Result<()> {
        let target = self.shared.next_seq.load(Ordering::SeqCst);
        let mut progress = self.shared.progress.subscribe();
        self.shared.flush_target.fetch_max(target, Ordering::SeqCst);
        self.shared.nudge.notify_one();
        loop {
            {
                let p = progress.borrow_and_update();
                if p.watermark >= target {
                    return match &p.lost {
                        Some((lowest, count, error)) if *lowest < target => Err(store_error(
                            format!("{count} usage rows could not be written: {error}"),
                        )),
                        _ => Ok(()),
                    };
                }
                if let Some(error) = &p.failing {
                    return Err(store_error(format!(
                        "usage rows are waiting to be written: {error}"
                    )));
                }
            }
            // The sender lives in `shared`, which we hold: `changed` cannot fail.
            if progress.changed().await.is_err() {
                return Err(store_error("the usage ledger is gone".to_owned()));
            }
        }
    }

    /// Flushes, then stops the writer (it writes whatever is left first). Idempotent: later
    /// calls return the first call's result. Rows recorded afterwards are written directly.
    pub async fn shutdown(&self) -> crate::Result<()> {
        // The history is best-effort: a failure there is logged, not the ledger's result.
        if let Err(err) = self.shared.history.flush().await {
            tracing::warn!("history: {err}");
        }
        let mut state = self.shared.writer.lock().await;
        let result = match &mut *state {
            WriterState::Stopped(result) => result.clone(),
            WriterState::Running(done) => {
                // A flush error is not final: the writer tries the rows once more as it stops.
                let _ = self.flush().await;
                self.shared.stop.notify_one();
                let mut result = match done.await {
                    Ok(result) => result,
                    Err(_) => Err("the ledger writer stopped without a result".to_owned()),
                };
                // Rows that raced the stop were handed to direct writes: wait for those too.
                if let Err(err) = self.flush().await
                    && result.is_ok()
                {
                    result = Err(detail(&err));
                }
                *state = WriterState::Stopped(result.clone());
                result
            }
        };
        result.map_err(store_error)
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Where council runs and routing decisions are recorded for the dashboard.
    pub fn history(&self) -> &History {
        &self.shared.history
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(task)),
            Err(_) => drop(self.shared.runtime.spawn(task)),
        }
    }
}

impl Shared {
    /// Puts a row that found the channel full in the overflow queue, or drops it when the queue
    /// is full; hands it back when the writer has stopped (to be written directly).
    fn spill(&self, queued: Queued) -> Option<Queued> {
        let mut overflow = self
            .overflow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if overflow.closed {
            return Some(queued);
        }
        if overflow.rows.len() < self.limits.overflow {
            overflow.rows.push_back(queued);
            return None;
        }
        let waiting = overflow.rows.len() + self.limits.channel;
        drop(overflow);
        self.drop_row(queued.seq, waiting);
        None
    }

    /// Counts a row as lost to a full buffer (logged at the 1st, 2nd, 4th, 8th, ... drop).
    fn drop_row(&self, seq: u64, waiting: usize) {
        metrics::counter!("fusion_ledger_rows_dropped_total").increment(1);
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let why = format!(
            "the usage ledger's buffer is full ({waiting} rows wait for the store): row dropped"
        );
        if dropped.is_power_of_two() {
            tracing::error!(dropped, "{why}");
        }
        self.progress.send_modify(|p| p.lose(&mut [seq], &why));
    }

    /// Moves up to `room` rows from the overflow queue to `pending`; with `close`, takes them all
    /// and makes later spills come back to be written directly.
    fn take_overflow(&self, pending: &mut Vec<Queued>, room: usize, close: bool) {
        let mut overflow = self
            .overflow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = if close {
            overflow.closed = true;
            overflow.rows.len()
        } else {
            room.min(overflow.rows.len())
        };
        pending.extend(overflow.rows.drain(..n));
        // A burst's queue gives its memory back once drained.
        if overflow.rows.is_empty() && overflow.rows.capacity() > self.limits.batch {
            overflow.rows = VecDeque::new();
        }
    }
}

/// Runs the writer on a thread of its own, at background priority (`fusion_sys::thread`: its
/// bursts of CPU, and those of the SQLite connection it starts, yield to the requests), with
/// a single-threaded runtime; on `fallback` when that runtime cannot be built. If the thread
/// cannot be started the writer is dropped with its channel: rows are then written one by one
/// (`record` sees a closed channel).
fn spawn_writer_thread(
    run: impl std::future::Future<Output = ()> + Send + 'static,
    fallback: &tokio::runtime::Handle,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::warn!("usage ledger: no runtime of its own ({err}); using the main one");
            drop(fallback.spawn(run));
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("fusion-ledger".to_owned())
        .spawn(move || {
            if let Err(err) = fusion_sys::thread::lower_priority_of_this_thread() {
                tracing::debug!("usage ledger: its writer keeps the normal priority: {err}");
            }
            runtime.block_on(run)
        });
    if let Err(err) = spawned {
        tracing::error!("usage ledger: cannot start its writer thread, writing row by row: {err}");
    }
}

/// The writer: waits for a first row, lets the batch gather for `BATCH_WINDOW` (woken early
/// only by a whole batch, a flush or the stop, never by each row), writes what came in one
/// transaction, and so on until told to stop; then it closes the channel, drains it and the
/// overflow queue, and writes the rest.
async fn writer(shared: Arc<Shared>, mut rx: mpsc::Receiver<Queued>) -> Result<(), String> {
    // A connection of its own, made from this thread: it inherits the thread's priority.
    let store = shared.store.with_own_pool(1);
    let result = write_until_stopped(&shared, &store, &mut rx).await;
    store.close().await;
    result
}

/// The writer's loop, writing through `store`.
async fn write_until_stopped(
    shared: &Shared,
    store: &Store,
    rx: &mut mpsc::Receiver<Queued>,
) -> Result<(), String> {
    let batch = shared.limits.batch;
    let mut pending: Vec<Queued> = Vec::new();
    let mut cooldown = COOLDOWN_START;
    let mut stopping = false;
    while !stopping {
        if pending.is_empty() {
            // Rows spilled by a burst go first: the channel may already be empty again.
            shared.take_overflow(&mut pending, batch, false);
        }
        if pending.is_empty() {
            tokio::select! {
                biased;
                () = shared.stop.notified() => break,
                queued = rx.recv() => match queued {
                    Some(queued) => pending.push(queued),
                    // Every sender is gone: nothing more can come.
                    None => break,
                },
            }
            if !flush_waiting(shared) && rx.len() + 1 < batch {
                tokio::select! {
                    biased;
                    () = shared.stop.notified() => stopping = true,
                    () = shared.nudge.notified() => {}
                    () = shared.batch_ready.notified() => {}
                    () = tokio::time::sleep_until(Instant::now() + BATCH_WINDOW) => {}
                }
            }
        }
        while pending.len() < batch {
            match rx.try_recv() {
                Ok(queued) => pending.push(queued),
                Err(_) => break,
            }
        }
        let room = batch.saturating_sub(pending.len());
        if room > 0 {
            shared.take_overflow(&mut pending, room, false);
        }
        match write_with_retries(&shared.store, store, &pending).await {
            Ok(()) => {
                written(shared, &pending);
                pending.clear();
                cooldown = COOLDOWN_START;
            }
            Err(error) => {
                tracing::error!(
                    rows = pending.len(),
                    retry_in = %humantime::format_duration(cooldown),
                    "usage ledger: write failed, keeping the rows: {error}"
                );
                shared
                    .progress
                    .send_modify(|p| p.failing = Some(error.clone()));
                tokio::select! {
                    biased;
                    () = shared.stop.notified() => stopping = true,
                    () = tokio::time::sleep(cooldown) => {}
                }
                cooldown = (cooldown * 2).min(COOLDOWN_MAX);
            }
        }
    }

    // Stop: no new rows enter the channel or the overflow queue (later `record`s write
    // directly); drain what is in them.
    rx.close();
    while let Some(queued) = rx.recv().await {
        pending.push(queued);
    }
    shared.take_overflow(&mut pending, usize::MAX, true);
    let mut result = Ok(());
    for chunk in pending.chunks(batch * 8) {
        match write_with_retries(&shared.store, store, chunk).await {
            Ok(()) => written(shared, chunk),
            Err(error) => {
                tracing::error!(
                    rows = chunk.len(),
                    "usage ledger: giving up on usage rows at shutdown, they are lost: {error}"
                );
                metrics::counter!("fusion_ledger_rows_lost_total").increment(chunk.len() as u64);
                let mut seqs: Vec<u64> = chunk.iter().map(|q| q.seq).collect();
                shared.progress.send_modify(|p| {
                    p.failing = None;
                    p.lose(&mut seqs, &error);
                });
                result = Err(format!(
                    "{} usage rows could not be written: {error}",
                    chunk.len()
                ));
            }
        }
    }
    result
}

/// Whether a flush waits for rows not yet written.
fn flush_waiting(shared: &Shared) -> bool {
    shared.flush_target.load(Ordering::SeqCst) > shared.progress.borrow().watermark
}

/// Marks the rows written.
fn written(shared: &Shared, rows: &[Queued]) {
    metrics::counter!("fusion_ledger_rows_written_total").increment(rows.len() as u64);
    let mut seqs: Vec<u64> = rows.iter().map(|q| q.seq).collect();
    shared.progress.send_modify(|p| {
        p.failing = None;
        p.finish(&mut seqs);
    });
}

/// Writes the rows in one transaction, retrying with backoff; the last error on failure.
/// `main` is the store the ledger was started on: once it is closed, so is the ledger's own
/// pool (`store`) to writes.
async fn write_with_retries(main: &Store, store: &Store, rows: &[Queued]) -> Result<(), String> {
    if rows.is_empty() {
        return Ok(());
    }
    let records: Vec<UsageRecord> = rows.iter().map(|q| q.row.clone()).collect();
    let mut attempt = 0;
    loop {
        let outcome = if main.is_closed() {
            Err(store_error("the store is closed".to_owned()))
        } else {
            store.insert_usage(&records).await
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(err) => {
                metrics::counter!("fusion_ledger_write_errors_total").increment(1);
                let Some(wait) = RETRY_BACKOFF.get(attempt) else {
                    return Err(detail(&err));
                };
                tracing::warn!(
                    rows = rows.len(),
                    attempt = attempt + 1,
                    "usage ledger: write failed, retrying in {}: {err}",
                    humantime::format_duration(*wait)
                );
                tokio::time::sleep(*wait).await;
                attempt += 1;
            }
        }
    }
}

/// A row that missed the writer (recorded after it stopped): written on its own.
async fn write_directly(shared: &Shared, queued: Queued) {
    let rows = [queued];
    match write_with_retries(&shared.store, &shared.store, &rows).await {
        Ok(()) => written(shared, &rows),
        Err(error) => {
            let [queued] = rows;
            tracing::error!(
                row = ?queued.row,
                "usage ledger: a usage row recorded after shutdown could not be written: {error}"
            );
            metrics::counter!("fusion_ledger_rows_lost_total").increment(1);
            shared
                .progress
                .send_modify(|p| p.lose(&mut [queued.seq], &error));
        }
    }
}

/// An error's text without the `store: ` prefix a store error's display adds (the ledger wraps
/// it in a store error of its own).
fn detail(err: &crate::Error) -> String {
    match err.kind() {
        ErrorKind::Store(store) => store.message().to_owned(),
        _ => err.to_string(),
    }
}
