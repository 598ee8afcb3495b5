//! Routed calls: the router decides over the registry's live model views, then the chosen
//! model is called through the registry like any other; when it fails, the next ranked models
//! are tried within `router.retry_budget`. A model whose circuit is half-open gets exactly one
//! trial call at a time. A decision escalated to a council (`[router.escalate]`) runs the
//! council first; when every panel member fails, the single-model fallbacks are tried. Every
//! decision but a preview goes to the dashboard's history.

use std::sync::Arc;

use fusion_types::{ChatRequest, CouncilResult};
use serde::Serialize;

use super::health::Admission;
use super::limits::Block;
use super::registry::ModelSlot;
use super::{ChunkStream, Completion, ProviderRegistry, current_caller};
use crate::error::{AttemptFailure, RouteAttempt};
use crate::router::{Decision, RouteInput};
use crate::store::Caller;
use crate::{Error, ErrorKind, Result};

/// A routed call's value with the decision that placed it.
#[derive(Debug)]
pub struct Routed<T> {
    pub decision: Decision,
    /// The model that answered.
    pub model: String,
    /// Models tried first that failed, with their errors, in order.
    pub failed: Vec<FailedAttempt>,
    pub value: T,
    /// The council's trace, when the decision escalated to a council and it answered.
    pub council: Option<CouncilResult>,
}

/// A model tried (or passed over) before the one that answered, with its error's text.
#[derive(Debug, Clone, Serialize)]
pub struct FailedAttempt {
    pub model: String,
    pub error: String,
}

impl From<&RouteAttempt> for FailedAttempt {
    fn from(attempt: &RouteAttempt) -> Self {
        Self {
            model: attempt.model.clone(),
            error: attempt.failure.to_string(),
        }
    }
}

/// Releases a reserved trial call however the attempt ends (success and failure have already
/// settled the circuit by then; this covers errors that say nothing about health and drops).
struct Trial(Option<Arc<ModelSlot>>);

impl Drop for Trial {
    fn drop(&mut self) {
        if let Some(slot) = &self.0 {
            slot.health.release_trial();
        }
    }
}

impl ProviderRegistry {
    /// The routing decision for `input` over every known model, without calling any. It is
    /// recorded in the dashboard's history for the current caller (queued, never written on
    /// this path; see [`crate::store::History`]).
    pub fn route(&self, input: &RouteInput) -> Decision {
        let decision = self.route_preview(input);
        self.record_decision(current_caller(), &decision);
        decision
    }

    /// [`Self::route`] without recording the decision: a preview (the dashboard's "try a
    /// route").
    pub fn route_preview(&self, input: &RouteInput) -> Decision {
        let council = self.council_view();
        crate::router::decide_with_council(
            input,
            &self.model_views(),
            council.as_ref(),
            &self.router,
        )
    }

    /// [`Self::route`], decided off the async worker when it has a large text to count.
    pub async fn route_off_worker(&self, input: &RouteInput) -> Decision {
        if input.counting_bytes() <= crate::cpu::INLINE_BYTES {
            return self.route(input);
        }
        // The caller is known here, not on the blocking thread.
        let caller = current_caller();
        let (input, views, router) = (input.clone(), self.model_views(), self.router.clone());
        let council = self.council_view();
        let decision = crate::cpu::off_worker(move || {
            crate::router::decide_with_council(&input, &views, council.as_ref(), &router)
        })
        .await;
        self.record_decision(caller, &decision);
        decision
    }

    fn record_decision(&self, caller: Caller, decision: &Decision) {
        if let Some(ledger) = self.ledger() {
            ledger.history().record_decision(caller, decision);
        }
    }

    /// Routes `request` and calls the chosen model, falling back in ranked order.
    pub async fn chat_routed(
        &self,
        input: &RouteInput,
        request: ChatRequest,
    ) -> Result<Routed<Completion>> {
        self.routed(
            input,
            |model| {
                let request = request.clone();
                async move { self.chat(&model, request).await }
            },
            || self.chat_council(&request),
        )
        .await
    }

    /// Routes a streamed request; falls back only while no chunk has been sent.
    pub async fn chat_stream_routed(
        &self,
        input: &RouteInput,
        request: ChatRequest,
    ) -> Result<Routed<ChunkStream>> {
        self.routed(
            input,
            |model| {
                let request = request.clone();
                async move { self.chat_stream(&model, request).await }
            },
            || self.chat_stream_council(&request),
        )
        .await
    }

