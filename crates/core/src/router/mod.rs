//! The routing policy: given a task and the models the registry can reach, decide which model
//! gets the task, which ones are the fallbacks, and explain every verdict. The decision is pure
//! and fast — no I/O, no async, no model calls; the registry builds the [`ModelView`]s and
//! executes the [`Decision`].
//!
//! # Semantics
//!
//! **Estimation** ([`estimate`], in `estimate.rs`). Anything the caller does not give is
//! estimated once per decision and marked `*_estimated`:
//! - input tokens: counted from `text` with the `cl100k_base` tokenizer
//!   ([`crate::tokens::estimate_text`]) — only when `context_tokens` is `None`;
//! - category: keyword and shape heuristics — code fences, code-shaped lines, language names,
//!   "function", "bug", "refactor" → code; "prove", "why", "analyze", "plan", arithmetic →
//!   reasoning; "summar…", "tl;dr" → summarization (stronger on long pasted text); "write / draft
//!   an email, essay, story…" → writing; otherwise chat. The highest score wins; ties go to code,
//!   then reasoning, summarization, writing;
//! - complexity (0–1): a base by category (chat 0.1 … reasoning 0.35) plus input length (log
//!   scale, full at 4096 tokens), requirements/steps (list items, "must", "then", "each"…),
//!   reasoning words and code size, clamped;
//! - output tokens: by category (chat 256, summarization 384, writing and reasoning 768, code
//!   1024) × (0.5 + complexity).
//!
//! **Filters** (`rank.rs`). A model is rejected, with one sentence saying why (the first that
//! applies, in this order), when: `free_only` is set and it is paid, or its price is unknown (a
//! hosted model that neither the config nor a catalog prices); input + output tokens exceed
//! its known context window; its quality for the category is below the required quality; its
//! estimated cost is over `cost_threshold` (priorities `cost`, `balanced`, `quality`; not
//! `speed`); its circuit is open (the sentence says when it retries), its provider rate-limited
//! it (HTTP 429, until `Retry-After`) or its daily cap is used up (until the reset), or its last
//! probe failed. `Healthy`, `Unknown` (not probed yet) and `HalfOpen` (one trial call) are
//! routable.
//!
//! **Required quality** = `quality_threshold × complexity`, but at least `0.2 ×
//! quality_threshold`: with the default 0.7 a complexity-1 task needs 0.7, a complexity-0.5 one
//! 0.35, a trivial one 0.14. A model's quality for the task ([`quality_at`]) is, in order: what
//! `fusion bench` measured at the task's complexity — the logistic fit of its scores in the
//! category against the complexity this router estimates for each bench task
//! ([`ComplexityFit`], `fit.rs`), read at the task's complexity or the nearest one benched —
//! once the fit has `reliable_after` answers (default 3); else its mean in the category once
//! that has `reliable_after` answers; with fewer, the mean and the prior blended by count; with
//! none, the prior: its value for the category, else its `default`, else by tier (local 0.5,
//! free 0.6, paid 0.8) — see [`quality_estimate`]. Every candidate's reason says which it used
//! ("quality 0.64 measured (n=60) at complexity 0.80", "0.82 measured (n=40)", "0.60 prior").
//!
//! **Cost** ([`cost_usd`]): 0 for local and free tiers; `price × tokens / 1e6` for paid; unknown
//! for a paid model without a price, which is never rejected by the cost threshold but ranks
//! after every model whose cost is known (its reason says "no price configured"). A model whose
//! price is unknown (`price_unknown`) ranks after every model with a known price under every
//! priority, `speed` included.
//!
//! **Ranking** of the models that pass (at equal cost the higher quality first, unless both
//! qualities are only their tiers' defaults, which say nothing about one model against another:
//! then local before free):
//! - `cost`: estimated cost, then quality, then tier, then lower p50;
//! - `balanced`: the most value — `credited quality − rate × estimated cost`, the rate being
//!   `quality_threshold / cost_threshold` quality per USD (by default 0.7 per $0.02: a model
//!   $0.01 dearer must be 0.35 better) — then the `cost` order. A quality measured at the
//!   task's complexity (a fit read within 0.1 of it) is credited in full; any other (a prior, a
//!   category's mean, a fit read at the nearest complexity benched far from the task's) only up
//!   to the bar + 0.15 (`ROOM_TO_SPARE`): on a task the cheap model clears with room to spare,
//!   a model that only rates higher on average is not worth paying for. The summary says what the choice was weighed against, each reason its value;
//! - `quality`: known cost first, then highest quality, then cheaper, then tier;
//! - `speed`: lowest known p50 latency (unknown latency after known ones), then tier, then cheaper.
//!
//! When input + output tokens exceed `token_threshold`, local and free models rank ahead of paid
//! ones under `cost` and `speed` (a paid model is still chosen when nothing cheaper passes); the
//! reasons say so (`balanced` weighs each model's cost of the long task instead, `quality`
//! ignores it). At equal keys Healthy ranks before Unknown before HalfOpen, and the model id
//! breaks the remaining ties, so a decision is deterministic. The first ranked model is chosen;
//! the next ones, at most `retry_budget`, are the fallbacks.
//!
//! **Escalation** (`escalate.rs`, off unless `[router.escalate]` names a council): a task no
//! single model can take because of its quality, or one whose complexity is above
//! `above_complexity`, goes to that council (`chosen` is `fusion/<council>`) when the
//! council's rating meets the required quality, one of its panel members is routable and the
//! sum of its expected calls stays within `max_cost_usd`; the single-model choice, if any, is
//! then its fallback. The summary says why it escalated, or why it did not.
//!
//! The `fusion eval routing` replay measured these rules (BENCHMARKS.md, "Routing eval"): the
//! fit and the value rule are what bring 95% of the strongest model's quality from ~71% to ~29%
//! of its cost on the synthetic set.

