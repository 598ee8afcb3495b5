//! `[loop]`: the loop checker — which models (or councils) play each role, which council reviews
//! uncertain work, and the thresholds of the build/check gate and the Performance Sentinel.
//!
//! ```toml
//! [loop]
//! roles.explorer = ["qwen-coder", "llama-local"]   # preferred, then fallbacks
//! roles.builder = ["qwen-coder"]
//! roles.critic = ["council:default"]               # a council may play a role
//! roles.sentinel = ["llama-local"]
//! roles.conductor = ["qwen-coder"]
//! roles.checker = ["qwen-coder"]
//! review_council = "default"    # looped_fuse_review (default: the default council)
//! done_confidence = 0.8         # a `done` check at or above this completes the run
//! retry_confidence = 0.55       # below this an `incomplete` check goes to review, not retry
//! max_steps = 25                # reports per run before the gate pauses for a human
//! expected_step = "15m"         # how long one step should take (Sentinel: slow, needs_split)
//! stale_heartbeat = "10m"       # no sign of life for this long: possibly_stuck
//! calibration_gap = 0.25        # a checker whose eval confidence ran this far above its
//! calibration_min_fixtures = 3  #   detection (over this many graded fixtures) is not trusted
//!                               #   to finish a run alone: its `done` goes to review
//! ```
//!
//! A role left unset uses the default council's judge model, else the first configured model.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Config, duration};

/// The prefix of a role entry that names a council instead of a model.
pub const COUNCIL_PREFIX: &str = "council:";

/// `[loop]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    /// Models (or `council:NAME`) per role, preferred first.
    #[serde(default)]
    pub roles: LoopRoles,
    /// The council `looped_fuse_review` runs (default: the default council).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_council: Option<String>,
    /// A `done` check with at least this confidence (0–1) completes the run.
    #[serde(default = "default_done_confidence")]
    pub done_confidence: f64,
    /// An `incomplete` check below this confidence goes to a council review, not a retry.
    #[serde(default = "default_retry_confidence")]
    pub retry_confidence: f64,
    /// Reports a run may take before the gate pauses it for a human.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// How long one step of the executor is expected to take.
    #[serde(default = "default_expected_step", with = "duration")]
    pub expected_step: Duration,
    /// How long without a heartbeat (or a report) before the loop is possibly stuck.
    #[serde(default = "default_stale_heartbeat", with = "duration")]
    pub stale_heartbeat: Duration,
    /// A checker model whose mean stated confidence ran at least this far (0–1) above its mean
    /// detection in `fusion eval council` has its `done` reviewed by a council.
    #[serde(default = "default_calibration_gap")]
    pub calibration_gap: f64,
    /// How many graded eval fixtures a checker model needs before its calibration counts.
    #[serde(default = "default_calibration_min_fixtures")]
    pub calibration_min_fixtures: u32,
}

/// `[loop.roles]`: for each role, model ids or `council:NAME`, preferred first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoopRoles {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explorer: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critic: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentinel: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conductor: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checker: Vec<String>,
}

impl LoopRoles {
    /// Each role's key and its entries.
    pub fn all(&self) -> [(&'static str, &[String]); 6] {
        [
            ("explorer", &self.explorer),
            ("builder", &self.builder),
            ("critic", &self.critic),
            ("sentinel", &self.sentinel),
            ("conductor", &self.conductor),
            ("checker", &self.checker),
        ]
    }
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            roles: LoopRoles::default(),
            review_council: None,
            done_confidence: default_done_confidence(),
            retry_confidence: default_retry_confidence(),
            max_steps: default_max_steps(),
            expected_step: default_expected_step(),
            stale_heartbeat: default_stale_heartbeat(),
            calibration_gap: default_calibration_gap(),
            calibration_min_fixtures: default_calibration_min_fixtures(),
        }
    }
}

fn default_done_confidence() -> f64 {
    0.8
}

fn default_retry_confidence() -> f64 {
    0.55
}

fn default_max_steps() -> u32 {
    25
}

fn default_expected_step() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_stale_heartbeat() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_calibration_gap() -> f64 {
    0.25
}

