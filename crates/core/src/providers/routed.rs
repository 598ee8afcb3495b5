//! Routed calls: the router decides over the registry's live model views, then the chosen
//! model is called through the registry like any other; when it fails, the next ranked models
//! are tried within `router.retry_budget`. A model whose circuit is half-open gets exactly one
//! trial call at a time.

use std::sync::Arc;

use fusion_types::ChatRequest;
use serde::Serialize;

use super::health::Admission;
use super::limits::Block;
use super::registry::ModelSlot;
use super::{ChunkStream, Completion, ProviderRegistry};
use crate::router::{Decision, RouteInput};
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
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedAttempt {
    pub model: String,
    pub error: String,
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
    /// The routing decision for `input` over every known model, without calling any.
    pub fn route(&self, input: &RouteInput) -> Decision {
        crate::router::decide(input, &self.model_views(), &self.router)
    }

    /// [`Self::route`], decided off the async worker when it has a large text to count.
    pub async fn route_off_worker(&self, input: &RouteInput) -> Decision {
        if input.counting_bytes() <= crate::cpu::INLINE_BYTES {
            return self.route(input);
        }
        let (input, views, router) = (input.clone(), self.model_views(), self.router.clone());
        crate::cpu::off_worker(move || crate::router::decide(&input, &views, &router)).await
    }

    /// Routes `request` and calls the chosen model, falling back in ranked order.
    pub async fn chat_routed(
        &self,
        input: &RouteInput,
        request: ChatRequest,
    ) -> Result<Routed<Completion>> {
        self.routed(input, |model| {
            let request = request.clone();
            async move { self.chat(&model, request).await }
        })
        .await
    }

    /// Routes a streamed request; falls back only while no chunk has been sent.
    pub async fn chat_stream_routed(
        &self,
        input: &RouteInput,
        request: ChatRequest,
    ) -> Result<Routed<ChunkStream>> {
        self.routed(input, |model| {
            let request = request.clone();
            async move { self.chat_stream(&model, request).await }
        })
        .await
    }

    /// Decides, then makes `call` on the chosen model and on the fallbacks while it fails.
    async fn routed<T, F, Fut>(&self, input: &RouteInput, call: F) -> Result<Routed<T>>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let decision = self.route_off_worker(input).await;
        let models = candidates(&decision)?;
        let (model, failed, value) = self
            .in_ranked_order(&models, &decision.summary, call)
            .await?;
        Ok(Routed {
            decision,
            model,
            failed,
            value,
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
        let mut failed = Vec::new();
        let mut last = None;
        for model in models {
            let Some(_trial) = self.admit(model, &mut failed) else {
                continue;
            };
            match call(model.clone()).await {
                Ok(value) => return Ok((model.clone(), failed, value)),
                Err(err) if falls_back(&err) => {
                    tracing::info!(model = %model, error = %err, "routed call failed; trying the next model");
                    failed.push(FailedAttempt {
                        model: model.clone(),
                        error: err.to_string(),
                    });
                    if failed.len() > self.router.retry_budget as usize {
                        return Err(exhausted(&failed, err));
                    }
                    last = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        // Every model tried failed: the answer carries the last failure (its status, and the
        // upstream's `Retry-After` for a 429).
        match last {
            Some(err) => Err(exhausted(&failed, err)),
            None => Err(no_attempt_left(summary, &failed)),
        }
    }

    /// Checks the model's limits and circuit: `None` (skipped, noted in `failed`) while its
    /// provider rate-limits it or its daily cap is used up, when its circuit is open, or when a
    /// trial is already running.
    fn admit(&self, model: &str, failed: &mut Vec<FailedAttempt>) -> Option<Trial> {
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
            failed.push(FailedAttempt {
                model: model.to_owned(),
                error,
            });
            return None;
        }
        match slot.health.admit(self.router.cooldown) {
            Admission::Open => Some(Trial(None)),
            Admission::Trial => Some(Trial(Some(slot))),
            Admission::Refused { retry_in } => {
                failed.push(FailedAttempt {
                    model: model.to_owned(),
                    error: format!("circuit open (retry in {} ms)", retry_in.as_millis()),
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

fn exhausted(failed: &[FailedAttempt], last: Error) -> Error {
    ErrorKind::RouteExhausted {
        tried: failed
            .iter()
            .map(|f| f.model.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        last: Box::new(last),
    }
    .into()
}

fn no_attempt_left(summary: &str, failed: &[FailedAttempt]) -> Error {
    let tried = failed
        .iter()
        .map(|f| format!("{}: {}", f.model, f.error))
        .collect::<Vec<_>>()
        .join("; ");
    ErrorKind::NoRoute {
        reason: format!("{summary}; {tried}"),
    }
    .into()
}