mod escalate;
mod estimate;
mod fit;
mod format;
mod quality;
mod rank;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_escalate;
#[cfg(test)]
mod tests_measured;
#[cfg(test)]
mod tests_pricing;
#[cfg(test)]
mod tests_value;

use std::fmt::Write as _;

use fusion_types::ChatMessage;
use serde::Serialize;

use crate::config::{Category, Price, Priority, QualityPriors, RouterConfig, Tier};

pub use escalate::{
    COUNCIL_LIFT, COUNCIL_MODEL_PREFIX, CouncilView, Escalation, ExpectedCall, RatedBy, SeatView,
    Trigger,
};
pub use estimate::estimate;
pub use fit::{ComplexityFit, ScoredAt};
use format::{Cost, Ms, Q, QualityText, Usd};
pub use quality::{
    Measured, MeasuredByCategory, QualityEstimate, QualitySource, quality_at, quality_estimate,
    quality_for,
};
use rank::{Ranking, Rejection, tier_str};

/// What the router is asked to place.
#[derive(Debug, Clone, Default)]
pub struct RouteInput {
    /// The task, or the messages' text joined.
    pub text: String,
    /// Given by the caller; else counted from `text` with [`crate::tokens::estimate_text`].
    pub context_tokens: Option<u64>,
    /// Else estimated by category, scaled by complexity.
    pub expected_output_tokens: Option<u64>,
    /// 0–1; else estimated from the text.
    pub complexity: Option<f64>,
    /// Else estimated from the text.
    pub category: Option<Category>,
    /// Else `config.priority`.
    pub priority: Option<Priority>,
}

impl RouteInput {
    /// The text content of the messages, one per line, with their token count
    /// ([`crate::tokens::estimate_messages`]) as the context size.
    pub fn from_messages(messages: &[ChatMessage]) -> Self {
        let mut text = String::new();
        for message in messages {
            let content = message.text_content();
            if content.is_empty() {
                continue;
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&content);
        }
        Self {
            text,
            context_tokens: Some(crate::tokens::estimate_messages(messages)),
            ..Self::default()
        }
    }

    /// [`Self::from_messages`], counted off the async worker when the messages are large.
    pub async fn from_messages_off_worker(messages: &[ChatMessage]) -> Self {
        let bytes = crate::tokens::message_bytes(messages);
        if bytes <= crate::cpu::INLINE_BYTES {
            return Self::from_messages(messages);
        }
        let owned = messages.to_vec();
        crate::cpu::off_worker(move || Self::from_messages(&owned)).await
    }

    /// Bytes whose tokens a decision on this input may have to count.
    pub fn counting_bytes(&self) -> usize {
        if self.context_tokens.is_some() {
            // Only the signal scan (bounded head and tail) remains.
            self.text.len().min(16 * 1024)
        } else {
            self.text.len()
        }
    }
}

/// Health as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Health {
    Healthy,
    /// Not probed yet: routable.
    Unknown,
    /// Cooldown over, one trial call allowed: routable.
    HalfOpen,
    /// Too many consecutive failures; out of routing until the cooldown ends.
    CircuitOpen {
        retry_in_ms: u64,
    },
    /// The last active probe failed.
    Unreachable,
    /// The provider answered HTTP 429; out of routing until its `Retry-After` has passed.
    RateLimited {
        retry_in_ms: u64,
    },
    /// The provider's daily request cap for this model is used up until the window resets.
    DailyCapReached {
        /// Requests per day, when the provider stated it.
        limit: Option<u64>,
        /// Calls made in the window.
        used: u64,
        resets_in_ms: u64,
    },
}

impl Health {
    /// Whether a model in this state may be chosen.
    pub fn is_routable(self) -> bool {
        matches!(self, Self::Healthy | Self::Unknown | Self::HalfOpen)
    }
}

