//! The panel phase: who sits on the panel (unique member names) and asking them, concurrently
//! or one after another, within the council's deadline.

use std::collections::HashMap;

use fusion_types::{FailedModel, MemberResponse, Usage};
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
    pub failed: Vec<FailedModel>,
    pub usage: Usage,
}

/// Asks every member; members unfinished at the council deadline count as failed.
pub(super) async fn ask(
    registry: &ProviderRegistry,
    hook: Option<&dyn CallHook>,
    council: &CouncilConfig,
    members: &[Member],
    prompt: &str,
    progress: &Progress,
) -> PanelOutcome {
    let deadline = Instant::now() + council.timeout;
    let mut results: Vec<Option<Result<MemberResponse, String>>> = vec![None; members.len()];
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
        results[i] = Some(outcome);
    };

    if council.parallel {
        let mut pending: FuturesUnordered<_> = (0..members.len()).map(call).collect();
        while let Ok(Some((i, outcome))) = tokio::time::timeout_at(deadline, pending.next()).await {
            record(i, outcome);
        }
    } else {
        for i in 0..members.len() {
            match tokio::time::timeout_at(deadline, call(i)).await {
                Ok((i, outcome)) => record(i, outcome),
                Err(_) => break,
            }
        }
    }

    let timeout = humantime::format_duration(council.timeout).to_string();
    let mut outcome = PanelOutcome {
        responses: Vec::new(),
        failed: Vec::new(),
        usage: Usage::default(),
    };
    for (member, result) in members.iter().zip(results) {
        let result = result.unwrap_or_else(|| {
            let error = format!("no answer within the council timeout of {timeout}");
            emit(
                progress,
                CouncilEvent::MemberFailed {
                    member: member.name.clone(),
                    error: error.clone(),
                },
            );
            Err(error)
        });
        match result {
            Ok(response) => {
                outcome.usage.add(&response.usage);
                outcome.responses.push(response);
            }
            Err(error) => outcome.failed.push(FailedModel {
                model: member.name.clone(),
                error,
            }),
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_models_get_unique_member_names() {
        let seat = |model: &str, name: Option<&str>| MemberConfig {
            model: model.into(),
            name: name.map(Into::into),
            ..MemberConfig::default()
        };
        let council = CouncilConfig {
            parallel: true,
            timeout: std::time::Duration::from_secs(1),
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
