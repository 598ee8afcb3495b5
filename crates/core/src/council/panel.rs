//! The panel phase: who sits on the panel (unique member names) and asking them, concurrently
//! or one after another, until the council's quorum has answered or its deadline passes —
//! cutting (cancelling) the members still running then.

use std::collections::HashMap;

use fusion_types::{CutMember, CutReason, FailedModel, MemberResponse, Usage};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::time::Instant;

use super::{CallHook, CouncilEvent, Progress, Seat, ask_model, emit, member_request, non_empty};
use crate::config::{CouncilConfig, MemberConfig};
use crate::providers::ProviderRegistry;

/// A panel seat with its unique name in this council.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub seat: MemberConfig,
}

/// The panel's members; a model that sits twice without a name gets `#2`, `#3`, ...
pub fn members(council: &CouncilConfig) -> Vec<Member> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    council
        .panel
        .iter()
        .map(|seat| {
            let base = seat.name.clone().unwrap_or_else(|| seat.model.clone());
            let count = seen.entry(base.clone()).or_insert(0);
            *count += 1;
            let name = if *count == 1 {
                base
            } else {
                format!("{base}#{count}")
            };
            Member {
                name,
                seat: seat.clone(),
            }
        })
        .collect()
}

/// What the panel produced, in seat order.
pub(super) struct PanelOutcome {
    pub responses: Vec<MemberResponse>,
    /// Members that failed, including those cut at the deadline.
    pub failed: Vec<FailedModel>,
    /// Members the panel went on without: cut at the quorum or at the deadline.
    pub cut: Vec<CutMember>,
    pub usage: Usage,
}

