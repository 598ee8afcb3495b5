//! State shared by the handlers and the [`MockProvider`](crate::MockProvider) handle: the
//! active script with its per-model call counters, the log of recorded requests, response ids,
//! and the shutdown signal.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use tokio_util::sync::CancellationToken;

use crate::{
    RecordedRequest,
    script::{ModelScript, Script},
};

/// One in-flight chat request; decrements the count when dropped.
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct Shared {
    active: RwLock<Arc<ActiveScript>>,
    recorded: Mutex<Vec<RecordedRequest>>,
    recording: AtomicBool,
    next_id: AtomicU64,
    /// Chat requests being served now (handler running or stream body still open).
    in_flight: Arc<AtomicUsize>,
    /// The most chat requests seen in flight at once (since start or the last reset).
    max_in_flight: AtomicUsize,
    /// Unix seconds when the server started; the `created` of listed models.
    pub started: u64,
    /// Cancelled when the provider stops; hung and paused handlers give up on it.
    pub shutdown: CancellationToken,
}

impl Shared {
    pub(crate) fn new(script: Script) -> Self {
        Self {
            active: RwLock::new(Arc::new(ActiveScript::new(script))),
            recorded: Mutex::new(Vec::new()),
            recording: AtomicBool::new(true),
            next_id: AtomicU64::new(1),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: AtomicUsize::new(0),
            started: unix_now(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The script in force now; requests already running keep the one they started with.
    pub(crate) fn active(&self) -> Arc<ActiveScript> {
        Arc::clone(&self.active.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the script; call counters start again from zero.
    pub(crate) fn set_script(&self, script: Script) {
        let active = Arc::new(ActiveScript::new(script));
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = active;
    }

    /// Counts a chat request as in flight until the returned guard is dropped — which happens
    /// when the response is complete or the client went away.
    pub(crate) fn enter(&self) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(Arc::clone(&self.in_flight))
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Starts the high-water mark again from the requests in flight now.
    pub(crate) fn reset_max_in_flight(&self) {
        self.max_in_flight.store(self.in_flight(), Ordering::SeqCst);
    }

    pub(crate) fn is_recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    pub(crate) fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        self.recorded_log().push(request);
    }

    pub(crate) fn recorded(&self) -> Vec<RecordedRequest> {
        self.recorded_log().clone()
    }

    pub(crate) fn recorded_for(&self, model: &str) -> Vec<RecordedRequest> {
        self.recorded_log()
            .iter()
            .filter(|request| request.model == model)
            .cloned()
            .collect()
    }

    pub(crate) fn clear_recorded(&self) {
        self.recorded_log().clear();
    }

    fn recorded_log(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh `chatcmpl-mock-N` id.
    pub(crate) fn next_id(&self) -> String {
        format!(
            "chatcmpl-mock-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// A script plus how many times each model has been called under it.
pub(crate) struct ActiveScript {
    pub script: Script,
    /// Calls per scripted model; fixed keys, so no lock.
    calls: HashMap<String, AtomicU64>,
    /// Calls per model name served by the default script.
    default_calls: Mutex<HashMap<String, u64>>,
}

impl ActiveScript {
    fn new(script: Script) -> Self {
        let calls = script
            .models
            .keys()
            .map(|name| (name.clone(), AtomicU64::new(0)))
            .collect();
        Self {
            script,
            calls,
            default_calls: Mutex::new(HashMap::new()),
        }
    }

    /// The script for `model` and the 0-based index of this call to it, or `None` for an
    /// unknown model. Counting is skipped (index 0) when the script does not depend on it.
    pub(crate) fn begin_call(&self, model: &str) -> Option<(&ModelScript, u64)> {
        if let Some(script) = self.script.models.get(model) {
            let call = self
                .calls
                .get(model)
                .map_or(0, |calls| calls.fetch_add(1, Ordering::Relaxed));
            return Some((script, call));
        }
        let script = self.script.default.as_ref()?;
        if !script.counts_calls() {
            return Some((script, 0));
        }
        let mut calls = self
            .default_calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let call = match calls.get_mut(model) {
            Some(count) => {
                *count += 1;
                *count - 1
            }
            None => {
                calls.insert(model.to_owned(), 1);
                0
            }
        };
        Some((script, call))
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