/// One model as the router sees it (built by the registry).
#[derive(Debug, Clone)]
pub struct ModelView {
    pub id: String,
    pub provider: String,
    pub tier: Tier,
    pub context_window: Option<u32>,
    pub price: Option<Price>,
    /// Neither the config nor a catalog gives its price and it is not local (`tier` is then
    /// paid and `price` none): rejected under `free_only`, ranked after every known price.
    pub price_unknown: bool,
    pub quality: QualityPriors,
    /// What benchmarks measured, per category.
    pub measured: MeasuredByCategory,
    pub health: Health,
    pub latency_p50_ms: Option<f64>,
}

/// What the router assumed about the task; `*_estimated` marks values it guessed.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub input_tokens: u64,
    pub input_tokens_estimated: bool,
    pub output_tokens: u64,
    pub output_tokens_estimated: bool,
    pub complexity: f64,
    pub complexity_estimated: bool,
    pub category: Category,
    pub category_estimated: bool,
}

/// What the router made of one model.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Routable; `rank` 1 is the chosen model.
    Ranked {
        rank: u32,
        reason: String,
    },
    Rejected {
        reason: String,
    },
}

/// One model in a decision, with the numbers the verdict was based on.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateReport {
    pub model: String,
    pub provider: String,
    pub tier: Tier,
    pub quality: f64,
    /// Where `quality` came from: the prior, benchmarks, or both blended.
    pub quality_source: QualitySource,
    /// `None`: a paid model without a price.
    pub estimated_cost_usd: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub health: Health,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// A routing decision and its explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// `None`: nothing qualifies (then `summary` says why).
    pub chosen: Option<String>,
    /// The next ranked models, at most `config.retry_budget`.
    pub fallbacks: Vec<String>,
    pub priority: Priority,
    pub required_quality: f64,
    pub estimate: Estimate,
    /// Every model: ranked ones in rank order, then rejected ones (by id).
    pub candidates: Vec<CandidateReport>,
    /// One human sentence.
    pub summary: String,
    /// Nothing chosen, but a model was turned away only because its provider limits it (HTTP
    /// 429 cooldown, daily cap): the soonest one of them may be called again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    /// The task went to a council (`chosen` is then `fusion/<council>`): which, why, its
    /// rating and its expected calls (`[router.escalate]`, `escalate.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

/// Ranks `models` for `input` under `config` (see the module doc for the rules); never
/// escalates to a council.
pub fn decide(input: &RouteInput, models: &[ModelView], config: &RouterConfig) -> Decision {
    decide_with_council(input, models, None, config)
}

/// [`decide`], then — when `config.escalate` is set and `council` is its council — escalates a
/// task no single model meets, or one above `escalate.above_complexity`, to the council (see
/// `escalate.rs`).
pub fn decide_with_council(
    input: &RouteInput,
    models: &[ModelView],
    council: Option<&CouncilView>,
    config: &RouterConfig,
) -> Decision {
    let priority = input.priority.unwrap_or(config.priority);
    let estimate = estimate(input);
    let required = required_quality(config.quality_threshold, estimate.complexity);
    let ranking = rank::rank(&estimate, models, config, priority, required);
    let summary = summary(&ranking, &estimate, config, models.len());
    let chosen = ranking.ranked.first().map(|e| e.model.id.clone());
    let fallbacks = ranking
        .ranked
        .iter()
        .skip(1)
        .take(usize::try_from(config.retry_budget).unwrap_or(usize::MAX))
        .map(|e| e.model.id.clone())
        .collect();
    let candidates = ranking.reports(&estimate);
    let retry_in_ms = if chosen.is_none() {
        ranking
            .rejected
            .iter()
            .filter_map(|(_, why)| why.retry_in_ms())
            .min()
    } else {
        None
    };
    let mut decision = Decision {
        chosen,
        fallbacks,
        priority,
        required_quality: required,
        estimate,
        candidates,
        summary,
        retry_in_ms,
        escalation: None,
    };
    if let (Some(escalate), Some(council)) = (&config.escalate, council) {
        escalate::apply(&mut decision, &ranking, models, council, escalate, config);
    }
    decision
}

/// The quality a task of this complexity needs: `quality_threshold × complexity`, but at least
/// `0.2 × quality_threshold`.
pub fn required_quality(quality_threshold: f64, complexity: f64) -> f64 {
    (quality_threshold * complexity).max(0.2 * quality_threshold)
}

/// Estimated USD of one call: 0 for local and free tiers; price × tokens / 1e6 for paid; None
/// for a paid model without a price.
pub fn cost_usd(model: &ModelView, input_tokens: u64, output_tokens: u64) -> Option<f64> {
    match model.tier {
        Tier::Local | Tier::Free => Some(0.0),
        Tier::Paid => model.price.map(|p| {
            (p.input_per_mtok * input_tokens as f64 + p.output_per_mtok * output_tokens as f64)
                / 1e6
        }),
    }
}