fn default_calibration_min_fixtures() -> u32 {
    3
}

/// Checks `[loop]` against the models and councils of `config`.
pub(super) fn validate(config: &Config) -> Result<(), (String, String)> {
    let looped = &config.looped;
    for (role, entries) in looped.roles.all() {
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("loop.roles.{role}[{i}]");
            if let Some(council) = entry.strip_prefix(COUNCIL_PREFIX) {
                if !config.councils.contains_key(council.trim()) {
                    return Err((key, format!("no council named `{}`", council.trim())));
                }
            } else if !config.models.iter().any(|m| m.id == *entry) {
                return Err((
                    key,
                    format!("no model with id `{entry}` (or write council:NAME)"),
                ));
            }
        }
    }
    if let Some(name) = &looped.review_council
        && !config.councils.contains_key(name)
    {
        return Err((
            "loop.review_council".into(),
            format!("no council named `{name}`"),
        ));
    }
    for (key, value) in [
        ("loop.done_confidence", looped.done_confidence),
        ("loop.retry_confidence", looped.retry_confidence),
        ("loop.calibration_gap", looped.calibration_gap),
    ] {
        if !(0.0..=1.0).contains(&value) {
            return Err((key.into(), "must be between 0 and 1".into()));
        }
    }
    if looped.max_steps == 0 {
        return Err(("loop.max_steps".into(), "must be at least 1".into()));
    }
    for (key, value) in [
        ("loop.expected_step", looped.expected_step),
        ("loop.stale_heartbeat", looped.stale_heartbeat),
    ] {
        if value.is_zero() {
            return Err((key.into(), "must be positive".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        toml::from_str::<Config>(text).map_err(|e| e.to_string())
    }

    const BASE: &str = r#"
[[providers]]
name = "p"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[[models]]
id = "a"
provider = "p"

[councils.default]
panel = [{ model = "a" }]
judge = { model = "a" }
"#;

    #[test]
    fn loop_section_parses_roles_councils_and_thresholds() {
        let config = parse(&format!(
            "{BASE}\n[loop]\nroles.explorer = [\"a\"]\nroles.critic = [\"council:default\"]\n\
             review_council = \"default\"\ndone_confidence = 0.9\nexpected_step = \"2m\"\n"
        ))
        .unwrap();
        assert_eq!(config.looped.roles.explorer, vec!["a"]);
        assert_eq!(config.looped.roles.critic, vec!["council:default"]);
        assert_eq!(config.looped.done_confidence, 0.9);
        assert_eq!(config.looped.expected_step, Duration::from_secs(120));
        assert_eq!(config.looped.calibration_gap, 0.25, "the default");
        assert_eq!(config.looped.calibration_min_fixtures, 3, "the default");
        assert!(validate(&config).is_ok());
    }

    #[test]
    fn unknown_role_keys_and_bad_references_are_rejected_naming_the_key() {
        let err = parse(&format!("{BASE}\n[loop]\nroles.explorr = [\"a\"]\n")).unwrap_err();
        assert!(err.contains("explorr"), "{err}");
        let config = parse(&format!(
            "{BASE}\n[loop]\nroles.builder = [\"a\", \"nope\"]\n"
        ))
        .unwrap();
        let (key, reason) = validate(&config).unwrap_err();
        assert_eq!(key, "loop.roles.builder[1]");
        assert!(reason.contains("nope"), "{reason}");
        let config = parse(&format!(
            "{BASE}\n[loop]\nroles.checker = [\"council:x\"]\n"
        ))
        .unwrap();
        assert!(
            validate(&config)
                .unwrap_err()
                .1
                .contains("council named `x`")
        );
        let config = parse(&format!("{BASE}\n[loop]\ndone_confidence = 1.5\n")).unwrap();
        assert_eq!(validate(&config).unwrap_err().0, "loop.done_confidence");
        let config = parse(&format!("{BASE}\n[loop]\ncalibration_gap = -0.1\n")).unwrap();
        assert_eq!(validate(&config).unwrap_err().0, "loop.calibration_gap");
    }
}
