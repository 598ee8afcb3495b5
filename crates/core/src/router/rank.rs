//! Filtering and ranking: which models may take the task (each rejection with its sentence), the
//! order of the rest under each priority, and the reasons shown for every candidate. Comparisons
//! work on precomputed numbers and borrow the model ids; nothing allocates while sorting, and
//! each reason is written into one buffer by the `Display` helpers of `format` at the end.

use std::cmp::Ordering;
use std::fmt::Write as _;

use super::format::{Cost, Latency, Ms, Ordinal, Q, QualityText, Usd, Wait};
use super::quality::configured_quality;
use super::{
    CandidateReport, Estimate, Health, ModelView, QualitySource, Verdict, cost_usd, quality_at,
};
use crate::config::{Category, Priority, RouterConfig, Tier};

/// `balanced`: how far above the bar a quality not measured at the task's complexity (a prior,
/// a category's mean, a fit read at a distant complexity) is credited — beyond it, a model that only looks better on
/// average is not worth paying for.
pub(super) const ROOM_TO_SPARE: f64 = 0.15;

/// Slack for float comparisons against thresholds (0.7 × 0.5 must meet 0.35).
const EPS: f64 = 1e-9;

/// One model with the numbers it is judged on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry<'a> {
    pub model: &'a ModelView,
    pub quality: f64,
    pub source: QualitySource,
    pub cost: Option<f64>,
    /// The quality is only its tier's default (nothing configured or measured): no evidence
    /// that it is better or worse than another model's tier default.
    pub tier_default: bool,
    /// `balanced`: the quality credited (see [`ROOM_TO_SPARE`])…
    pub credited: f64,
    /// …less the estimated cost at the thresholds' rate.
    pub value: f64,
}

impl Entry<'_> {
    /// The measured p50, when it is a usable number.
    pub fn latency(&self) -> Option<f64> {
        self.model.latency_p50_ms.filter(|ms| ms.is_finite())
    }

    /// Whether a task over the token threshold pushes this model behind local and free ones.
    fn is_paid(&self) -> bool {
        self.model.tier == Tier::Paid
    }

    /// `balanced` credited less than its quality.
    pub fn capped(&self) -> bool {
        self.credited < self.quality
    }
}

/// Why a model cannot take the task.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rejection {
    FreeOnly,
    PriceUnknown,
    Context {
        needed: u64,
        window: u32,
    },
    Quality {
        quality: f64,
        source: QualitySource,
    },
    Cost {
        cost: f64,
        threshold: f64,
    },
    CircuitOpen {
        retry_in_ms: u64,
    },
    RateLimited {
        retry_in_ms: u64,
    },
    DailyCap {
        limit: Option<u64>,
        used: u64,
        resets_in_ms: u64,
    },
    Unreachable,
}

impl Rejection {
    /// Number of rejection kinds (for counting them).
    pub const KINDS: usize = 9;

    pub fn kind(self) -> usize {
        match self {
            Self::FreeOnly => 0,
            Self::PriceUnknown => 1,
            Self::Context { .. } => 2,
            Self::Quality { .. } => 3,
            Self::Cost { .. } => 4,
            Self::CircuitOpen { .. } => 5,
            Self::RateLimited { .. } => 6,
            Self::DailyCap { .. } => 7,
            Self::Unreachable => 8,
        }
    }

