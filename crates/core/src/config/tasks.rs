//! `[tasks]`: the durable task queue's worker pool — how many model calls task jobs may make at
//! once per slot group, how long a running task's lease lasts, and what happens to a task whose
//! process stopped mid-call.
//!
//! ```toml
//! [tasks]
//! local_slots = 1            # model calls at once to local-tier models (all share one group)
//! remote_slots = 5           # model calls at once per free or paid provider
//! slots = { openrouter = 2 } # per-provider override of remote_slots
//! council_slots = 2          # council tasks running at once (members take model slots too)
//! lease = "10s"              # a running task's lease; renewed every lease/3
//! on_interrupt = "fail"      # or "requeue": a task interrupted mid-call runs again
//! poll_interval = "1s"       # how often the store is polled for tasks other replicas queued
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ProviderConfig, Tier, duration};

/// What becomes of a task that was running in a process that stopped (its lease expired, or
/// the process shut down) after one of its jobs had reached a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnInterrupt {
    /// Queued again; it runs from the start (its `attempts` count says how often it started).
    Requeue,
    /// Failed with "interrupted: the process running it stopped (attempt N)".
    #[default]
    Fail,
}

/// `[tasks]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TasksConfig {
    /// Model calls task jobs may make at once to local-tier models (one group for all of them).
    #[serde(default = "default_local_slots")]
    pub local_slots: usize,
    /// Model calls task jobs may make at once to each free or paid provider.
    #[serde(default = "default_remote_slots")]
    pub remote_slots: usize,
    /// Per-provider override of `remote_slots`, by provider name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, usize>,
    /// Council tasks running at once in one process (their members also take model slots).
    #[serde(default = "default_council_slots")]
    pub council_slots: usize,
    /// How long a running task's lease lasts; its process renews it every third of that. A task
    /// whose lease expired is recovered by any process.
    #[serde(default = "default_lease", with = "duration")]
    pub lease: Duration,
    /// A task interrupted after reaching a model: `fail` (default) or `requeue`.
    #[serde(default)]
    pub on_interrupt: OnInterrupt,
    /// How often the store is polled for queued tasks (other processes submit too) and for
    /// expired leases.
    #[serde(default = "default_poll_interval", with = "duration")]
    pub poll_interval: Duration,
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            local_slots: default_local_slots(),
            remote_slots: default_remote_slots(),
            slots: BTreeMap::new(),
            council_slots: default_council_slots(),
            lease: default_lease(),
            on_interrupt: OnInterrupt::default(),
            poll_interval: default_poll_interval(),
        }
    }
}

impl TasksConfig {
    /// The slot count of a free or paid provider: its override, else `remote_slots`.
    pub fn provider_slots(&self, provider: &str) -> usize {
        self.slots
            .get(provider)
            .copied()
            .unwrap_or(self.remote_slots)
    }
}

fn default_local_slots() -> usize {
    1
}

fn default_remote_slots() -> usize {
    5
}

fn default_council_slots() -> usize {
    2
}

fn default_lease() -> Duration {
    Duration::from_secs(10)
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}

/// Checks ranges and that `slots` names configured non-local providers; `(key, reason)` of the
/// first problem.
pub(super) fn validate(
    tasks: &TasksConfig,
    providers: &[ProviderConfig],
) -> Result<(), (String, String)> {
    for (key, value) in [
        ("tasks.local_slots", tasks.local_slots),
        ("tasks.remote_slots", tasks.remote_slots),
        ("tasks.council_slots", tasks.council_slots),
    ] {
        if value == 0 {
            return Err((key.into(), "must be at least 1".into()));
        }
    }
    for (name, value) in &tasks.slots {
        let key = format!("tasks.slots.{name}");
        match providers.iter().find(|p| &p.name == name) {
            None => return Err((key, format!("no provider named `{name}`"))),
            Some(p) if p.tier == Tier::Local => {
                return Err((
                    key,
                    "a local provider's models share tasks.local_slots; set that instead".into(),
                ));
            }
            Some(_) if *value == 0 => return Err((key, "must be at least 1".into())),
            Some(_) => {}
        }
    }
    if tasks.lease < Duration::from_millis(300) {
        return Err(("tasks.lease".into(), "must be at least 300ms".into()));
    }
    if tasks.poll_interval.is_zero() {
        return Err(("tasks.poll_interval".into(), "must be positive".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_one_local_slot_five_per_remote_provider_and_fail_on_interrupt() {
        let t: TasksConfig = toml::from_str("").unwrap();
        assert_eq!(t, TasksConfig::default());
        assert_eq!(t.local_slots, 1);
        assert_eq!(t.provider_slots("anything"), 5);
        assert_eq!(t.on_interrupt, OnInterrupt::Fail);
        assert_eq!(t.lease, Duration::from_secs(10));
    }

    #[test]
    fn keys_parse_and_unknown_keys_are_rejected() {
        let t: TasksConfig = toml::from_str(
            "local_slots = 2\nslots = { openrouter = 3 }\nlease = \"2s\"\non_interrupt = \"requeue\"",
        )
        .unwrap();
        assert_eq!(t.local_slots, 2);
        assert_eq!(t.provider_slots("openrouter"), 3);
        assert_eq!(t.lease, Duration::from_secs(2));
        assert_eq!(t.on_interrupt, OnInterrupt::Requeue);
        assert!(toml::from_str::<TasksConfig>("workers = 3").is_err());
        assert!(toml::from_str::<TasksConfig>("on_interrupt = \"retry\"").is_err());
    }

    #[test]
    fn zero_slots_unknown_or_local_providers_in_slots_are_rejected_with_their_key() {
        let provider = |name: &str, tier: &str| -> ProviderConfig {
            toml::from_str(&format!(
                "name = \"{name}\"\nkind = \"openai\"\nbase_url = \"http://x/v1\"\ntier = \"{tier}\""
            ))
            .unwrap()
        };
        let providers = [provider("ollama", "local"), provider("openrouter", "free")];
        let with = |text: &str| toml::from_str::<TasksConfig>(text).unwrap();
        let key = |text: &str| validate(&with(text), &providers).unwrap_err().0;
        assert_eq!(key("local_slots = 0"), "tasks.local_slots");
        assert_eq!(key("slots = { nope = 1 }"), "tasks.slots.nope");
        assert_eq!(key("slots = { ollama = 2 }"), "tasks.slots.ollama");
        assert_eq!(key("slots = { openrouter = 0 }"), "tasks.slots.openrouter");
        assert_eq!(key("lease = \"10ms\""), "tasks.lease");
        assert!(validate(&with("slots = { openrouter = 2 }"), &providers).is_ok());
    }
}
