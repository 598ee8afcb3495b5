//! Concurrency slots of task work, per slot group: `local` (every local-tier model, bounded by
//! `tasks.local_slots`), `provider:NAME` (each free or paid provider, `tasks.remote_slots` or
//! its override) and `council` (running council tasks, `tasks.council_slots`). Every model call
//! a task job makes holds its group's slot for the length of the call, so task calls to local
//! models never exceed `local_slots` at once in one process. A slot handed to work wakes the
//! dispatcher when it is released.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::spec::{COUNCIL_GROUP, LOCAL_GROUP};
use crate::config::{Config, TasksConfig, Tier};

/// The semaphores of every slot group seen so far (created on first use).
pub(crate) struct Slots {
    config: TasksConfig,
    groups: Mutex<BTreeMap<String, Arc<Semaphore>>>,
    wake: Arc<Notify>,
}

/// A held slot. Armed (handed to work), it wakes the dispatcher when dropped.
pub(crate) struct SlotPermit {
    pub(crate) group: String,
    _permit: OwnedSemaphorePermit,
    wake: Option<Arc<Notify>>,
}

impl SlotPermit {
    /// From now on, releasing this slot wakes the dispatcher.
    pub(crate) fn arm(mut self, wake: &Arc<Notify>) -> Self {
        self.wake = Some(Arc::clone(wake));
        self
    }
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
    }
}

/// One group's limit and how many of its slots this process holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupUse {
    pub group: String,
    pub limit: usize,
    pub in_use: usize,
}

impl Slots {
    pub(crate) fn new(config: TasksConfig, wake: Arc<Notify>) -> Self {
        Self {
            config,
            groups: Mutex::new(BTreeMap::new()),
            wake,
        }
    }

    /// How many calls of `group` may run at once.
    pub(crate) fn limit(&self, group: &str) -> usize {
        if group == LOCAL_GROUP {
            self.config.local_slots
        } else if group == COUNCIL_GROUP {
            self.config.council_slots
        } else {
            match group.strip_prefix("provider:") {
                Some(provider) => self.config.provider_slots(provider),
                None => self.config.remote_slots,
            }
        }
        .max(1)
    }

    fn semaphore(&self, group: &str) -> Arc<Semaphore> {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            groups
                .entry(group.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.limit(group)))),
        )
    }

    /// A free slot of `group` now (unarmed), or `None`.
    pub(crate) fn try_acquire(&self, group: &str) -> Option<SlotPermit> {
        let permit = self.semaphore(group).try_acquire_owned().ok()?;
        Some(SlotPermit {
            group: group.to_owned(),
            _permit: permit,
            wake: None,
        })
    }

    /// A slot of `group`, waiting for one (in arrival order); armed.
    pub(crate) async fn acquire(&self, group: &str) -> Option<SlotPermit> {
        let permit = self.semaphore(group).acquire_owned().await.ok()?;
        Some(SlotPermit {
            group: group.to_owned(),
            _permit: permit,
            wake: Some(Arc::clone(&self.wake)),
        })
    }

    /// The groups this process dispatches: `local`, `council`, one per free or paid provider of
    /// `config`, and any other group used so far.
    pub(crate) fn dispatch_groups(&self, config: &Config) -> Vec<String> {
        let mut groups = vec![LOCAL_GROUP.to_owned(), COUNCIL_GROUP.to_owned()];
        for provider in &config.providers {
            if provider.tier != Tier::Local {
                groups.push(format!("provider:{}", provider.name));
            }
        }
        let known = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        for group in known.keys() {
            if !groups.contains(group) {
                groups.push(group.clone());
            }
        }
        groups
    }

    /// Limit and slots held now, per group used so far.
    pub(crate) fn usage(&self) -> Vec<GroupUse> {
        let groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        groups
            .iter()
            .map(|(group, semaphore)| {
                let limit = self.limit(group);
                GroupUse {
                    group: group.clone(),
                    limit,
                    in_use: limit.saturating_sub(semaphore.available_permits()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_group_hands_out_at_most_its_limit_and_frees_slots_on_drop() {
        let config = TasksConfig {
            local_slots: 1,
            slots: [("paid".to_owned(), 2)].into_iter().collect(),
            ..TasksConfig::default()
        };
        let slots = Slots::new(config, Arc::new(Notify::new()));
        assert_eq!(slots.limit("provider:paid"), 2);
        assert_eq!(slots.limit("provider:other"), 5);
        let first = slots.try_acquire("local").unwrap();
        assert!(slots.try_acquire("local").is_none());
        assert_eq!(slots.usage()[0].in_use, 1);
        drop(first);
        assert!(slots.try_acquire("local").is_some());
    }
}