    /// For a model turned away only because its provider limits it: when it may be called again.
    pub fn retry_in_ms(self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_in_ms } => Some(retry_in_ms),
            Self::DailyCap { resets_in_ms, .. } => Some(resets_in_ms),
            _ => None,
        }
    }

    /// How a kind is named in a summary ("3 below the required quality 0.63 for code").
    pub fn kind_label(kind: usize, ranking: &Ranking<'_>) -> String {
        match kind {
            0 => "paid (free_only is set)".to_owned(),
            1 => "of unknown price (free_only is set)".to_owned(),
            2 => format!(
                "with a context window too small for {} tokens",
                ranking.needed
            ),
            3 => format!(
                "below the required quality {} for {}",
                Q(ranking.required),
                ranking.category
            ),
            4 => "over the cost threshold".to_owned(),
            5 => "with an open circuit".to_owned(),
            6 => "rate-limited by their provider (HTTP 429)".to_owned(),
            7 => "at their provider's daily cap".to_owned(),
            _ => "unreachable".to_owned(),
        }
    }

    fn sentence(self, ranking: &Ranking<'_>) -> String {
        match self {
            Self::FreeOnly => "paid model, and router.free_only is set".to_owned(),
            Self::PriceUnknown => {
                "price unknown (not in config or catalog), and router.free_only is set".to_owned()
            }
            Self::Context { needed, window } => format!(
                "context does not fit: {needed} tokens (input + expected output) > its \
                 {window}-token window"
            ),
            Self::Quality { quality, source } => format!(
                "quality {} for {} < required {}",
                QualityText(quality, source),
                ranking.category,
                Q(ranking.required)
            ),
            Self::Cost { cost, threshold } => format!(
                "estimated cost {} > cost threshold {}",
                Usd(cost),
                Usd(threshold)
            ),
            Self::CircuitOpen { retry_in_ms } => format!(
                "circuit open after repeated failures; retries in {}",
                Ms(retry_in_ms as f64)
            ),
            Self::RateLimited { retry_in_ms } => format!(
                "rate-limited by its provider (HTTP 429); retries in {}",
                Wait(retry_in_ms)
            ),
            Self::DailyCap {
                limit,
                used,
                resets_in_ms,
            } => {
                let count = match limit {
                    Some(limit) => format!(" ({used} of {limit} requests today)"),
                    None => String::new(),
                };
                format!(
                    "daily request cap of its provider reached{count}; resets in {}",
                    Wait(resets_in_ms)
                )
            }
            Self::Unreachable => "unreachable: its last health probe failed".to_owned(),
        }
    }
}

/// The filtered and ordered candidates of one decision.
pub(super) struct Ranking<'a> {
    pub priority: Priority,
    pub required: f64,
    pub category: Category,
    /// Input plus expected output tokens.
    pub needed: u64,
    pub token_threshold: u32,
    /// The token threshold applied: local and free ranked ahead of paid.
    pub cheap_first: bool,
    /// `balanced`: the most a quality that does not depend on complexity is credited.
    pub credit_cap: f64,
    pub ranked: Vec<Entry<'a>>,
    /// In model-id order.
    pub rejected: Vec<(Entry<'a>, Rejection)>,
}

/// Filters and orders `models` (see the module doc of `router` for the rules).
pub(super) fn rank<'a>(
    est: &Estimate,
    models: &'a [ModelView],
    config: &RouterConfig,
    priority: Priority,
    required: f64,
) -> Ranking<'a> {
    let needed = est.input_tokens.saturating_add(est.output_tokens);
    let rate = value_rate(config);
    let credit_cap = required + ROOM_TO_SPARE;
    let mut ranked = Vec::with_capacity(models.len());
    let mut rejected = Vec::new();
    for model in models {
        let estimate = quality_at(model, est.category, est.complexity, config.reliable_after);
        let cost = cost_usd(model, est.input_tokens, est.output_tokens);
        let credited = if estimate.source.is_at_complexity(est.complexity) {
            estimate.quality
        } else {
            estimate.quality.min(credit_cap)
        };
        let entry = Entry {
            model,
            quality: estimate.quality,
            source: estimate.source,
            cost,
            tier_default: estimate.source == QualitySource::Prior
                && configured_quality(model, est.category).is_none(),
            credited,
            value: credited - cost.filter(|c| *c > 0.0).map_or(0.0, |c| rate * c),
        };
        match reject(&entry, needed, required, priority, config) {
            Some(why) => rejected.push((entry, why)),
            None => ranked.push(entry),
        }
    }
    rejected.sort_by(|a, b| a.0.model.id.cmp(&b.0.model.id));
    let cheap_first = matches!(priority, Priority::Cost | Priority::Speed)
        && needed > u64::from(config.token_threshold);
    match priority {
        Priority::Cost => ranked.sort_by(|a, b| by_cost(a, b, cheap_first)),
        Priority::Balanced => ranked.sort_by(by_value),
        Priority::Quality => ranked.sort_by(by_quality),
        Priority::Speed => ranked.sort_by(|a, b| by_speed(a, b, cheap_first)),
    }
    Ranking {
        priority,
        required,
        category: est.category,
        needed,
        token_threshold: config.token_threshold,
        cheap_first,
        credit_cap,
        ranked,
        rejected,
    }
}

