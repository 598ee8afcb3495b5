//! Filtering and ranking: which models may take the task (each rejection with its sentence), the
//! order of the rest under each priority, and the reasons shown for every candidate. Comparisons
//! work on precomputed numbers and borrow the model ids; nothing allocates while sorting, and
//! each reason is written into one buffer by the `Display` helpers at the end (integer
//! arithmetic, not the float formatter, which dominated the profile).

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use super::{CandidateReport, Estimate, Health, ModelView, Verdict, cost_usd, quality_for};
use crate::config::{Category, Priority, RouterConfig, Tier};

/// Quality margin by which a `balanced` candidate must beat the cheapest one to win.
pub(super) const CLEARLY_BETTER: f64 = 0.15;

/// Slack for float comparisons against thresholds (0.7 × 0.5 must meet 0.35).
const EPS: f64 = 1e-9;

/// One model with the numbers it is judged on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry<'a> {
    pub model: &'a ModelView,
    pub quality: f64,
    pub cost: Option<f64>,
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
}

/// Why a model cannot take the task.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rejection {
    FreeOnly,
    Context { needed: u64, window: u32 },
    Quality { quality: f64 },
    Cost { cost: f64, threshold: f64 },
    CircuitOpen { retry_in_ms: u64 },
    Unreachable,
}

impl Rejection {
    /// Number of rejection kinds (for counting them).
    pub const KINDS: usize = 6;

    pub fn kind(self) -> usize {
        match self {
            Self::FreeOnly => 0,
            Self::Context { .. } => 1,
            Self::Quality { .. } => 2,
            Self::Cost { .. } => 3,
            Self::CircuitOpen { .. } => 4,
            Self::Unreachable => 5,
        }
    }

    /// How a kind is named in a summary ("3 below the required quality 0.63 for code").
    pub fn kind_label(kind: usize, ranking: &Ranking<'_>) -> String {
        match kind {
            0 => "paid (free_only is set)".to_owned(),
            1 => format!(
                "with a context window too small for {} tokens",
                ranking.needed
            ),
            2 => format!(
                "below the required quality {} for {}",
                Q(ranking.required),
                ranking.category
            ),
            3 => "over the cost threshold".to_owned(),
            4 => "with an open circuit".to_owned(),
            _ => "unreachable".to_owned(),
        }
    }

