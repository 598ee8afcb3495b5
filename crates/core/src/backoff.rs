//! Exponential backoff: the one schedule of waits between attempts, doubling from a first wait
//! up to a cap, optionally jittered. Provider retries and MCP child restarts both use it.

use std::time::Duration;

use rand::Rng;

/// Doubles the wait after every attempt, from `first` up to `max`. With jitter, each wait is
/// a random point between half the doubled wait and all of it, so callers that failed
/// together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    jitter: bool,
}

impl Backoff {
    /// Waits `first`, then twice that, and so on, never more than `max`; no jitter.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            jitter: false,
        }
    }

    /// The same schedule, each wait drawn between half its value and its value.
    pub const fn with_jitter(self) -> Self {
        Self {
            jitter: true,
            ..self
        }
    }

    /// The wait after attempt `attempt` (counting from 0) before its jitter:
    /// `first × 2^attempt`, capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max)
    }

    /// How long to wait after attempt `attempt` (counting from 0) before the next one.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        if self.jitter {
            ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
        } else {
            ceiling
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(30);

    #[test]
    fn waits_double_from_the_first_until_the_cap() {
        let backoff = Backoff::new(FIRST, MAX);
        let waits: Vec<u128> = (0..9).map(|a| backoff.delay(a).as_millis()).collect();
        assert_eq!(
            waits,
            vec![250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
        );
        assert_eq!(backoff.delay(u32::MAX), MAX);
    }

    #[test]
    fn jittered_waits_stay_between_half_the_ceiling_and_the_ceiling() {
        let backoff = Backoff::new(FIRST, MAX).with_jitter();
        for attempt in 0..10 {
            let ceiling = backoff.ceiling(attempt);
            let wait = backoff.delay(attempt);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "{attempt}: {wait:?}"
            );
        }
    }
}