/// `balanced`: the quality a dollar must buy — `quality_threshold` per `cost_threshold` (0
/// when the cost threshold is 0: then only free calls pass, and cost cannot matter).
pub(super) fn value_rate(config: &RouterConfig) -> f64 {
    if config.cost_threshold > 0.0 && config.quality_threshold.is_finite() {
        config.quality_threshold / config.cost_threshold
    } else {
        0.0
    }
}

/// The first filter `entry` fails, if any.
fn reject(
    entry: &Entry<'_>,
    needed: u64,
    required: f64,
    priority: Priority,
    config: &RouterConfig,
) -> Option<Rejection> {
    let model = entry.model;
    if config.free_only && model.price_unknown {
        return Some(Rejection::PriceUnknown);
    }
    if config.free_only && model.tier == Tier::Paid {
        return Some(Rejection::FreeOnly);
    }
    if let Some(window) = model.context_window
        && needed > u64::from(window)
    {
        return Some(Rejection::Context { needed, window });
    }
    if entry.quality.is_nan() || entry.quality + EPS < required {
        return Some(Rejection::Quality {
            quality: entry.quality,
            source: entry.source,
        });
    }
    if priority != Priority::Speed
        && let Some(cost) = entry.cost
        && (cost.is_nan() || cost > config.cost_threshold + EPS * config.cost_threshold)
    {
        return Some(Rejection::Cost {
            cost,
            threshold: config.cost_threshold,
        });
    }
    match model.health {
        Health::CircuitOpen { retry_in_ms } => Some(Rejection::CircuitOpen { retry_in_ms }),
        Health::RateLimited { retry_in_ms } => Some(Rejection::RateLimited { retry_in_ms }),
        Health::DailyCapReached {
            limit,
            used,
            resets_in_ms,
        } => Some(Rejection::DailyCap {
            limit,
            used,
            resets_in_ms,
        }),
        Health::Unreachable => Some(Rejection::Unreachable),
        Health::Healthy | Health::Unknown | Health::HalfOpen => None,
    }
}

fn group(e: &Entry<'_>, cheap_first: bool) -> u8 {
    u8::from(cheap_first && e.is_paid())
}

