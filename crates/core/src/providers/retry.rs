//! Retry timing for provider calls: exponential backoff with jitter ([`Backoff`]), honouring an
//! upstream's `Retry-After`.

use std::time::Duration;

use crate::backoff::Backoff;

/// 200 ms, doubling, jittered, at most [`CAP`].
const SCHEDULE: Backoff = Backoff::new(Duration::from_millis(200), CAP).with_jitter();
/// The longest wait between two attempts.
pub(crate) const CAP: Duration = Duration::from_secs(10);

/// How long to wait before attempt `attempt + 1` (attempt counts from 0).
pub(crate) fn backoff(attempt: u32, retry_after_secs: Option<u64>) -> Duration {
    match retry_after_secs {
        Some(secs) => Duration::from_secs(secs).min(CAP),
        None => SCHEDULE.delay(attempt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_jitter_bounds() {
        for attempt in 0..4 {
            let ceiling = Duration::from_millis(200) * 2u32.pow(attempt);
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
