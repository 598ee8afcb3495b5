//! The run state the roles deliberate over: the executor loop's step, heartbeat, elapsed and
//! expected time, recent commands and outputs. It comes from a JSON file the user gives
//! (`fusion loop --state FILE`, an input, read leniently with the replaced project's camelCase
//! names too) or is derived from a stored run's trail (`--run ID`, and the gate).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::record::Report;
use fusion_core::store::LoopRunRow;

/// Commands and outputs a derived state keeps (the newest).
const RECENT_COMMANDS: usize = 20;
const RECENT_OUTPUTS: usize = 5;
/// Identical reports in a row that mean no progress.
const NO_PROGRESS_REPORTS: usize = 3;

/// The executor loop as it stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    /// The loop's step, from 1.
    #[serde(alias = "loopStep", alias = "loop_step")]
    pub step: Option<u32>,
    /// The last sign of life: Unix milliseconds (or seconds), an RFC 3339 time, or an age
    /// (`"45s"`, `"3m ago"`).
    #[serde(
        alias = "lastHeartbeat",
        alias = "last_heartbeat",
        alias = "heartbeat_at"
    )]
    pub heartbeat: Option<Heartbeat>,
    /// Time since the loop started: seconds, or a duration such as `"12m"`.
    #[serde(with = "opt_duration")]
    pub elapsed: Option<Duration>,
    /// How long the loop was expected to take by now (default: `loop.expected_step` × step).
    #[serde(with = "opt_duration")]
    pub expected: Option<Duration>,
    /// Recent commands, oldest first.
    #[serde(alias = "recentCommands", alias = "recent_commands")]
    pub commands: Vec<String>,
    /// Recent outputs or agent messages, oldest first.
    #[serde(
        alias = "recentMessages",
        alias = "recent_messages",
        alias = "recent_outputs",
        alias = "last_outputs",
        alias = "lastOutputs"
    )]
    pub outputs: Vec<String>,
    /// The caller's own judgement that nothing has changed for a while.
    #[serde(alias = "noProgress", skip_serializing_if = "Option::is_none")]
    pub no_progress: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Anything else the file said, shown to the roles as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// When the executor last showed a sign of life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// At this Unix time, in milliseconds.
    At(i64),
    /// This long ago (as of reading the state).
    Age(Duration),
}

impl Heartbeat {
    /// How long ago, as of `now_ms` (0 for a heartbeat in the future).
    pub fn age(self, now_ms: i64) -> Duration {
        match self {
            Self::At(at) => Duration::from_millis(u64::try_from(now_ms - at).unwrap_or(0)),
            Self::Age(age) => age,
        }
    }

    fn from_value(value: &Value) -> Result<Option<Heartbeat>, String> {
        match value {
            Value::Null => Ok(None),
            Value::Number(n) => {
                let at = n.as_f64().ok_or_else(|| format!("`{n}` is not a time"))?;
                // Seconds before the year 5138, milliseconds after.
                let ms = if at < 1e11 { at * 1000.0 } else { at };
                Ok(Some(Self::At(ms as i64)))
            }
            Value::String(text) => {
                let text = text.trim();
                if let Ok(time) = humantime::parse_rfc3339_weak(text) {
                    let ms = time
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    return Ok(Some(Self::At(ms)));
                }
                let age = text.strip_suffix("ago").unwrap_or(text).trim();
                humantime::parse_duration(age)
                    .map(|d| Some(Self::Age(d)))
                    .map_err(|_| {
                        format!(
                            "`{text}` is neither a time (RFC 3339, Unix seconds or milliseconds) \
                             nor an age such as \"45s\""
                        )
                    })
            }
            other => Err(format!("`{other}` is not a time")),
        }
    }
}

impl Serialize for Heartbeat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::At(ms) => serializer.serialize_i64(*ms),
            Self::Age(age) => {
                serializer.collect_str(&format_args!("{} ago", humantime::format_duration(*age)))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Heartbeat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Heartbeat::from_value(&value)
            .map_err(D::Error::custom)?
            .ok_or_else(|| D::Error::custom("a heartbeat is required here"))
    }
}

/// An optional duration: seconds as a number, or a humantime string.
mod opt_duration {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_f64()
                .filter(|s| *s >= 0.0 && s.is_finite())
                .map(|s| Some(Duration::from_secs_f64(s)))
                .ok_or_else(|| D::Error::custom(format!("`{n}` is not a number of seconds"))),
            Value::String(text) => humantime::parse_duration(text.trim())
                .map(Some)
                .map_err(|e| D::Error::custom(format!("`{text}`: {e} (write it like 12m or 90s)"))),
            other => Err(D::Error::custom(format!("`{other}` is not a duration"))),
        }
    }
}

