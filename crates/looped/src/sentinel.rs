//! The Performance Sentinel's computed half: loop health from the run state alone — heartbeat
//! age, elapsed against expected time, repeated commands, no progress — as `healthy`, `slow`,
//! `possibly_stuck` or `needs_split`. The Sentinel's model reads this report; when the model
//! fails, this verdict stands on its own, and it never lets the model call a loop healthier
//! than the facts show.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::state::RunState;
use fusion_core::config::LoopConfig;

/// Recent commands looked at for repeats.
const REPEAT_WINDOW: usize = 10;
/// A command this many times within the window is a repeat.
const REPEAT_COUNT: usize = 3;
/// Elapsed beyond this multiple of expected: the work should be split.
const SPLIT_FACTOR: u32 = 2;

/// The loop's health, least to most alarming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Slow,
    NeedsSplit,
    PossiblyStuck,
}

impl Health {
    pub const ALL: [Health; 4] = [
        Self::Healthy,
        Self::Slow,
        Self::NeedsSplit,
        Self::PossiblyStuck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Slow => "slow",
            Self::NeedsSplit => "needs_split",
            Self::PossiblyStuck => "possibly_stuck",
        }
    }

    /// The verdict a model's text names: a `verdict:` line first, else the most alarming word
    /// it uses.
    pub fn find_in(text: &str) -> Option<Health> {
        let lower = text.to_ascii_lowercase().replace(['-', ' '], "_");
        let named = |t: &str| Self::ALL.into_iter().rev().find(|h| t.contains(h.as_str()));
        lower
            .lines()
            .find(|l| l.contains("verdict"))
            .and_then(named)
            .or_else(|| named(&lower))
    }
}

/// A command seen more than once recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatedCommand {
    pub command: String,
    pub count: usize,
}

/// What the Sentinel makes of the run state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub verdict: Health,
    /// The verdict from the facts alone.
    pub computed: Health,
    /// The Sentinel model's verdict, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_verdict: Option<Health>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_age_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_s: Option<u64>,
    pub expected_s: u64,
    pub repeated_commands: Vec<RepeatedCommand>,
    pub no_progress: bool,
    /// Each fact behind the computed verdict, in words.
    pub signals: Vec<String>,
}

impl HealthReport {
    /// Takes the model's verdict, never less alarming than the computed one.
    pub fn with_model_verdict(mut self, verdict: Option<Health>) -> HealthReport {
        self.model_verdict = verdict;
        self.verdict = verdict.map_or(self.computed, |v| v.max(self.computed));
        self
    }

    /// The report as the Sentinel model and the conductor read it.
    pub fn describe(&self) -> String {
        let mut text = format!("Computed health: {}", self.computed.as_str());
        for signal in &self.signals {
            text.push_str("\n- ");
            text.push_str(signal);
        }
        if let Some(verdict) = self.model_verdict {
            text.push_str(&format!(
                "\nPerformance Sentinel's verdict: {} (health taken: {})",
                verdict.as_str(),
                self.verdict.as_str()
            ));
        }
        text
    }
}

/// The computed health of the loop in `state` as of `now_ms`.
pub fn assess(state: &RunState, config: &LoopConfig, now_ms: i64) -> HealthReport {
    let step = state.step.unwrap_or(1).max(1);
    let expected = state
        .expected
        .unwrap_or_else(|| config.expected_step.saturating_mul(step));
    let heartbeat_age = state.heartbeat.map(|h| h.age(now_ms));
    let mut signals = Vec::new();
    let mut verdict = Health::Healthy;

    if let Some(age) = heartbeat_age {
        if age > config.stale_heartbeat {
            verdict = verdict.max(Health::PossiblyStuck);
            signals.push(format!(
                "no heartbeat for {} (stale after {})",
                secs(age),
                secs(config.stale_heartbeat)
            ));
        } else {
            signals.push(format!("heartbeat {} ago", secs(age)));
        }
    }
    if let Some(elapsed) = state.elapsed {
        if elapsed > expected.saturating_mul(SPLIT_FACTOR) {
            verdict = verdict.max(Health::NeedsSplit);
            signals.push(format!(
                "elapsed {} is more than {SPLIT_FACTOR}x the expected {}",
                secs(elapsed),
                secs(expected)
            ));
        } else if elapsed > expected {
            verdict = verdict.max(Health::Slow);
            signals.push(format!(
                "elapsed {} is over the expected {}",
                secs(elapsed),
                secs(expected)
            ));
        } else {
            signals.push(format!(
                "elapsed {} of the expected {}",
                secs(elapsed),
                secs(expected)
            ));
        }
    }
    let repeated = repeated_commands(&state.commands);
    for r in &repeated {
        if r.count >= REPEAT_COUNT {
            verdict = verdict.max(Health::PossiblyStuck);
        }
        signals.push(format!(
            "`{}` ran {} times in the last {REPEAT_WINDOW} commands",
            r.command, r.count
        ));
    }
    let no_progress = state.no_progress.unwrap_or(false);
    if no_progress {
        verdict = verdict.max(Health::PossiblyStuck);
        signals.push("no progress: the latest reports changed nothing new".to_owned());
    }
    if signals.is_empty() {
        signals.push("no health facts in the run state".to_owned());
    }
    HealthReport {
        verdict,
        computed: verdict,
        model_verdict: None,
        heartbeat_age_s: heartbeat_age.map(|a| a.as_secs()),
        elapsed_s: state.elapsed.map(|e| e.as_secs()),
        expected_s: expected.as_secs(),
        repeated_commands: repeated,
        no_progress,
        signals,
    }
}

