//! Health of models and providers as the registry sees it. Passive: every call's outcome feeds
//! a per-model circuit breaker (consecutive failures open it for a cooldown, then one trial
//! call decides) and a window of latencies for the p50. Active: the last probe of the model's
//! provider. `view` turns both into the `router::Health` that routing filters on.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::router::Health;

/// Latency samples kept per model for its p50.
const LATENCY_SAMPLES: usize = 64;

/// The passive health of one model.
#[derive(Debug, Default)]
pub struct ModelHealth {
    inner: Mutex<Passive>,
}

#[derive(Debug, Default)]
struct Passive {
    consecutive_failures: u32,
    /// When the circuit opened; `None` while closed.
    opened_at: Option<Instant>,
    /// A trial call after the cooldown is running: others stay out until it ends.
    trial_running: bool,
    latencies: Vec<f64>,
    next_sample: usize,
    calls: u64,
    failures: u64,
    last_error: Option<String>,
}

/// What routing may do with a model right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed circuit: call freely.
    Open,
    /// The cooldown is over: this caller makes the one trial call.
    Trial,
    /// Open circuit (or a trial already running): skip the model for this long.
    Refused { retry_in: Duration },
}

/// Counters for `fusion models` and the status resource.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HealthStats {
    pub calls: u64,
    pub failures: u64,
    pub consecutive_failures: u32,
    pub latency_p50_ms: Option<f64>,
    pub last_error: Option<String>,
}

impl ModelHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, Passive> {
        // A poisoned lock only means a panic elsewhere mid-update; the counters stay usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a successful call: closes the circuit and adds the latency sample.
    pub fn on_success(&self, latency: Duration) {
        let mut p = self.lock();
        p.calls += 1;
        p.consecutive_failures = 0;
        p.opened_at = None;
        p.trial_running = false;
        let ms = latency.as_secs_f64() * 1000.0;
        if p.latencies.len() < LATENCY_SAMPLES {
            p.latencies.push(ms);
        } else {
            let i = p.next_sample;
            p.latencies[i] = ms;
        }
        p.next_sample = (p.next_sample + 1) % LATENCY_SAMPLES;
    }

    /// Records a failed call; the `threshold`-th failure in a row (or a failed trial) opens
    /// the circuit.
    pub fn on_failure(&self, error: &str, threshold: u32) {
        let mut p = self.lock();
        p.calls += 1;
        p.failures += 1;
        p.consecutive_failures += 1;
        p.last_error = Some(error.to_owned());
        if p.trial_running || p.consecutive_failures >= threshold.max(1) {
            p.opened_at = Some(Instant::now());
        }
        p.trial_running = false;
    }

    /// Records a call the provider refused with HTTP 429: counted and shown, but the circuit
    /// stays as it was (the model's limits handle the cooldown).
    pub fn on_rate_limited(&self, error: &str) {
        let mut p = self.lock();
        p.calls += 1;
        p.failures += 1;
        p.last_error = Some(error.to_owned());
        p.trial_running = false;
    }

    /// Whether routing may send a call now; `Trial` reserves the one trial call.
    pub fn admit(&self, cooldown: Duration) -> Admission {
        let mut p = self.lock();
        let Some(opened) = p.opened_at else {
            return Admission::Open;
        };
        let elapsed = opened.elapsed();
        if elapsed < cooldown {
            return Admission::Refused {
                retry_in: cooldown - elapsed,
            };
        }
        if p.trial_running {
            return Admission::Refused {
                retry_in: Duration::ZERO,
            };
        }
        p.trial_running = true;
        Admission::Trial
    }

    /// Gives back a trial reserved by `admit` that was never made (the call did not start).
    pub fn release_trial(&self) {
        self.lock().trial_running = false;
    }

