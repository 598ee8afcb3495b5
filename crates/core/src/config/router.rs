//! `[router]`: how requests for `router/auto` are routed — the default priority, the three
//! thresholds kept from the routing server Fusion replaces, the retry budget, and the health
//! policy (active probe interval, circuit breaker) the registry applies to every model, and
//! `[router.escalate]`: when a hard task goes to a council instead of one model.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// What a routing decision optimises for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// The cheapest model that meets the quality bar; local and free first.
    Cost,
    /// Cheap first, but a clearly better model wins when its cost stays under the cost
    /// threshold.
    #[default]
    Balanced,
    /// The best model whose estimated cost stays under the cost threshold.
    Quality,
    /// The lowest measured latency among models that meet the quality bar.
    Speed,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::Cost, Self::Balanced, Self::Quality, Self::Speed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cost => "cost",
            Self::Balanced => "balanced",
            Self::Quality => "quality",
            Self::Speed => "speed",
        }
    }

    /// Parses `cost`, `balanced`, `quality`, `speed`; `auto` (the configured default) is the
    /// caller's to resolve.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of work a task is; models carry a quality prior per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Writing, fixing or reviewing code.
    Code,
    /// Analysis, maths, planning, multi-step argument.
    Reasoning,
    /// Prose: documents, emails, stories.
    Writing,
    /// Condensing or extracting from a given text.
    Summarization,
    /// Short questions and conversation.
    Chat,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Self::Code,
        Self::Reasoning,
        Self::Writing,
        Self::Summarization,
        Self::Chat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Reasoning => "reasoning",
            Self::Writing => "writing",
            Self::Summarization => "summarization",
            Self::Chat => "chat",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Quality priors of one model (0–1): one value for every category not listed. (No
/// `deny_unknown_fields`: the flattened map already rejects any key that is not a category.)
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct QualityPriors {
    /// For categories without their own value; when absent, a default by tier applies
    /// (local 0.5, free 0.6, paid 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<f64>,
    #[serde(default, flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_category: BTreeMap<Category, f64>,
}

/// `[router]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// The priority of `router/auto` and of requests that name none.
    #[serde(default)]
    pub priority: Priority,
    /// Tasks whose input plus expected output exceed this many tokens prefer local and free
    /// models under `cost` and `speed` (a paid model is chosen for them only when no cheaper
    /// one meets the quality bar); `balanced` weighs each model's cost of the task instead.
    #[serde(default = "default_token_threshold")]
    pub token_threshold: u32,
    /// The most one call may cost (USD, estimated) under `cost`, `balanced` and `quality`;
    /// dearer candidates are rejected. Under `balanced`, also the price of quality: a model
    /// this much dearer must be `quality_threshold` better.
    #[serde(default = "default_cost_threshold")]
    pub cost_threshold: f64,
    /// The quality (0–1) a task of full complexity needs; simpler tasks need proportionally
    /// less. Under `balanced`, also the quality `cost_threshold` dollars must buy (see README,
    /// "How a decision is made").
    #[serde(default = "default_quality_threshold")]
    pub quality_threshold: f64,
    /// Further candidates tried, in ranked order, after the chosen one fails.
    #[serde(default = "default_retry_budget")]
    pub retry_budget: u32,
    /// Route only to local and free models.
    #[serde(default)]
    pub free_only: bool,
    /// Ask every provider for its models (`/v1/models`, Ollama's `/api/tags`) at start-up
    /// and on each health probe, adding the ones not configured.
    #[serde(default = "default_true")]
    pub discover: bool,
    /// How often each provider is probed (active health).
    #[serde(default = "default_health_interval", with = "duration")]
    pub health_interval: Duration,
    /// Consecutive failed calls that open a model's circuit (passive health).
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// How long an open circuit keeps a model out of routing before one trial call.
    #[serde(default = "default_cooldown", with = "duration")]
    pub cooldown: Duration,
    /// Benchmark answers a model needs in a category before its measured quality replaces
    /// its prior there; below that the two are blended by count (`fusion bench`).
    #[serde(default = "default_reliable_after")]
    pub reliable_after: u32,
    /// `[router.escalate]`: send a task no single model meets (or above a complexity) to a
    /// council. Absent (the default): routing never picks a council.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate: Option<EscalateConfig>,
}

