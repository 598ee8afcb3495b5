//! Concurrency slots of task work, per slot group: `local` (every local-tier model, bounded by
//! `tasks.local_slots`), `provider:NAME` (each free or paid provider, `tasks.remote_slots` or
//! its override), `council` (running council tasks, `tasks.council_slots`) and `bench`
//! (benchmark runs of free and paid models, one at a time; a run that asks a local model holds
//! a `local` slot and asks one model at a time under it). Every model call
//! a task job makes holds its group's slot for the length of the call, so task calls to local
//! models never exceed `local_slots` at once in one process. A slot handed to work wakes the
//! dispatcher when it is released.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::spec::{BENCH_GROUP, COUNCIL_GROUP, LOCAL_GROUP};
use crate::config::{Config, TasksConfig, Tier};

/// The semaphores of every slot group seen so far (created on first use), each with the limit
/// it was sized for. A reload resizes them (see `reconfigure`).
pub(crate) struct Slots {
    config: Mutex<TasksConfig>,
    groups: Mutex<BTreeMap<String, Group>>,
    wake: Arc<Notify>,
}

struct Group {
    semaphore: Arc<Semaphore>,
    limit: usize,
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
            config: Mutex::new(config),
            groups: Mutex::new(BTreeMap::new()),
            wake,
        }
    }

    /// How many calls of `group` may run at once.
    pub(crate) fn limit(&self, group: &str) -> usize {
        let config = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        limit_of(&config, group)
    }

    fn semaphore(&self, group: &str) -> Arc<Semaphore> {
        let limit = self.limit(group);
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let group = groups.entry(group.to_owned()).or_insert_with(|| Group {
            semaphore: Arc::new(Semaphore::new(limit)),
            limit,
        });
        Arc::clone(&group.semaphore)
    }

    /// Takes the limits of `config` from now on. A group that grew gets its new slots at once;
    /// one that shrank takes the surplus back as its slots are released (work holding them
    /// finishes; nothing new starts until the group is under its new limit).
    pub(crate) fn reconfigure(&self, config: TasksConfig) {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, group) in groups.iter_mut() {
            let limit = limit_of(&config, name);
            if limit > group.limit {
                group.semaphore.add_permits(limit - group.limit);
                self.wake.notify_one();
            } else if limit < group.limit {
                let surplus = u32::try_from(group.limit - limit).unwrap_or(u32::MAX);
                let semaphore = Arc::clone(&group.semaphore);
                match Arc::clone(&semaphore).try_acquire_many_owned(surplus) {
                    Ok(permits) => permits.forget(),
                    Err(_) => {
                        tokio::spawn(async move {
                            if let Ok(permits) = semaphore.acquire_many_owned(surplus).await {
                                permits.forget();
                            }
                        });
                    }
                }
            }
            group.limit = limit;
        }
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = config;
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
        let mut groups = vec![
            LOCAL_GROUP.to_owned(),
            COUNCIL_GROUP.to_owned(),
            BENCH_GROUP.to_owned(),
        ];
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
            .map(|(name, group)| GroupUse {
                group: name.clone(),
                limit: group.limit,
                in_use: group
                    .limit
                    .saturating_sub(group.semaphore.available_permits()),
            })
            .collect()
    }
}

/// `group`'s limit under `config` (at least one).
fn limit_of(config: &TasksConfig, group: &str) -> usize {
    if group == LOCAL_GROUP {
        config.local_slots
    } else if group == COUNCIL_GROUP {
        config.council_slots
    } else if group == BENCH_GROUP {
        1
    } else {
        match group.strip_prefix("provider:") {
            Some(provider) => config.provider_slots(provider),
            None => config.remote_slots,
        }
    }
    .max(1)
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

    #[tokio::test]
    async fn a_reload_grows_a_group_at_once_and_shrinks_it_as_slots_are_released() {
        let slots = Slots::new(
            TasksConfig {
                local_slots: 1,
                ..TasksConfig::default()
            },
            Arc::new(Notify::new()),
        );
        let held = slots.try_acquire("local").unwrap();
        assert!(slots.try_acquire("local").is_none());
        slots.reconfigure(TasksConfig {
            local_slots: 3,
            ..TasksConfig::default()
        });
        let second = slots.try_acquire("local").unwrap();
        let third = slots.try_acquire("local").unwrap();
        assert!(slots.try_acquire("local").is_none());
        assert_eq!(slots.limit("local"), 3);
        slots.reconfigure(TasksConfig {
            local_slots: 1,
            ..TasksConfig::default()
        });
        drop((held, second, third));
        // The surplus is taken back as the slots come free: one remains.
        for _ in 0..100 {
            let one = slots.try_acquire("local");
            let two = slots.try_acquire("local");
            if one.is_some() && two.is_none() {
                assert_eq!(slots.usage()[0].limit, 1);
                return;
            }
            drop((one, two));
            tokio::task::yield_now().await;
        }
        panic!("the group did not shrink to one slot");
    }
}
