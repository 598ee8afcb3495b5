//! The queue as one process sees it (`TaskEngine::queue`: per slot group this process's limit
//! and use beside the store-wide counts), and what it tells a task waiting in a group: the
//! contention report of `route_task` and `POST /api/tasks`, naming the benchmark runs that
//! hold or wait for the group's slots, as the routing server Fusion replaces did.

use serde::Serialize;

use super::TaskEngine;
use super::spec::LOCAL_GROUP;
use crate::Result;

/// The queue as one process sees it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    /// This process's owner id.
    pub owner: String,
    /// Across every process sharing the store.
    pub queued: u64,
    pub running: u64,
    pub groups: Vec<SlotGroupView>,
}

/// One slot group: this process's limit and use, and the store-wide counts.
#[derive(Debug, Clone, Serialize)]
pub struct SlotGroupView {
    pub group: String,
    pub limit: usize,
    /// Slots held by this process now.
    pub in_use: usize,
    pub queued: u64,
    pub running: u64,
    /// Of `queued` and `running`, benchmark runs.
    pub bench_queued: u64,
    pub bench_running: u64,
}

/// How busy the slots a task waits for are, when they are all taken: the routing server's
/// contention metadata on `route_task` (where benchmark runs held the local slot).
#[derive(Debug, Clone, Serialize)]
pub struct Contention {
    pub slot_group: String,
    /// The group is the local models' (one group shared by every local-tier model).
    pub local_slot_contended: bool,
    /// This process's slots for the group.
    pub limit: usize,
    /// Store-wide: tasks of the group running and queued (the new task included).
    pub running: u64,
    pub queued: u64,
    pub message: String,
    /// The benchmark runs among the running ones, when there are any: answered beside
    /// `contention` as the replaced server's `benchmark_contention`.
    #[serde(skip)]
    pub benchmark: Option<BenchContention>,
}

/// Benchmark runs holding or waiting for a group's slots, in the replaced server's words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchContention {
    pub local_slot_contended: bool,
    pub active_benchmark_runs: u64,
    pub queued_benchmark_runs: u64,
    pub message: String,
}

impl QueueView {
    /// The contention of `group` for a task that waits in it, when its slots are all taken by
    /// other running tasks (`None` while one is free). Counted from the tasks marked running
    /// in the store (every process's), less the asking task when it already runs.
    pub fn contention(&self, group: &str, asking_runs: bool) -> Option<Contention> {
        let g = self.groups.iter().find(|g| g.group == group)?;
        let others = g.running.saturating_sub(u64::from(asking_runs));
        if usize::try_from(others).unwrap_or(usize::MAX) < g.limit {
            return None;
        }
        let local = group == LOCAL_GROUP;
        let what = if local {
            "Local execution slots".to_owned()
        } else {
            format!("Slots of `{group}`")
        };
        let benchmark = (g.bench_running > 0).then(|| BenchContention {
            local_slot_contended: local,
            active_benchmark_runs: g.bench_running,
            queued_benchmark_runs: g.bench_queued,
            message: if local {
                "Local execution slot currently contended by benchmark workloads.".to_owned()
            } else {
                format!("{what} currently contended by benchmark workloads.")
            },
        });
        Some(Contention {
            slot_group: group.to_owned(),
            local_slot_contended: local,
            limit: g.limit,
            running: g.running,
            queued: g.queued,
            message: format!(
                "{what} are busy: {others} task(s) running on {} slot(s), {} queued; this task \
                 waits its turn.",
                g.limit, g.queued
            ),
            benchmark,
        })
    }
}

impl TaskEngine {
    /// Per slot group: this process's limit and slots in use, and the store-wide queued and
    /// running counts.
    pub async fn queue(&self) -> Result<QueueView> {
        let counts = self.inner.store.task_group_counts().await?;
        let (config, _) = (self.inner.source)();
        let mut names = self.inner.slots.dispatch_groups(&config);
        for count in &counts {
            if !names.contains(&count.slot_group) {
                names.push(count.slot_group.clone());
            }
        }
        names.sort();
        let usage = self.inner.slots.usage();
        let groups: Vec<SlotGroupView> = names
            .into_iter()
            .map(|group| {
                let count = counts.iter().find(|c| c.slot_group == group);
                SlotGroupView {
                    limit: self.inner.slots.limit(&group),
                    in_use: usage
                        .iter()
                        .find(|u| u.group == group)
                        .map_or(0, |u| u.in_use),
                    queued: count.map_or(0, |c| c.queued),
                    running: count.map_or(0, |c| c.running),
                    bench_queued: count.map_or(0, |c| c.bench_queued),
                    bench_running: count.map_or(0, |c| c.bench_running),
                    group,
                }
            })
            .collect();
        Ok(QueueView {
            owner: self.inner.owner.clone(),
            queued: counts.iter().map(|c| c.queued).sum(),
            running: counts.iter().map(|c| c.running).sum(),
            groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(group: &str, limit: usize, in_use: usize, running: u64, queued: u64) -> QueueView {
        QueueView {
            owner: "me".into(),
            queued,
            running,
            groups: vec![SlotGroupView {
                group: group.into(),
                limit,
                in_use,
                queued,
                running,
                bench_queued: 0,
                bench_running: 0,
            }],
        }
    }

    #[test]
    fn contention_is_reported_only_when_every_slot_of_the_group_is_taken() {
        assert!(
            queue("local", 2, 1, 1, 1)
                .contention("local", false)
                .is_none()
        );
        // A slot held for a task not yet marked running is no contention, nor is the slot of
        // the asking task itself once it runs.
        assert!(
            queue("local", 1, 1, 0, 1)
                .contention("local", false)
                .is_none()
        );
        assert!(
            queue("local", 1, 1, 1, 0)
                .contention("local", true)
                .is_none()
        );
        let busy = queue("local", 1, 1, 1, 2)
            .contention("local", false)
            .unwrap();
        assert!(busy.local_slot_contended);
        assert_eq!((busy.limit, busy.running, busy.queued), (1, 1, 2));
        assert!(
            busy.message
                .starts_with("Local execution slots are busy: 1 task(s) running on 1"),
            "{}",
            busy.message
        );
        // Another process's running tasks count too; a remote group is not the local slot.
        let remote = queue("openrouter", 2, 0, 2, 1)
            .contention("openrouter", false)
            .unwrap();
        assert!(!remote.local_slot_contended);
        assert!(
            queue("local", 1, 1, 1, 0)
                .contention("council", false)
                .is_none()
        );
    }

    #[test]
    fn benchmark_runs_holding_the_slots_are_named_as_the_replaced_server_did() {
        let mut view = queue("local", 1, 1, 1, 3);
        assert!(
            view.contention("local", false).unwrap().benchmark.is_none(),
            "no benchmark runs, no benchmark contention"
        );
        view.groups[0].bench_running = 1;
        view.groups[0].bench_queued = 2;
        let benchmark = view.contention("local", false).unwrap().benchmark.unwrap();
        assert_eq!(
            benchmark,
            BenchContention {
                local_slot_contended: true,
                active_benchmark_runs: 1,
                queued_benchmark_runs: 2,
                message: "Local execution slot currently contended by benchmark workloads."
                    .to_owned(),
            }
        );
    }
}