impl RunState {
    /// Parses a state file's JSON; the error names the field.
    pub fn from_json(text: &str) -> Result<RunState, String> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    /// The state of a stored run as of `now_ms`: step = reports + 1, the heartbeat is the
    /// newest record (or the start), commands are the reports' tests and commands, outputs
    /// their summaries, and no progress means the last three reports changed the same files
    /// with the same test output.
    pub fn from_trail(
        run: &LoopRunRow,
        reports: &[Report],
        last_record_ms: Option<i64>,
        now_ms: i64,
    ) -> RunState {
        let mut commands: Vec<String> = reports
            .iter()
            .flat_map(|r| r.commands.iter().chain(&r.tests).cloned())
            .collect();
        let keep_from = commands.len().saturating_sub(RECENT_COMMANDS);
        commands.drain(..keep_from);
        let outputs = reports
            .iter()
            .skip(reports.len().saturating_sub(RECENT_OUTPUTS))
            .map(|r| r.summary.clone())
            .collect();
        let no_progress = (reports.len() >= NO_PROGRESS_REPORTS).then(|| {
            let recent = &reports[reports.len() - NO_PROGRESS_REPORTS..];
            let fingerprint = |r: &Report| {
                let mut files = r.changed_files.clone();
                files.sort();
                (files, r.test_output.trim().to_owned())
            };
            let first = fingerprint(&recent[0]);
            recent.iter().all(|r| fingerprint(r) == first)
        });
        RunState {
            step: Some(
                u32::try_from(reports.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(1),
            ),
            heartbeat: Some(Heartbeat::At(last_record_ms.unwrap_or(run.created_ms))),
            elapsed: Some(Duration::from_millis(
                u64::try_from(now_ms - run.created_ms).unwrap_or(0),
            )),
            expected: None,
            commands,
            outputs,
            no_progress,
            notes: None,
            extra: BTreeMap::new(),
        }
    }

    /// The state as the roles read it: one fact per line.
    pub fn describe(&self, now_ms: i64) -> String {
        let mut lines = Vec::new();
        if let Some(step) = self.step {
            lines.push(format!("- Loop step: {step}"));
        }
        if let Some(heartbeat) = self.heartbeat {
            lines.push(format!(
                "- Last heartbeat: {} ago",
                humantime::format_duration(round_secs(heartbeat.age(now_ms)))
            ));
        }
        if let Some(elapsed) = self.elapsed {
            lines.push(format!(
                "- Elapsed: {}",
                humantime::format_duration(round_secs(elapsed))
            ));
        }
        if let Some(expected) = self.expected {
            lines.push(format!(
                "- Expected: {}",
                humantime::format_duration(round_secs(expected))
            ));
        }
        if let Some(no_progress) = self.no_progress {
            lines.push(format!("- No progress reported: {no_progress}"));
        }
        if !self.commands.is_empty() {
            lines.push("- Recent commands:".to_owned());
            lines.extend(self.commands.iter().map(|c| format!("    - {c}")));
        }
        if !self.outputs.is_empty() {
            lines.push("- Recent outputs:".to_owned());
            lines.extend(
                self.outputs
                    .iter()
                    .map(|o| format!("    - {}", one_line(o))),
            );
        }
        if let Some(notes) = &self.notes {
            lines.push(format!("- Notes: {notes}"));
        }
        for (key, value) in &self.extra {
            lines.push(format!("- {key}: {value}"));
        }
        if lines.is_empty() {
            "(no run state given)".to_owned()
        } else {
            lines.join("\n")
        }
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// The first line, at most 300 characters.
fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_read_the_replaced_projects_names_and_every_heartbeat_form() {
        let state = RunState::from_json(
            r#"{"loopStep": 3, "heartbeat": "2025-03-01T00:00:00Z", "elapsed": 90,
                "expected": "1m", "recentCommands": ["cargo test"], "recentMessages": ["ok"],
                "branch": "main"}"#,
        )
        .unwrap();
        assert_eq!(state.step, Some(3));
        assert_eq!(state.heartbeat, Some(Heartbeat::At(1_740_787_200_000)));
        assert_eq!(state.elapsed, Some(Duration::from_secs(90)));
        assert_eq!(state.expected, Some(Duration::from_secs(60)));
        assert_eq!(state.commands, vec!["cargo test"]);
        assert_eq!(state.outputs, vec!["ok"]);
        assert_eq!(state.extra["branch"], "main");

        let aged = RunState::from_json(r#"{"heartbeat": "3m ago"}"#).unwrap();
        assert_eq!(
            aged.heartbeat,
            Some(Heartbeat::Age(Duration::from_secs(180)))
        );
        let seconds = RunState::from_json(r#"{"heartbeat": 1740787200}"#).unwrap();
        assert_eq!(seconds.heartbeat, Some(Heartbeat::At(1_740_787_200_000)));
        assert_eq!(
            Heartbeat::At(1_000).age(61_000),
            Duration::from_secs(60),
            "age is measured from now"
        );
    }

    #[test]
    fn bad_state_fields_are_named() {
        let err = RunState::from_json(r#"{"elapsed": "soon"}"#).unwrap_err();
        assert!(err.starts_with("elapsed"), "{err}");
        let err = RunState::from_json(r#"{"heartbeat": "yesterday-ish"}"#).unwrap_err();
        assert!(err.contains("heartbeat"), "{err}");
    }

    #[test]
    fn a_stored_trail_gives_step_heartbeat_commands_and_no_progress() {
        let run = LoopRunRow {
            id: "r".into(),
            objective: "o".into(),
            acceptance_criteria: vec![],
            status: "reported".into(),
            first_prompt: String::new(),
            created_ms: 1_000,
            updated_ms: 1_000,
            caller: "cli".into(),
        };
        let report = Report {
            summary: "tried again".into(),
            changed_files: vec!["a.rs".into()],
            tests: vec!["cargo test".into()],
            test_output: "1 failed".into(),
            ..Report::default()
        };
        let reports = vec![report.clone(), report.clone(), report];
        let state = RunState::from_trail(&run, &reports, Some(5_000), 61_000);
        assert_eq!(state.step, Some(4));
        assert_eq!(state.heartbeat, Some(Heartbeat::At(5_000)));
        assert_eq!(state.elapsed, Some(Duration::from_secs(60)));
        assert_eq!(state.commands.len(), 3);
        assert_eq!(state.no_progress, Some(true));
        let text = state.describe(61_000);
        assert!(text.contains("Last heartbeat: 56s ago"), "{text}");
        assert!(text.contains("cargo test"), "{text}");
    }
}
