//! Polls with a deadline: a test waits for the state it needs, never for a fixed time that is
//! too long on a fast machine and too short on a loaded one.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often [`wait_until`] and [`wait_for`] look again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Polls `check` until it holds; panics naming `what` if it still does not after `within`.
///
/// ```ignore
/// wait_until("the upstream call started", Duration::from_secs(10), || async {
///     mock.in_flight() == 1
/// })
/// .await;
/// ```
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, within, || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await
}

/// Polls `check` until it returns `Some`, and returns what it found; panics naming `what` if
/// it still returns `None` after `within`. One last look is taken at the deadline.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        let last_look = Instant::now() >= deadline;
        if let Some(found) = check().await {
            return found;
        }
        if last_look {
            panic!("timed out after {within:?} waiting until {what}");
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn returns_as_soon_as_the_check_holds() {
        let calls = AtomicU32::new(0);
        let found = wait_for("the third call", Duration::from_secs(5), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            (n == 3).then_some(n)
        })
        .await;
        assert_eq!(found, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting until never")]
    async fn panics_naming_what_it_waited_for_at_the_deadline() {
        wait_until("never", Duration::from_millis(50), || async { false }).await;
    }
}