/// Asks the members, concurrently or one after another, until every one has answered or
/// failed, the council's `quorum` of answers is in, or its deadline (`timeout`) passes —
/// whichever comes first. The members still running then are cut: their calls are dropped,
/// which aborts their upstream requests; on a one-after-another panel the members not yet
/// asked are cut without a call. A member cut at the deadline also counts as failed.
pub(super) async fn ask(
    registry: &ProviderRegistry,
    hook: Option<&dyn CallHook>,
    council: &CouncilConfig,
    members: &[Member],
    prompt: &str,
    progress: &Progress,
) -> PanelOutcome {
    let started = Instant::now();
    let deadline = started + council.timeout;
    // A quorum of the whole panel (or none) waits for everyone, as a panel always did.
    let quorum = council.quorum.unwrap_or(members.len());
    let mut results: Vec<Option<Result<MemberResponse, String>>> = vec![None; members.len()];
    let mut asked = vec![false; members.len()];
    let call = |i: usize| {
        let member = &members[i];
        let request = member_request(
            &member.seat,
            member.seat.system.as_deref(),
            prompt.to_owned(),
        );
        emit(
            progress,
            CouncilEvent::MemberStarted {
                member: member.name.clone(),
            },
        );
        async move {
            let seat = Seat::Member(&member.name);
            let outcome = ask_model(registry, hook, seat, &member.seat.model, request)
                .await
                .and_then(non_empty)
                .map(|c| MemberResponse {
                    model: member.name.clone(),
                    content: c.text().trim().to_owned(),
                    latency_ms: c.latency_ms,
                    usage: c.usage,
                })
                .map_err(|e| e.to_string());
            (i, outcome)
        }
    };
    let mut answered = 0;
    let mut record = |i: usize, outcome: Result<MemberResponse, String>| {
        let member = members[i].name.clone();
        emit(
            progress,
            match &outcome {
                Ok(r) => CouncilEvent::MemberFinished {
                    member,
                    latency_ms: r.latency_ms,
                },
                Err(error) => CouncilEvent::MemberFailed {
                    member,
                    error: error.clone(),
                },
            },
        );
        answered += usize::from(outcome.is_ok());
        results[i] = Some(outcome);
        answered >= quorum
    };

    // Why the panel stopped before every member was done, if it did.
    let mut stopped = None;
    if council.parallel {
        asked.fill(true);
        let mut pending: FuturesUnordered<_> = (0..members.len()).map(call).collect();
        loop {
            match tokio::time::timeout_at(deadline, pending.next()).await {
                Ok(Some((i, outcome))) => {
                    if record(i, outcome) && !pending.is_empty() {
                        stopped = Some(CutReason::QuorumReached);
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    stopped = Some(CutReason::Deadline);
                    break;
                }
            }
        }
        // Dropping the stragglers' calls here aborts their upstream requests.
        drop(pending);
    } else {
        for (i, was_asked) in asked.iter_mut().enumerate() {
            *was_asked = true;
            match tokio::time::timeout_at(deadline, call(i)).await {
                Ok((i, outcome)) => {
                    if record(i, outcome) && i + 1 < members.len() {
                        stopped = Some(CutReason::QuorumReached);
                        break;
                    }
                }
                Err(_) => {
                    stopped = Some(CutReason::Deadline);
                    break;
                }
            }
        }
    }
    let after_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let timeout = humantime::format_duration(council.timeout).to_string();
    let mut outcome = PanelOutcome {
        responses: Vec::new(),
        failed: Vec::new(),
        cut: Vec::new(),
        usage: Usage::default(),
    };
    for ((member, result), cancelled) in members.iter().zip(results).zip(asked) {
        match result {
            Some(Ok(response)) => {
                outcome.usage.add(&response.usage);
                outcome.responses.push(response);
            }
            Some(Err(error)) => outcome.failed.push(FailedModel {
                model: member.name.clone(),
                error,
            }),
            None => {
                // Nothing is left unfinished unless the panel stopped early.
                let reason = stopped.unwrap_or(CutReason::Deadline);
                emit(
                    progress,
                    CouncilEvent::MemberCut {
                        member: member.name.clone(),
                        reason,
                    },
                );
                if let Some(hook) = hook {
                    hook.cut(Seat::Member(&member.name), reason).await;
                }
                outcome.cut.push(CutMember {
                    model: member.name.clone(),
                    reason,
                    after_ms,
                    cancelled,
                });
                if reason == CutReason::Deadline {
                    let how = if cancelled {
                        "its call was cancelled"
                    } else {
                        "it was never asked"
                    };
                    outcome.failed.push(FailedModel {
                        model: member.name.clone(),
                        error: format!(
                            "no answer within the council timeout of {timeout} (the panel \
                             deadline); {how}"
                        ),
                    });
                }
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use futures::future::BoxFuture;

    use super::*;
    use crate::config::Config;
    use crate::providers::Completion;

    /// Counts, when dropped while still armed, one call cancelled before it finished.
    struct CancelWatch(Option<Arc<AtomicUsize>>);

    impl CancelWatch {
        fn finished(mut self) {
            self.0 = None;
        }
    }

    impl Drop for CancelWatch {
        fn drop(&mut self) {
            if let Some(cancelled) = self.0.take() {
                cancelled.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Answers each member itself instead of a provider: `failing` ones fail on their first
    /// poll, `slow` members would take an hour, the rest answer after one turn.
    #[derive(Default)]
    struct ScriptedSeats {
        slow: Vec<&'static str>,
        failing: Vec<&'static str>,
        asked: Mutex<Vec<String>>,
        cancelled: Arc<AtomicUsize>,
    }

    impl CallHook for ScriptedSeats {
        fn call<'a>(
            &'a self,
            seat: Seat<'a>,
            _model: &'a str,
            _call: BoxFuture<'a, crate::Result<Completion>>,
        ) -> BoxFuture<'a, crate::Result<Completion>> {
            let Seat::Member(name) = seat else {
                panic!("only the panel is asked here");
            };
            self.asked.lock().unwrap().push(name.to_owned());
            let slow = self.slow.contains(&name);
            let failing = self.failing.contains(&name);
            let watch = CancelWatch(Some(Arc::clone(&self.cancelled)));
            Box::pin(async move {
                if failing {
                    watch.finished();
                    return Err(crate::ErrorKind::InvalidResponse {
                        provider: "scripted".into(),
                        message: "scripted failure".into(),
                    }
                    .into());
                }
                // Like a real call, an answer takes at least one turn of the runtime.
                tokio::task::yield_now().await;
                if slow {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                watch.finished();
                let response = serde_json::from_value(serde_json::json!({
                    "choices": [{"index": 0, "message": {"role": "assistant",
                                 "content": format!("answer of {name}")}}]
                }))
                .unwrap();
                Ok(Completion {
                    response,
                    usage: Usage::default(),
                    latency_ms: 1,
                    model: name.to_owned(),
                    provider: "scripted".into(),
                    attempts: 1,
                })
            })
        }
    }

    fn council(parallel: bool, quorum: Option<usize>, timeout: Duration) -> CouncilConfig {
        let seat = |model: &str| MemberConfig {
            model: model.into(),
            ..MemberConfig::default()
        };
        CouncilConfig {
            parallel,
            timeout,
            quorum,
            panel: vec![seat("a"), seat("b"), seat("c")],
            judge: seat("a"),
            synthesizer: None,
            notes: Vec::new(),
        }
    }

    async fn run_panel(council: &CouncilConfig, seats: &ScriptedSeats) -> PanelOutcome {
        let registry = ProviderRegistry::from_config(&Config::default()).unwrap();
        let members = members(council);
        ask(&registry, Some(seats), council, &members, "Q?", &None).await
    }

    fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<&str> {
        items.iter().map(name).collect()
    }

    #[tokio::test]
    async fn a_quorum_goes_on_without_the_straggler_and_cancels_its_call() {
        let seats = ScriptedSeats {
            slow: vec!["c"],
            ..ScriptedSeats::default()
        };
        let hour = Duration::from_secs(3600);
        let outcome = run_panel(&council(true, Some(2), hour), &seats).await;
        assert_eq!(names(&outcome.responses, |r| &r.model), ["a", "b"]);
        assert!(outcome.failed.is_empty(), "a quorum cut is not a failure");
        assert_eq!(outcome.cut.len(), 1);
        assert_eq!(outcome.cut[0].model, "c");
        assert_eq!(outcome.cut[0].reason, CutReason::QuorumReached);
        assert!(outcome.cut[0].cancelled);
        assert!(seats.asked.lock().unwrap().contains(&"c".to_owned()));
        assert_eq!(
            seats.cancelled.load(Ordering::SeqCst),
            1,
            "c's call dropped"
        );
    }

    #[tokio::test]
    async fn a_deadline_cuts_the_members_still_running_as_failed() {
        let seats = ScriptedSeats {
            slow: vec!["b", "c"],
            ..ScriptedSeats::default()
        };
        let outcome = run_panel(&council(true, None, Duration::from_millis(50)), &seats).await;
        assert_eq!(names(&outcome.responses, |r| &r.model), ["a"]);
        assert_eq!(names(&outcome.cut, |c| &c.model), ["b", "c"]);
        assert!(outcome.cut.iter().all(|c| c.reason == CutReason::Deadline));
        assert_eq!(names(&outcome.failed, |f| &f.model), ["b", "c"]);
        assert!(
            outcome.failed[0].error.contains("council timeout of 50ms")
                && outcome.failed[0].error.contains("its call was cancelled"),
            "{}",
            outcome.failed[0].error
        );
        assert_eq!(seats.cancelled.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_do_not_count_toward_the_quorum() {
        let seats = ScriptedSeats {
            failing: vec!["a"],
            ..ScriptedSeats::default()
        };
        let hour = Duration::from_secs(3600);
        let outcome = run_panel(&council(true, Some(2), hour), &seats).await;
        assert_eq!(outcome.responses.len(), 2);
        assert_eq!(names(&outcome.failed, |f| &f.model), ["a"]);
        assert!(
            outcome.cut.is_empty(),
            "the quorum came with the last member"
        );
    }

    #[tokio::test]
    async fn a_one_after_another_panel_stops_asking_at_its_quorum() {
        let seats = ScriptedSeats::default();
        let hour = Duration::from_secs(3600);
        let outcome = run_panel(&council(false, Some(1), hour), &seats).await;
        assert_eq!(*seats.asked.lock().unwrap(), ["a"]);
        assert_eq!(names(&outcome.cut, |c| &c.model), ["b", "c"]);
        assert!(outcome.cut.iter().all(|c| !c.cancelled), "never asked");
        assert!(outcome.failed.is_empty());
    }

    #[tokio::test]
    async fn without_quorum_or_deadline_the_whole_panel_answers() {
        let seats = ScriptedSeats::default();
        let outcome = run_panel(&council(true, None, Duration::from_secs(3600)), &seats).await;
        assert_eq!(outcome.responses.len(), 3);
        assert!(outcome.cut.is_empty() && outcome.failed.is_empty());
        assert_eq!(seats.cancelled.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn repeated_models_get_unique_member_names() {
        let seat = |model: &str, name: Option<&str>| MemberConfig {
            model: model.into(),
            name: name.map(Into::into),
            ..MemberConfig::default()
        };
        let council = CouncilConfig {
            parallel: true,
            timeout: Duration::from_secs(1),
            quorum: None,
            panel: vec![
                seat("q", None),
                seat("q", None),
                seat("q", Some("critic")),
                seat("l", None),
            ],
            judge: seat("q", None),
            synthesizer: None,
            notes: Vec::new(),
        };
        let names: Vec<_> = members(&council).into_iter().map(|m| m.name).collect();
        assert_eq!(names, vec!["q", "q#2", "critic", "l"]);
    }
}
