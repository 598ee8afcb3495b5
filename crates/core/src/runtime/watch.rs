//! Reload triggers for long-running processes (`fusion serve`, `fusion mcp`): SIGHUP, and the
//! config file's contents changing (looked at every second; a file that cannot be read right
//! now, e.g. mid-save, is looked at again next time). Each trigger runs `Runtime::reload`; a
//! rejected file is logged with its key and reason and the running configuration stays.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::Runtime;
use crate::{Error, ErrorKind, Result};

/// How often the file is looked at.
const POLL: Duration = Duration::from_secs(1);

impl Runtime {
    /// Starts watching for SIGHUP and changes of the config file, until `shutdown`. Does
    /// nothing when there is no file (a discovered configuration).
    pub fn watch_file(&self) -> Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let Some(path) = self.source().map(Path::to_path_buf) else {
            return Ok(());
        };
        let mut hangup = signal(SignalKind::hangup())
            .map_err(|e| Error::from(ErrorKind::Invalid(format!("cannot handle SIGHUP: {e}"))))?;
        let runtime = Arc::downgrade(&self.inner);
        let handle = tokio::spawn(async move {
            let mut seen = fingerprint(&path);
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let why = tokio::select! {
                    _ = hangup.recv() => "SIGHUP",
                    _ = tick.tick() => {
                        let now = fingerprint(&path);
                        if now.is_none() || now == seen {
                            continue;
                        }
                        "the file changed"
                    }
                };
                seen = fingerprint(&path);
                let Some(inner) = runtime.upgrade() else {
                    return;
                };
                // A rejected file is logged by the reload; the running configuration stays.
                let _ = Runtime { inner }.reload_because(why).await;
            }
        });
        let old = self
            .inner
            .watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(handle);
        if let Some(old) = old {
            old.abort();
        }
        Ok(())
    }
}

/// The file's contents, hashed (`None` when it cannot be read right now).
fn fingerprint(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}