/// `[router.escalate]`: when a routed task goes to a council (`fusion/<council>`) instead of a
/// single model. The council is rated by what `fusion bench` measured for `fusion/<council>`
/// (else what `fusion eval council` measured for it, else `prior`) and priced as the sum of its
/// members', judge's and synthesizer's expected calls; it is chosen only when its rating meets
/// the task's required quality and its expected cost stays within `max_cost_usd`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EscalateConfig {
    /// The council (`[councils.NAME]`) tasks are escalated to.
    pub council: String,
    /// Escalate a task no single model meets the required quality of (default true).
    #[serde(default = "default_true")]
    pub when_unmet: bool,
    /// Escalate every task whose complexity (0–1) is above this, even when a single model
    /// meets it (that model is then the fallback). Unset: complexity alone never escalates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above_complexity: Option<f64>,
    /// The council's quality (0–1) while nothing measured it. Unset: its best panel member's
    /// quality for the task + 0.1, at most 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<f64>,
    /// The most the council's expected calls may cost together (USD). Unset:
    /// `router.cost_threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            priority: Priority::default(),
            token_threshold: default_token_threshold(),
            cost_threshold: default_cost_threshold(),
            quality_threshold: default_quality_threshold(),
            retry_budget: default_retry_budget(),
            free_only: false,
            discover: true,
            health_interval: default_health_interval(),
            failure_threshold: default_failure_threshold(),
            cooldown: default_cooldown(),
            reliable_after: default_reliable_after(),
            escalate: None,
        }
    }
}

fn default_reliable_after() -> u32 {
    3
}

fn default_token_threshold() -> u32 {
    1500
}

fn default_cost_threshold() -> f64 {
    0.02
}

fn default_quality_threshold() -> f64 {
    0.7
}

fn default_retry_budget() -> u32 {
    2
}

fn default_true() -> bool {
    true
}

fn default_health_interval() -> Duration {
    Duration::from_secs(30)
}

fn default_failure_threshold() -> u32 {
    3
}

fn default_cooldown() -> Duration {
    Duration::from_secs(30)
}

/// Checks ranges; `(key, reason)` of the first problem.
pub(super) fn validate(router: &RouterConfig) -> Result<(), (String, String)> {
    if !(0.0..=1.0).contains(&router.quality_threshold) {
        return Err((
            "router.quality_threshold".into(),
            "must be between 0 and 1".into(),
        ));
    }
    if !router.cost_threshold.is_finite() || router.cost_threshold < 0.0 {
        return Err((
            "router.cost_threshold".into(),
            "must be a non-negative number of US dollars".into(),
        ));
    }
    if router.failure_threshold == 0 {
        return Err((
            "router.failure_threshold".into(),
            "must be at least 1".into(),
        ));
    }
    if router.health_interval.is_zero() {
        return Err(("router.health_interval".into(), "must be positive".into()));
    }
    Ok(())
}

