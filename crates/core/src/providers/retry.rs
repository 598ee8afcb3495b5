//! Retry timing: exponential backoff with full jitter, honouring an upstream's `Retry-After`.

use std::time::Duration;

use rand::Rng;

const BASE: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
pub(crate) const CAP: Duration = Duration::from_secs(10);

/// How long to wait before attempt `attempt + 1` (attempt counts from 0).
pub(crate) fn backoff(attempt: u32, retry_after_secs: Option<u64>) -> Duration {
    if let Some(secs) = retry_after_secs {
        return Duration::from_secs(secs).min(CAP);
    }
    let ceiling = BASE
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(CAP);
    let jitter = rand::rng().random_range(0.5..=1.0);
    ceiling.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_jitter_bounds() {
        for attempt in 0..4 {
            let ceiling = BASE * 2u32.pow(attempt);
            let wait = backoff(attempt, None);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "{attempt}: {wait:?}"
            );
        }
    }

    #[test]
    fn backoff_is_capped_and_honours_retry_after() {
        assert!(backoff(30, None) <= CAP);
        assert_eq!(backoff(0, Some(3)), Duration::from_secs(3));
        assert_eq!(backoff(0, Some(3600)), CAP);
    }
}