/// Commands run more than once in the recent window, most repeated first.
fn repeated_commands(commands: &[String]) -> Vec<RepeatedCommand> {
    let window = &commands[commands.len().saturating_sub(REPEAT_WINDOW)..];
    let mut counts: Vec<RepeatedCommand> = Vec::new();
    for command in window.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        match counts.iter_mut().find(|r| r.command == command) {
            Some(r) => r.count += 1,
            None => counts.push(RepeatedCommand {
                command: command.to_owned(),
                count: 1,
            }),
        }
    }
    counts.retain(|r| r.count > 1);
    counts.sort_by_key(|r| std::cmp::Reverse(r.count));
    counts
}

fn secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Heartbeat;

    fn config() -> LoopConfig {
        LoopConfig {
            expected_step: Duration::from_secs(60),
            stale_heartbeat: Duration::from_secs(300),
            ..LoopConfig::default()
        }
    }

    fn state(elapsed: u64, heartbeat_age: u64, commands: &[&str]) -> RunState {
        RunState {
            step: Some(1),
            heartbeat: Some(Heartbeat::Age(Duration::from_secs(heartbeat_age))),
            elapsed: Some(Duration::from_secs(elapsed)),
            commands: commands.iter().map(|c| (*c).to_owned()).collect(),
            ..RunState::default()
        }
    }

    #[test]
    fn fresh_heartbeat_within_the_expected_time_is_healthy() {
        let report = assess(&state(30, 10, &["cargo build", "cargo test"]), &config(), 0);
        assert_eq!(report.verdict, Health::Healthy);
        assert!(report.repeated_commands.is_empty());
    }

    #[test]
    fn over_the_expected_time_is_slow_and_far_over_needs_split() {
        assert_eq!(
            assess(&state(90, 10, &[]), &config(), 0).verdict,
            Health::Slow
        );
        assert_eq!(
            assess(&state(200, 10, &[]), &config(), 0).verdict,
            Health::NeedsSplit
        );
    }

    #[test]
    fn a_stale_heartbeat_repeats_or_no_progress_mean_possibly_stuck() {
        assert_eq!(
            assess(&state(30, 600, &[]), &config(), 0).verdict,
            Health::PossiblyStuck
        );
        let repeats = assess(&state(30, 10, &["cargo test"; 3]), &config(), 0);
        assert_eq!(repeats.verdict, Health::PossiblyStuck);
        assert_eq!(repeats.repeated_commands[0].count, 3);
        let mut stalled = state(30, 10, &[]);
        stalled.no_progress = Some(true);
        assert_eq!(
            assess(&stalled, &config(), 0).verdict,
            Health::PossiblyStuck
        );
    }

    #[test]
    fn the_model_verdict_never_makes_the_loop_healthier_than_the_facts() {
        let report = assess(&state(90, 10, &[]), &config(), 0);
        assert_eq!(
            report
                .clone()
                .with_model_verdict(Some(Health::Healthy))
                .verdict,
            Health::Slow
        );
        assert_eq!(
            report
                .with_model_verdict(Some(Health::PossiblyStuck))
                .verdict,
            Health::PossiblyStuck
        );
        assert_eq!(
            Health::find_in("Loop looks fine.\nVerdict: needs split"),
            Some(Health::NeedsSplit)
        );
        assert_eq!(Health::find_in("no idea"), None);
    }
}