/// Checks `[router.escalate]` against the configured councils; `(key, reason)` of the first
/// problem.
pub(super) fn validate_escalate<V>(
    router: &RouterConfig,
    councils: &BTreeMap<String, V>,
) -> Result<(), (String, String)> {
    let Some(escalate) = &router.escalate else {
        return Ok(());
    };
    let key = |field: &str| format!("router.escalate.{field}");
    if escalate.council.trim().is_empty() {
        return Err((key("council"), "must name a council".into()));
    }
    if !councils.contains_key(&escalate.council) {
        let known: Vec<&str> = councils.keys().map(String::as_str).collect();
        return Err((
            key("council"),
            format!(
                "no council named `{}`; configured councils: {}",
                escalate.council,
                if known.is_empty() {
                    "none (add a [councils.NAME] section)".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    let unit = [
        ("above_complexity", escalate.above_complexity),
        ("prior", escalate.prior),
    ];
    for (field, value) in unit {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            return Err((key(field), format!("must be between 0 and 1; got {v}")));
        }
    }
    if let Some(usd) = escalate.max_cost_usd
        && !(usd.is_finite() && usd >= 0.0)
    {
        return Err((
            key("max_cost_usd"),
            "must be a non-negative number of US dollars".into(),
        ));
    }
    if !escalate.when_unmet && escalate.above_complexity.is_none() {
        return Err((
            "router.escalate".into(),
            "escalates nothing: set when_unmet = true or above_complexity".into(),
        ));
    }
    Ok(())
}

/// Checks a model's priors; `(key suffix, reason)` of the first problem.
pub(super) fn validate_priors(priors: &QualityPriors) -> Result<(), (String, String)> {
    let values = priors
        .default
        .iter()
        .map(|v| ("default".to_owned(), *v))
        .chain(
            priors
                .by_category
                .iter()
                .map(|(c, v)| (c.as_str().to_owned(), *v)),
        );
    for (key, value) in values {
        if !(0.0..=1.0).contains(&value) {
            return Err((key, "a quality prior must be between 0 and 1".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_thresholds_of_the_replaced_router() {
        let r: RouterConfig = toml::from_str("").unwrap();
        assert_eq!(r.token_threshold, 1500);
        assert_eq!(r.cost_threshold, 0.02);
        assert_eq!(r.quality_threshold, 0.7);
        assert_eq!(r.priority, Priority::Balanced);
    }

    #[test]
    fn priors_read_a_default_and_named_categories() {
        let p: QualityPriors = toml::from_str("default = 0.6\ncode = 0.9").unwrap();
        assert_eq!(p.default, Some(0.6));
        assert_eq!(p.by_category.get(&Category::Code), Some(&0.9));
        assert!(toml::from_str::<QualityPriors>("cooking = 0.9").is_err());
    }

    #[test]
    fn out_of_range_values_are_rejected_with_their_key() {
        let r = RouterConfig {
            quality_threshold: 1.5,
            ..RouterConfig::default()
        };
        assert_eq!(validate(&r).unwrap_err().0, "router.quality_threshold");
        let p = QualityPriors {
            default: Some(-0.1),
            ..QualityPriors::default()
        };
        assert_eq!(validate_priors(&p).unwrap_err().0, "default");
    }

    fn escalate(text: &str) -> Result<(), (String, String)> {
        let router: RouterConfig = toml::from_str(text).unwrap();
        let councils: BTreeMap<String, ()> = [("deep".to_owned(), ())].into();
        validate_escalate(&router, &councils)
    }

    #[test]
    fn escalate_is_off_by_default_and_reads_as_a_table_or_inline() {
        assert_eq!(RouterConfig::default().escalate, None);
        assert!(escalate("").is_ok());
        let r: RouterConfig =
            toml::from_str("escalate = { council = \"deep\", above_complexity = 0.8 }").unwrap();
        let e = r.escalate.unwrap();
        assert_eq!((e.council.as_str(), e.when_unmet), ("deep", true));
        assert_eq!(e.above_complexity, Some(0.8));
        assert!(escalate("[escalate]\ncouncil = \"deep\"\nprior = 0.9").is_ok());
        assert!(
            toml::from_str::<RouterConfig>("[escalate]\ncouncil = \"deep\"\nlevel = 1").is_err()
        );
    }

    #[test]
    fn a_bad_escalate_section_is_rejected_with_its_key() {
        let cases = [
            (
                "[escalate]\ncouncil = \"shallow\"",
                "router.escalate.council",
                "no council named `shallow`; configured councils: deep",
            ),
            (
                "[escalate]\ncouncil = \"deep\"\nabove_complexity = 1.5",
                "router.escalate.above_complexity",
                "must be between 0 and 1; got 1.5",
            ),
            (
                "[escalate]\ncouncil = \"deep\"\nprior = -0.1",
                "router.escalate.prior",
                "must be between 0 and 1; got -0.1",
            ),
            (
                "[escalate]\ncouncil = \"deep\"\nmax_cost_usd = -1.0",
                "router.escalate.max_cost_usd",
                "must be a non-negative number of US dollars",
            ),
            (
                "[escalate]\ncouncil = \"deep\"\nwhen_unmet = false",
                "router.escalate",
                "escalates nothing: set when_unmet = true or above_complexity",
            ),
        ];
        for (text, key, reason) in cases {
            assert_eq!(
                escalate(text),
                Err((key.to_owned(), reason.to_owned())),
                "{text}"
            );
        }
    }
}
