//! One deliberation round (`fusion loop`): the four role views — Explorer, Builder, Critic,
//! Performance Sentinel — asked in parallel over the objective and the run state, then the
//! conductor reads them with the Sentinel's health and decides. A view whose models all fail is
//! recorded as missing; the Sentinel without its model gives the computed verdict and says so.

use futures::future::join_all;
use serde::Serialize;

use super::conductor;
use super::prompts;
use super::record::{Decision, View};
use super::roles::{LoopRole, RoleCaller, messages};
use super::sentinel::{self, Health};
use super::state::RunState;

/// What a round produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    pub objective: String,
    /// The run, when the round was for a stored one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub step: u32,
    pub state: RunState,
    /// The conductor's decision, with the views and health it read.
    pub decision: Decision,
    /// Where the decision is kept in the run's trail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_seq: Option<u32>,
}

/// Runs one round over `state` as of `now_ms`. Never fails: problems are in the decision.
pub async fn deliberate(
    caller: &RoleCaller<'_>,
    objective: &str,
    state: &RunState,
    now_ms: i64,
) -> Decision {
    let computed = sentinel::assess(state, &caller.config.looped, now_ms);
    let state_text = state.describe(now_ms);
    let health_text = computed.describe();
    let asked = join_all(LoopRole::VIEWS.map(|role| {
        let conversation = messages(
            prompts::view_system(role),
            prompts::view_user(role, objective, &state_text, &health_text),
        );
        async move { (role, caller.ask(role, &conversation, None).await) }
    }))
    .await;

    let mut degradations = Vec::new();
    let mut views = Vec::new();
    let mut sentinel_verdict = None;
    for (role, outcome) in asked {
        match outcome {
            Ok(answer) => {
                if role == LoopRole::Sentinel {
                    sentinel_verdict = Health::find_in(&answer.text);
                    if sentinel_verdict.is_none() {
                        degradations.push(
                            "the Performance Sentinel named no verdict; the computed one stands"
                                .to_owned(),
                        );
                    }
                }
                degradations.extend(
                    answer
                        .failures
                        .iter()
                        .map(|f| format!("{} fell back past {f}", role.as_str())),
                );
                views.push(View {
                    role: role.as_str().to_owned(),
                    model: Some(answer.target.to_string()),
                    content: answer.text.trim().to_owned(),
                    error: None,
                });
            }
            Err(failures) if role == LoopRole::Sentinel => {
                let reason = format!(
                    "the Performance Sentinel's model failed ({}); its verdict is computed from \
                     the run state",
                    failures.join("; ")
                );
                views.push(View {
                    role: role.as_str().to_owned(),
                    model: None,
                    content: format!("{health_text}\nverdict: {}", computed.verdict.as_str()),
                    error: None,
                });
                degradations.push(reason);
            }
            Err(failures) => {
                let error = failures.join("; ");
                degradations.push(format!("the {} view failed: {error}", role.title()));
                views.push(View {
                    role: role.as_str().to_owned(),
                    model: None,
                    content: String::new(),
                    error: Some(error),
                });
            }
        }
    }
    let health = computed.with_model_verdict(sentinel_verdict);
    let user = prompts::conductor_round_user(objective, &state_text, &health.describe(), &views);
    let mut decision = conductor::conduct(caller, user).await;
    degradations.append(&mut decision.degradation_reasons);
    decision.degradation_reasons = degradations;
    decision.health = Some(health);
    decision.views = views;
    decision
}
