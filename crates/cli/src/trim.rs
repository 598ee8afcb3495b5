//! Hands memory freed after a burst of work back to the system while a long-running command
//! (`fusion serve`, `fusion mcp`) runs: a timer that calls [`fusion_sys::memory::trim`] on the
//! blocking pool, never on the worker that serves requests.

use std::time::Duration;

/// How often freed memory is handed back: soon after a burst ends, rarely enough to cost nothing.
const EVERY: Duration = Duration::from_secs(5);

/// The running timer; stops when dropped.
pub struct Trimmer(tokio::task::JoinHandle<()>);

impl Trimmer {
    /// Starts the timer on the current runtime.
    pub fn start() -> Self {
        Self(tokio::spawn(async {
            let mut every = tokio::time::interval(EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                // Walking glibc's arenas can take a while with big heaps: not on a worker.
                if tokio::task::spawn_blocking(fusion_sys::memory::trim)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }))
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        self.0.abort();
    }
}