    fn sentence(self, ranking: &Ranking<'_>) -> String {
        match self {
            Self::FreeOnly => "paid model, and router.free_only is set".to_owned(),
            Self::Context { needed, window } => format!(
                "context does not fit: {needed} tokens (input + expected output) > its \
                 {window}-token window"
            ),
            Self::Quality { quality } => format!(
                "quality {} for {} < required {}",
                Q(quality),
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
    /// `balanced`: the winner was moved ahead of the cheapest passing model (now second).
    pub upgraded: bool,
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
    let mut ranked = Vec::with_capacity(models.len());
    let mut rejected = Vec::new();
    for model in models {
        let entry = Entry {
            model,
            quality: quality_for(model, est.category),
            cost: cost_usd(model, est.input_tokens, est.output_tokens),
        };
        match reject(&entry, needed, required, priority, config) {
            Some(why) => rejected.push((entry, why)),
            None => ranked.push(entry),
        }
    }
    rejected.sort_by(|a, b| a.0.model.id.cmp(&b.0.model.id));
    let cheap_first = priority != Priority::Quality && needed > u64::from(config.token_threshold);
    match priority {
        Priority::Cost | Priority::Balanced => {
            ranked.sort_by(|a, b| by_cost(a, b, cheap_first));
        }
        Priority::Quality => ranked.sort_by(by_quality),
        Priority::Speed => ranked.sort_by(|a, b| by_speed(a, b, cheap_first)),
    }
    let mut upgraded = false;
    if priority == Priority::Balanced
        && let Some(i) = clearly_better(&ranked, required, config.cost_threshold, cheap_first)
    {
        // The winner goes first; the cheapest passing model follows it, the rest keep their
        // cost order.
        ranked[..=i].rotate_right(1);
        upgraded = true;
    }
    Ranking {
        priority,
        required,
        category: est.category,
        needed,
        token_threshold: config.token_threshold,
        cheap_first,
        upgraded,
        ranked,
        rejected,
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
        Health::Unreachable => Some(Rejection::Unreachable),
        Health::Healthy | Health::Unknown | Health::HalfOpen => None,
    }
}

/// `balanced`: when the cheapest passing candidate is only just good enough (less than
/// [`CLEARLY_BETTER`] above the bar), the first one after it whose quality beats it by
/// [`CLEARLY_BETTER`] and whose known cost is within the threshold (and, under the token
/// threshold, that stays local/free when the cheapest is).
fn clearly_better(
    ranked: &[Entry<'_>],
    required: f64,
    cost_threshold: f64,
    cheap_first: bool,
) -> Option<usize> {
    let base = ranked.first()?;
    // A cheapest model with a clear margin over the bar is good enough: no upgrade.
    if base.quality >= required + CLEARLY_BETTER - EPS {
        return None;
    }
    let bar = base.quality + CLEARLY_BETTER - EPS;
    ranked.iter().enumerate().skip(1).find_map(|(i, e)| {
        let affordable = e.cost.is_some_and(|c| c <= cost_threshold);
        let same_group = group(e, cheap_first) == group(base, cheap_first);
        (e.quality >= bar && affordable && same_group).then_some(i)
    })
}

fn group(e: &Entry<'_>, cheap_first: bool) -> u8 {
    u8::from(cheap_first && e.is_paid())
}

/// Known costs first, ascending.
fn cmp_cost(a: Option<f64>, b: Option<f64>) -> Ordering {
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

fn by_cost(a: &Entry<'_>, b: &Entry<'_>, cheap_first: bool) -> Ordering {
    group(a, cheap_first)
        .cmp(&group(b, cheap_first))
        .then(a.model.tier.cmp(&b.model.tier))
        .then_with(|| cmp_cost(a.cost, b.cost))
        .then_with(|| b.quality.total_cmp(&a.quality))
        .then_with(|| cmp_latency(a, b))
        .then_with(|| tie_break(a, b))
}

fn by_quality(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    a.cost
        .is_none()
        .cmp(&b.cost.is_none())
        .then_with(|| b.quality.total_cmp(&a.quality))
        .then_with(|| cmp_cost(a.cost, b.cost))
        .then(a.model.tier.cmp(&b.model.tier))
        .then_with(|| cmp_latency(a, b))
        .then_with(|| tie_break(a, b))
}

fn by_speed(a: &Entry<'_>, b: &Entry<'_>, cheap_first: bool) -> Ordering {
    group(a, cheap_first)
        .cmp(&group(b, cheap_first))
        .then_with(|| cmp_latency(a, b))
        .then(a.model.tier.cmp(&b.model.tier))
        .then_with(|| cmp_cost(a.cost, b.cost))
        .then_with(|| b.quality.total_cmp(&a.quality))
        .then_with(|| tie_break(a, b))
}

impl<'a> Ranking<'a> {
    /// `balanced`: the cheapest passing model the winner was preferred to.
    pub fn upgraded_over(&self) -> Option<&Entry<'a>> {
        if self.upgraded {
            self.ranked.get(1)
        } else {
            None
        }
    }

    /// Every candidate with its verdict: ranked ones in order, then rejected ones.
    pub fn reports(&self, est: &Estimate, config: &RouterConfig) -> Vec<CandidateReport> {
        let mut out = Vec::with_capacity(self.ranked.len() + self.rejected.len());
        for (i, entry) in self.ranked.iter().enumerate() {
            let rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let reason = self.ranked_reason(i, est, config);
            out.push(report(entry, Verdict::Ranked { rank, reason }));
        }
        for (entry, why) in &self.rejected {
            let reason = why.sentence(self);
            out.push(report(entry, Verdict::Rejected { reason }));
        }
        out
    }

    /// "2nd: free, quality 0.60, $0, p50 340 ms" and the notes that explain the place.
    fn ranked_reason(&self, i: usize, est: &Estimate, config: &RouterConfig) -> String {
        let e = &self.ranked[i];
        let mut out = String::with_capacity(128);
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "{}: {}, quality {}, {}, p50 {}",
            Ordinal(i + 1),
            tier_str(e.model.tier),
            Q(e.quality),
            Cost(e.cost),
            Latency(e.latency())
        );
        match e.model.health {
            Health::HalfOpen => out.push_str("; half-open: one trial call after its cooldown"),
            Health::Unknown => out.push_str("; not probed yet"),
            _ => {}
        }
        if e.cost.is_none() {
            if self.priority == Priority::Speed {
                out.push_str("; no price configured");
            } else {
                out.push_str("; no price configured, so ranked after priced models");
            }
        }
        if self.upgraded {
            if i == 0 {
                if let Some(base) = self.ranked.get(1) {
                    let _ = write!(
                        out,
                        "; quality beats the cheapest passing model {} ({}) by ≥ \
                         {CLEARLY_BETTER} within the cost threshold {}",
                        base.model.id,
                        Q(base.quality),
                        Usd(config.cost_threshold)
                    );
                }
            } else if i == 1 {
                let _ = write!(
                    out,
                    "; cheapest passing, but {} is clearly better",
                    self.ranked[0].model.id
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

/// Writes `value` with `decimals` digits after the point (without trailing zeros when `trim`).
fn write_fixed(f: &mut fmt::Formatter<'_>, value: f64, decimals: u32, trim: bool) -> fmt::Result {
    if !value.is_finite() || value.abs() >= 1e12 {
        return write!(f, "{value}");
    }
    if value < 0.0 {
        f.write_str("-")?;
    }
    let scale = 10u64.pow(decimals.min(12));
    let scaled = (value.abs() * scale as f64).round() as u64;
    let (int, mut frac) = (scaled / scale, scaled % scale);
    write!(f, "{int}")?;
    let mut width = decimals.min(12) as usize;
    if trim {
        while width > 0 && frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
    }
    if width > 0 {
        write!(f, ".{frac:0width$}")?;
    }
    Ok(())
}

/// A quality or threshold with two decimals: `0.72`.
pub(super) struct Q(pub f64);

impl fmt::Display for Q {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, self.0, 2, false)
    }
}

/// Dollars with about three significant digits: `$0`, `$0.00036`, `$0.021`, `$1.25`.
pub(super) struct Usd(pub f64);

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let usd = self.0;
        if usd == 0.0 {
            return f.write_str("$0");
        }
        f.write_str("$")?;
        if !usd.is_finite() || usd.abs() >= 1.0 {
            return write_fixed(f, usd, 2, false);
        }
        let decimals = ((-usd.abs().log10()).ceil() as u32 + 2).min(10);
        write_fixed(f, usd, decimals, true)
    }
}

/// An estimated cost, or `cost unknown` for a paid model without a price.
pub(super) struct Cost(pub Option<f64>);

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(usd) => Usd(usd).fmt(f),
            None => f.write_str("cost unknown"),
        }
    }
}

/// Milliseconds for people: `340 ms`, `12.5 s`.
pub(super) struct Ms(pub f64);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 10_000.0 {
            write_fixed(f, self.0 / 1000.0, 1, false)?;
            f.write_str(" s")
        } else {
            write_fixed(f, self.0, 0, false)?;
            f.write_str(" ms")
        }
    }
}

/// A measured p50, or `unknown`.
struct Latency(Option<f64>);

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ms) => Ms(ms).fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st.
struct Ordinal(usize);

impl fmt::Display for Ordinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let suffix = match (n % 10, n % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        write!(f, "{n}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_money_latency_and_places_for_people() {
        let cases = [
            (0.0, "$0"),
            (0.00036, "$0.00036"),
            (0.021, "$0.021"),
            (0.02, "$0.02"),
            (1.254, "$1.25"),
        ];
        for (usd, text) in cases {
            assert_eq!(Usd(usd).to_string(), text, "{usd}");
        }
        assert_eq!(Cost(None).to_string(), "cost unknown");
        assert_eq!(Q(0.7).to_string(), "0.70");
        assert_eq!(Q(0.346).to_string(), "0.35");
        assert_eq!(Ms(340.2).to_string(), "340 ms");
        assert_eq!(Ms(12_500.0).to_string(), "12.5 s");
        assert_eq!(Latency(None).to_string(), "unknown");
        let places: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 102]
            .map(|n| Ordinal(n).to_string())
            .into();
        assert_eq!(
            places,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "102nd"
            ]
        );
    }
}