    /// Decides, then makes `call` on the chosen model and on the fallbacks while it fails; a
    /// decision escalated to a council runs `council` first.
    async fn routed<T, F, Fut, C, CFut>(
        &self,
        input: &RouteInput,
        call: F,
        council: C,
    ) -> Result<Routed<T>>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
        C: FnOnce() -> CFut,
        CFut: std::future::Future<Output = Result<(T, CouncilResult)>>,
    {
        let decision = self.route_off_worker(input).await;
        let mut models = candidates(&decision)?;
        let mut council_failed = None;
        if decision.escalation.is_some() {
            let target = models.remove(0);
            match council().await {
                Ok((value, trace)) => {
                    return Ok(Routed {
                        decision,
                        model: target,
                        failed: Vec::new(),
                        value,
                        council: Some(trace),
                    });
                }
                Err(err) if falls_back(&err) && !models.is_empty() => {
                    tracing::info!(council = %target, error = %err, "escalated council failed; trying the single models");
                    council_failed = Some(FailedAttempt {
                        model: target,
                        error: err.to_string(),
                    });
                }
                Err(err) => return Err(err),
            }
        }
        let (model, mut failed, value) = self
            .in_ranked_order(&models, &decision.summary, call)
            .await?;
        if let Some(first) = council_failed {
            failed.insert(0, first);
        }
        Ok(Routed {
            decision,
            model,
            failed,
            value,
            council: None,
        })
    }

    /// Makes `call` on `models` (a decision's chosen model, then its fallbacks) in order while
    /// it fails in a way another model may not, within `router.retry_budget`, skipping models
    /// whose circuit is open. `summary` (the decision's) explains an empty outcome. Returns the
    /// model that answered, the attempts that failed first, and the value. Tasks call this with
    /// the decision they stored at submit.
    pub(crate) async fn in_ranked_order<T, F, Fut>(
        &self,
        models: &[String],
        summary: &str,
        call: F,
    ) -> Result<(String, Vec<FailedAttempt>, T)>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut failed: Vec<RouteAttempt> = Vec::new();
        for model in models {
            let Some(_trial) = self.admit(model, &mut failed) else {
                continue;
            };
            match call(model.clone()).await {
                Ok(value) => {
                    let failed = failed.iter().map(FailedAttempt::from).collect();
                    return Ok((model.clone(), failed, value));
                }
                Err(err) if falls_back(&err) => {
                    tracing::info!(model = %model, error = %err, "routed call failed; trying the next model");
                    failed.push(RouteAttempt {
                        model: model.clone(),
                        failure: AttemptFailure::Failed(err),
                    });
                    if failed.len() > self.router.retry_budget as usize {
                        break;
                    }
                }
                Err(err) => return Err(err),
            }
        }
        // Every model failed: the answer carries every attempt, and the last failed call sets
        // its status (and the upstream's `Retry-After` for a 429).
        Err(exhausted(failed, summary))
    }

    /// Checks the model's limits and circuit: `None` (skipped, noted in `failed`) while its
    /// provider rate-limits it or its daily cap is used up, when its circuit is open, or when a
    /// trial is already running.
    fn admit(&self, model: &str, failed: &mut Vec<RouteAttempt>) -> Option<Trial> {
        let slot = self.table().get(model).cloned()?;
        if let Some(block) = slot.limits.blocked(crate::store::now_ms()) {
            let error = match block {
                Block::RateLimited { retry_in } => format!(
                    "rate-limited by its provider (HTTP 429; retry in {} ms)",
                    retry_in.as_millis()
                ),
                Block::DailyCap { resets_in, .. } => format!(
                    "daily request cap of its provider reached (resets in {} s)",
                    resets_in.as_secs()
                ),
            };
            failed.push(RouteAttempt {
                model: model.to_owned(),
                failure: AttemptFailure::Skipped(error),
            });
            return None;
        }
        match slot.health.admit(self.router.cooldown) {
            Admission::Open => Some(Trial(None)),
            Admission::Trial => Some(Trial(Some(slot))),
            Admission::Refused { retry_in } => {
                failed.push(RouteAttempt {
                    model: model.to_owned(),
                    failure: AttemptFailure::Skipped(format!(
                        "circuit open (retry in {} ms)",
                        retry_in.as_millis()
                    )),
                });
                None
            }
        }
    }
}

/// The chosen model and its fallbacks, or why there are none (a rate limit, with when to retry,
/// when providers' limits are all that stands in the way).
fn candidates(decision: &Decision) -> Result<Vec<String>> {
    let Some(chosen) = &decision.chosen else {
        if let Some(ms) = decision.retry_in_ms {
            return Err(ErrorKind::RateLimited {
                reason: decision.summary.clone(),
                retry_after: ms.div_ceil(1000).max(1),
            }
            .into());
        }
        return Err(ErrorKind::NoRoute {
            reason: decision.summary.clone(),
        }
        .into());
    };
    Ok(std::iter::once(chosen.clone())
        .chain(decision.fallbacks.iter().cloned())
        .collect())
}

