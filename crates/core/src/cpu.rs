//! CPU-heavy work off the async worker: `fusion serve` runs one worker thread, so anything
//! that may take more than a fraction of a millisecond (token counting of a large prompt,
//! routing decisions over it) runs on the blocking pool, and a panic there reaches the caller
//! as the same panic (answered by the front door's panic guard), never as silence.

use std::any::Any;

/// Inputs up to this many bytes are cheap enough to handle on the worker itself (tokenizing
/// runs at about 4 MiB/s: 1 KiB is ~0.25 ms); larger ones go to the blocking pool.
pub const INLINE_BYTES: usize = 1024;

/// Runs `work` on the blocking pool and waits for it. A panic in `work` is resumed here.
pub async fn off_worker<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    // The work keeps its caller scope (routing decisions it records name the front door).
    let caller = crate::providers::caller_in_scope();
    let work = move || crate::providers::within_caller(caller, work);
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Only when the runtime is shutting down: nothing is waiting for the answer then.
        Err(err) => std::panic::resume_unwind(Box::new(format!("blocking work lost: {err}"))),
    }
}

/// Runs `work` inline when `bytes` is small, else on the blocking pool.
pub async fn sized<T, F>(bytes: usize, work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if bytes <= INLINE_BYTES {
        work()
    } else {
        off_worker(work).await
    }
}

/// The message a panic carried (`panic!("...")` payloads are `&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn work_runs_and_returns_its_value() {
        assert_eq!(off_worker(|| 6 * 7).await, 42);
        assert_eq!(sized(10, || "small").await, "small");
        assert_eq!(sized(1 << 20, || "large").await, "large");
    }

    #[tokio::test]
    async fn a_panic_off_the_worker_reaches_the_caller_with_its_message() {
        let caught = std::panic::AssertUnwindSafe(off_worker(|| -> u32 { panic!("boom 7") }))
            .catch_unwind()
            .await
            .unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "boom 7");
    }

    #[tokio::test]
    async fn work_off_the_worker_keeps_its_callers_scope() {
        use crate::providers::{as_caller, current_caller};
        use crate::store::Caller;
        let seen = as_caller(Caller::Mcp, off_worker(current_caller)).await;
        assert_eq!(seen, Caller::Mcp);
        let large = as_caller(Caller::Http, sized(1 << 20, current_caller)).await;
        assert_eq!(large, Caller::Http);
        assert_eq!(
            off_worker(current_caller).await,
            Caller::Cli,
            "no scope: cli"
        );
    }
}
