//! `[storage]`: where the store is (SQLite file or PostgreSQL) and how long what it records is
//! kept before the store's maintenance (`store::retention`) rolls it up or deletes it.
//!
//! ```toml
//! [storage]
//! url = "sqlite://~/.local/share/fusion/fusion.db"   # or "postgres://user@host/db"
//! ledger_retention = "30d"   # raw usage rows; older ones become hourly totals
//! task_retention = "30d"     # finished tasks with their jobs, council runs, routing
//!                            # decisions and stored responses
//! loop_retention = "30d"     # loop runs (and their trails) not updated for this long
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// Shortest retention: raw usage rows are rolled up by whole hours.
pub const MIN_RETENTION: Duration = Duration::from_secs(60 * 60);
/// Longest retention (100 years: "keep everything").
pub const MAX_RETENTION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Raw usage rows (one per model call) older than this are summed into hourly totals per
    /// model, provider, caller and outcome, which every usage report reads with the raw rows.
    #[serde(default = "default_retention", with = "duration")]
    pub ledger_retention: Duration,
    /// Finished (completed, failed, cancelled) tasks and their jobs older than this are
    /// deleted (queued and running ones never are); so are the dashboard's council runs and
    /// routing decisions and the stored responses of `/v1/responses`.
    #[serde(default = "default_retention", with = "duration")]
    pub task_retention: Duration,
    /// Loop runs not updated for this long are deleted with their trails.
    #[serde(default = "default_retention", with = "duration")]
    pub loop_retention: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            ledger_retention: default_retention(),
            task_retention: default_retention(),
            loop_retention: default_retention(),
        }
    }
}

fn default_retention() -> Duration {
    Duration::from_secs(30 * 24 * 60 * 60)
}

/// `(dotted key, reason)` of the first retention out of range.
pub(super) fn validate(storage: &StorageConfig) -> Result<(), (String, String)> {
    for (key, value) in [
        ("storage.ledger_retention", storage.ledger_retention),
        ("storage.task_retention", storage.task_retention),
        ("storage.loop_retention", storage.loop_retention),
    ] {
        if !(MIN_RETENTION..=MAX_RETENTION).contains(&value) {
            return Err((
                key.to_owned(),
                format!(
                    "{} is out of range: it must be between 1h and 100 years (like \"30d\")",
                    humantime::format_duration(value)
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retentions_default_to_thirty_days_and_read_human_durations() {
        let storage: StorageConfig = toml::from_str("").unwrap();
        assert_eq!(storage.ledger_retention, Duration::from_secs(30 * 86_400));
        assert_eq!(storage.task_retention, Duration::from_secs(30 * 86_400));
        assert_eq!(storage.loop_retention, Duration::from_secs(30 * 86_400));
        let storage: StorageConfig =
            toml::from_str("ledger_retention = \"7d\"\nloop_retention = \"12h\"").unwrap();
        assert_eq!(storage.ledger_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(storage.loop_retention, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn a_retention_out_of_range_names_its_key() {
        let storage = StorageConfig {
            task_retention: Duration::from_secs(60),
            ..StorageConfig::default()
        };
        let Err((key, reason)) = validate(&storage) else {
            panic!("a one-minute retention passed");
        };
        assert_eq!(key, "storage.task_retention");
        assert!(reason.contains("1m") && reason.contains("1h"), "{reason}");
        assert!(validate(&StorageConfig::default()).is_ok());
    }
}