/// Whether another model may do better: not when the request itself was refused, nor when the
/// work was cancelled.
fn falls_back(err: &Error) -> bool {
    !matches!(
        err.kind(),
        ErrorKind::UpstreamStatus {
            status: 400 | 413 | 422,
            ..
        } | ErrorKind::Invalid(_)
            | ErrorKind::Cancelled { .. }
    )
}

/// `RouteExhausted` with every attempt, the last failed call taken out as `last`; `NoRoute`
/// (with `summary` and why each model was passed over) when no model was called at all.
fn exhausted(attempts: Vec<RouteAttempt>, summary: &str) -> Error {
    let mut last = None;
    let mut others = Vec::with_capacity(attempts.len());
    for RouteAttempt { model, failure } in attempts.into_iter().rev() {
        match (failure, &last) {
            (AttemptFailure::Failed(err), None) => last = Some((model, err)),
            (failure, _) => others.push(RouteAttempt { model, failure }),
        }
    }
    others.reverse();
    match last {
        Some((last_model, err)) => ErrorKind::RouteExhausted {
            attempts: others,
            last_model,
            last: Box::new(err),
        }
        .into(),
        None => no_attempt_left(summary, &others),
    }
}

fn no_attempt_left(summary: &str, failed: &[RouteAttempt]) -> Error {
    let tried = failed
        .iter()
        .map(|f| format!("{}: {}", f.model, f.failure))
        .collect::<Vec<_>>()
        .join("; ");
    ErrorKind::NoRoute {
        reason: format!("{summary}; {tried}"),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Config;

    fn registry() -> ProviderRegistry {
        let config: Config = toml::from_str(
            r#"
[router]
retry_budget = 5

[[providers]]
name = "local"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "a"
provider = "local"

[[models]]
id = "b"
provider = "local"

[[models]]
id = "c"
provider = "local"
"#,
        )
        .unwrap();
        ProviderRegistry::from_config(&config).unwrap()
    }

    fn failure(model: &str) -> Error {
        match model {
            "a" => ErrorKind::UpstreamStatus {
                provider: "local".into(),
                status: 503,
                message: "overloaded".into(),
                retry_after: None,
            }
            .into(),
            "b" => ErrorKind::Timeout {
                provider: "local".into(),
                after: Duration::from_secs(3),
            }
            .into(),
            other => ErrorKind::UpstreamStatus {
                provider: "local".into(),
                status: 429,
                message: format!("{other} is rate-limited"),
                retry_after: Some(7),
            }
            .into(),
        }
    }

    #[tokio::test]
    async fn exhausted_fallbacks_keep_every_attempt() {
        let registry = registry();
        let models = ["a", "b", "c"].map(String::from);
        let err = registry
            .in_ranked_order(&models, "summary", |model| async move {
                Err::<(), _>(failure(&model))
            })
            .await
            .unwrap_err();
        let ErrorKind::RouteExhausted {
            attempts,
            last_model,
            last,
        } = err.kind()
        else {
            panic!("not exhausted: {err}");
        };
        let earlier: Vec<(&str, &str)> = attempts
            .iter()
            .map(|a| match &a.failure {
                AttemptFailure::Failed(e) => (a.model.as_str(), e.class()),
                AttemptFailure::Skipped(_) => (a.model.as_str(), "skipped"),
            })
            .collect();
        assert_eq!(earlier, [("a", "upstream_5xx"), ("b", "timeout")]);
        assert_eq!(last_model, "c");
        assert_eq!(last.class(), "rate_limited");
        // The last failure sets the answer: a 429 with the upstream's Retry-After.
        assert_eq!(err.status_code(), 429);
        assert_eq!(err.retry_after(), Some(7));
        let text = err.to_string();
        for part in [
            "a: provider `local`",
            "overloaded",
            "b: provider `local`: no answer",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(
            text.contains("c: provider `local`: upstream returned HTTP 429"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_refused_request_does_not_fall_back() {
        let registry = registry();
        let models = ["a", "b"].map(String::from);
        let err = registry
            .in_ranked_order(&models, "summary", |_| async move {
                Err::<(), _>(ErrorKind::Invalid("bad request".into()).into())
            })
            .await
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Invalid(_)), "{err}");
    }
}