    /// The router's view: the circuit first, then the provider's last probe.
    pub fn view(&self, cooldown: Duration, provider_reachable: Option<bool>) -> Health {
        let p = self.lock();
        if let Some(opened) = p.opened_at {
            let elapsed = opened.elapsed();
            if elapsed < cooldown || p.trial_running {
                let retry_in = cooldown.saturating_sub(elapsed);
                return Health::CircuitOpen {
                    retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                };
            }
            return Health::HalfOpen;
        }
        match provider_reachable {
            Some(false) => Health::Unreachable,
            Some(true) => Health::Healthy,
            // Not probed yet: the last call tells, if there was one.
            None if p.calls > 0 && p.consecutive_failures == 0 => Health::Healthy,
            None => Health::Unknown,
        }
    }

    pub fn latency_p50_ms(&self) -> Option<f64> {
        p50(&self.lock().latencies)
    }

    pub fn stats(&self) -> HealthStats {
        let p = self.lock();
        HealthStats {
            calls: p.calls,
            failures: p.failures,
            consecutive_failures: p.consecutive_failures,
            latency_p50_ms: p50(&p.latencies),
            last_error: p.last_error.clone(),
        }
    }
}

fn p50(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(sorted.len() / 2)
        .map(|v| (v * 10.0).round() / 10.0)
}

/// The last active probe of one provider.
#[derive(Debug, Default)]
pub struct ProviderHealth {
    inner: Mutex<Option<Probe>>,
}

/// One probe's outcome, for status output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Probe {
    pub reachable: bool,
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl ProviderHealth {
    pub fn record(&self, outcome: Result<(), String>) {
        let probe = Probe {
            reachable: outcome.is_ok(),
            error: outcome.err(),
            at_ms: crate::store::now_ms(),
        };
        *self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(probe);
    }

    pub fn last(&self) -> Option<Probe> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn reachable(&self) -> Option<bool> {
        self.last().map(|p| p.reachable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_millis(40);

    #[test]
    fn the_circuit_opens_after_the_threshold_of_consecutive_failures() {
        let h = ModelHealth::default();
        h.on_failure("boom", 3);
        h.on_failure("boom", 3);
        assert_eq!(h.admit(COOLDOWN), Admission::Open);
        h.on_failure("boom", 3);
        assert!(matches!(h.admit(COOLDOWN), Admission::Refused { .. }));
        assert!(matches!(
            h.view(COOLDOWN, Some(true)),
            Health::CircuitOpen { .. }
        ));
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let h = ModelHealth::default();
        h.on_failure("boom", 2);
        h.on_success(Duration::from_millis(5));
        h.on_failure("boom", 2);
        assert_eq!(h.admit(COOLDOWN), Admission::Open);
    }

    #[test]
    fn after_the_cooldown_exactly_one_trial_is_admitted_and_its_outcome_decides() {
        let h = ModelHealth::default();
        h.on_failure("boom", 1);
        std::thread::sleep(COOLDOWN + Duration::from_millis(10));
        assert_eq!(h.view(COOLDOWN, None), Health::HalfOpen);
        assert_eq!(h.admit(COOLDOWN), Admission::Trial);
        assert!(matches!(h.admit(COOLDOWN), Admission::Refused { .. }));
        // A failed trial opens the circuit again at once.
        h.on_failure("still down", 5);
        assert!(matches!(h.admit(COOLDOWN), Admission::Refused { .. }));
        std::thread::sleep(COOLDOWN + Duration::from_millis(10));
        assert_eq!(h.admit(COOLDOWN), Admission::Trial);
        h.on_success(Duration::from_millis(3));
        assert_eq!(h.admit(COOLDOWN), Admission::Open);
        assert_eq!(h.view(COOLDOWN, None), Health::Healthy);
    }

    #[test]
    fn a_failed_probe_marks_a_closed_model_unreachable() {
        let h = ModelHealth::default();
        assert_eq!(h.view(COOLDOWN, None), Health::Unknown);
        assert_eq!(h.view(COOLDOWN, Some(false)), Health::Unreachable);
        assert_eq!(h.view(COOLDOWN, Some(true)), Health::Healthy);
    }

    #[test]
    fn the_p50_is_the_median_of_recent_latencies() {
        let h = ModelHealth::default();
        for ms in [10, 30, 20] {
            h.on_success(Duration::from_millis(ms));
        }
        assert_eq!(h.latency_p50_ms(), Some(20.0));
        assert_eq!(h.stats().calls, 3);
    }
}