/// The decision in one sentence.
fn summary(ranking: &Ranking<'_>, est: &Estimate, config: &RouterConfig, offered: usize) -> String {
    let Some(first) = ranking.ranked.first() else {
        return no_choice_summary(ranking, offered);
    };
    let mut out = String::with_capacity(160);
    let threshold = Usd(config.cost_threshold);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "chose {} ({}, quality {} ≥ {}, {}) — ",
        first.model.id,
        tier_str(first.model.tier),
        QualityText(first.quality, first.source),
        Q(ranking.required),
        Cost(first.cost),
    );
    let _ = match ranking.priority {
        Priority::Cost => write!(out, "cheapest that meets the bar"),
        Priority::Balanced => {
            let _ = write!(
                out,
                "most quality for its cost at {} quality per {threshold} (quality_threshold per \
                 cost_threshold)",
                config.quality_threshold
            );
            balanced_note(&mut out, ranking);
            Ok(())
        }
        Priority::Quality => write!(out, "highest quality within the cost threshold {threshold}"),
        Priority::Speed => match first.latency() {
            Some(ms) => write!(out, "fastest measured p50 ({})", Ms(ms)),
            None => write!(out, "no latency measured yet, so cheapest tier first"),
        },
    };
    if first.model.price_unknown {
        out.push_str("; its price is unknown (not in config or catalog)");
    } else if first.cost.is_none() {
        out.push_str("; no price configured, so its cost is unknown");
    }
    if ranking.cheap_first {
        let tokens = est.input_tokens.saturating_add(est.output_tokens);
        if first.model.tier == Tier::Paid {
            let _ = write!(
                out,
                "; no local or free model qualifies for this {tokens}-token task"
            );
        } else if ranking.ranked.iter().any(|e| e.model.tier == Tier::Paid) {
            let _ = write!(
                out,
                "; {tokens} tokens > token_threshold {}, so local and free first",
                config.token_threshold
            );
        }
    }
    let budget = usize::try_from(config.retry_budget).unwrap_or(usize::MAX);
    let fallbacks = ranking.ranked.len().saturating_sub(1).min(budget);
    if fallbacks > 0 {
        let plural = if fallbacks == 1 { "" } else { "s" };
        let _ = write!(out, "; {fallbacks} fallback{plural}");
    }
    out
}

/// `balanced`: what the chosen model was weighed against — the cheapest ranked model when it
/// is not that one, else a better one it was not worth paying for.
fn balanced_note(out: &mut String, ranking: &Ranking<'_>) {
    let Some(first) = ranking.ranked.first() else {
        return;
    };
    let Some(cost) = first.cost else { return };
    let known = || ranking.ranked.iter().skip(1).filter(|e| e.cost.is_some());
    let cheaper = known()
        .filter(|e| e.cost.is_some_and(|c| c < cost))
        .min_by(|a, b| rank::cmp_cost(a.cost, b.cost));
    if let Some(other) = cheaper {
        let _ = write!(
            out,
            ": +{} quality over the cheaper {} is worth its {} more",
            Q(first.credited - other.credited),
            other.model.id,
            Usd(cost - other.cost.unwrap_or(0.0))
        );
        return;
    }
    let better = known()
        .filter(|e| e.quality > first.quality)
        .max_by(|a, b| a.quality.total_cmp(&b.quality));
    let Some(other) = better else { return };
    if other.capped() {
        let _ = write!(
            out,
            "; {} rates higher ({}) but a quality not measured at this complexity counts only \
             up to {} (the bar + {})",
            other.model.id,
            Q(other.quality),
            Q(ranking.credit_cap),
            rank::ROOM_TO_SPARE
        );
    } else if let Some(dearer) = other.cost {
        let _ = write!(
            out,
            ": {}'s +{} quality is not worth its {} more",
            other.model.id,
            Q(other.credited - first.credited),
            Usd(dearer - cost)
        );
    }
}

/// Why nothing was chosen: how many models each filter removed.
fn no_choice_summary(ranking: &Ranking<'_>, offered: usize) -> String {
    if offered == 0 {
        return "no model qualifies: the registry offered no models (none configured or \
                discovered)"
            .to_owned();
    }
    let mut counts = [0usize; Rejection::KINDS];
    for (_, rejection) in &ranking.rejected {
        counts[rejection.kind()] += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{n} {}", Rejection::kind_label(kind, ranking)))
        .collect();
    let all = if offered == 1 {
        "the only model was rejected".to_owned()
    } else {
        format!("all {offered} models were rejected")
    };
    format!("no model qualifies: {all} — {}", parts.join(", "))
}