/// Known costs first, ascending.
pub(super) fn cmp_cost(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Known latencies first, ascending.
fn cmp_latency(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    cmp_cost(a.latency(), b.latency())
}

fn health_rank(health: Health) -> u8 {
    match health {
        Health::Healthy => 0,
        Health::Unknown => 1,
        _ => 2,
    }
}

/// The last keys of every order: Healthy before Unknown before HalfOpen, then the id.
fn tie_break(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    health_rank(a.model.health)
        .cmp(&health_rank(b.model.health))
        .then_with(|| a.model.id.cmp(&b.model.id))
}

/// Models of unknown price after every model with a known one: the first key of every order.
fn known_price_first(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    a.model.price_unknown.cmp(&b.model.price_unknown)
}

/// Higher quality first — unless both are tier defaults, which say nothing about one model
/// against another of the same cost (then the tier decides: local before free).
fn by_evidence(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    if a.tier_default && b.tier_default {
        Ordering::Equal
    } else {
        b.quality.total_cmp(&a.quality)
    }
}

fn by_cost(a: &Entry<'_>, b: &Entry<'_>, cheap_first: bool) -> Ordering {
    known_price_first(a, b)
        .then(group(a, cheap_first).cmp(&group(b, cheap_first)))
        .then_with(|| cmp_cost(a.cost, b.cost))
        .then_with(|| by_evidence(a, b))
        .then(a.model.tier.cmp(&b.model.tier))
        .then_with(|| cmp_latency(a, b))
        .then_with(|| tie_break(a, b))
}

/// `balanced`: the most value (known costs first), then the `cost` order.
fn by_value(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    known_price_first(a, b)
        .then(a.cost.is_none().cmp(&b.cost.is_none()))
        .then_with(|| b.value.total_cmp(&a.value))
        .then_with(|| by_cost(a, b, false))
}

fn by_quality(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    known_price_first(a, b)
        .then(a.cost.is_none().cmp(&b.cost.is_none()))
        .then_with(|| b.quality.total_cmp(&a.quality))
        .then_with(|| cmp_cost(a.cost, b.cost))
        .then(a.model.tier.cmp(&b.model.tier))
        .then_with(|| cmp_latency(a, b))
        .then_with(|| tie_break(a, b))
}

fn by_speed(a: &Entry<'_>, b: &Entry<'_>, cheap_first: bool) -> Ordering {
    known_price_first(a, b)
        .then(group(a, cheap_first).cmp(&group(b, cheap_first)))
        .then_with(|| cmp_latency(a, b))
        .then(a.model.tier.cmp(&b.model.tier))
        .then_with(|| cmp_cost(a.cost, b.cost))
        .then_with(|| b.quality.total_cmp(&a.quality))
        .then_with(|| tie_break(a, b))
}

impl<'a> Ranking<'a> {
    /// Every candidate with its verdict: ranked ones in order, then rejected ones.
    pub fn reports(&self, est: &Estimate) -> Vec<CandidateReport> {
        let mut out = Vec::with_capacity(self.ranked.len() + self.rejected.len());
        for (i, entry) in self.ranked.iter().enumerate() {
            let rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let reason = self.ranked_reason(i, est);
            out.push(report(entry, Verdict::Ranked { rank, reason }));
        }
        for (entry, why) in &self.rejected {
            let reason = why.sentence(self);
            out.push(report(entry, Verdict::Rejected { reason }));
        }
        out
    }

    /// "2nd: free, quality 0.60, $0, p50 340 ms" and the notes that explain the place.
    fn ranked_reason(&self, i: usize, est: &Estimate) -> String {
        let e = &self.ranked[i];
        let mut out = String::with_capacity(128);
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "{}: {}, quality {}, {}, p50 {}",
            Ordinal(i + 1),
            tier_str(e.model.tier),
            QualityText(e.quality, e.source),
            Cost(e.cost),
            Latency(e.latency())
        );
        match e.model.health {
            Health::HalfOpen => out.push_str("; half-open: one trial call after its cooldown"),
            Health::Unknown => out.push_str("; not probed yet"),
            _ => {}
        }
        if e.model.price_unknown {
            out.push_str(
                "; price unknown (not in config or catalog), so ranked after models with a known \
                 price",
            );
        } else if e.cost.is_none() {
            if self.priority == Priority::Speed {
                out.push_str("; no price configured");
            } else {
                out.push_str("; no price configured, so ranked after priced models");
            }
        }
        if self.priority == Priority::Balanced && e.cost.is_some() {
            let _ = write!(out, "; value {}", Q(e.value));
            if e.capped() {
                let _ = write!(
                    out,
                    " (quality counted up to {}: not measured at this complexity)",
                    Q(self.credit_cap)
                );
            }
        }
        if self.cheap_first {
            let tokens = est.input_tokens.saturating_add(est.output_tokens);
            let threshold = self.token_threshold;
            if e.is_paid() && self.ranked[..i].iter().any(|x| !x.is_paid()) {
                let _ = write!(
                    out,
                    "; after local and free models: {tokens} tokens > token_threshold {threshold}"
                );
            } else if !e.is_paid() && self.ranked[i + 1..].iter().any(Entry::is_paid) {
                let _ = write!(
                    out,
                    "; ahead of paid models: {tokens} tokens > token_threshold {threshold}"
                );
            }
        }
        out
    }
}

fn report(entry: &Entry<'_>, verdict: Verdict) -> CandidateReport {
    let m = entry.model;
    CandidateReport {
        model: m.id.clone(),
        provider: m.provider.clone(),
        tier: m.tier,
        quality: entry.quality,
        quality_source: entry.source,
        estimated_cost_usd: entry.cost,
        latency_p50_ms: m.latency_p50_ms,
        health: m.health,
        verdict,
    }
}

pub(super) fn tier_str(tier: Tier) -> &'static str {
    match tier {
        Tier::Local => "local",
        Tier::Free => "free",
        Tier::Paid => "paid",
    }
}
