//! Benchmark suites: tasks, each with a kind (what it measures, and so the router category its
//! score feeds) and a validator that needs no model; the built-in suites (TOML files embedded
//! in the binary); user suites in TOML or JSONL; and the bounds every suite is held to, with
//! errors that name the file, the task and the field. The file format is `raw`'s.

mod raw;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use fusion_core::config::Category;
use serde::{Deserialize, Serialize};

/// Largest suite file read.
pub const MAX_SUITE_BYTES: u64 = 4 * 1024 * 1024;
/// Most tasks in one suite.
pub const MAX_TASKS_PER_SUITE: usize = 500;
/// Longest task id (letters, digits and `._:/-`).
pub const MAX_ID_CHARS: usize = 128;
/// Largest prompt.
pub const MAX_PROMPT_BYTES: usize = 32 * 1024;
/// Largest system prompt.
pub const MAX_SYSTEM_BYTES: usize = 8 * 1024;
/// Largest reference answer.
pub const MAX_REFERENCE_BYTES: usize = 32 * 1024;
/// Most tests of a code task, and the largest one.
pub const MAX_TESTS: usize = 50;
pub const MAX_TEST_BYTES: usize = 8 * 1024;
/// Largest JSON Schema (as JSON text).
pub const MAX_SCHEMA_BYTES: usize = 32 * 1024;
/// Most accepted answers of an exact task, and the longest one.
pub const MAX_ANSWERS: usize = 20;
pub const MAX_ANSWER_BYTES: usize = 1024;
/// Most facts of a facts task, alternatives per fact, and the longest keyword or pattern.
pub const MAX_FACTS: usize = 50;
pub const MAX_ALTERNATIVES: usize = 20;
pub const MAX_PATTERN_BYTES: usize = 512;
/// A code task's time limit when it states none, and the longest it may state.
pub const DEFAULT_CODE_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CODE_TIMEOUT: Duration = Duration::from_secs(120);
/// A facts task passes at this fraction of its facts when it states no threshold.
pub const DEFAULT_FACTS_THRESHOLD: f64 = 0.75;

/// What a task measures. Extraction is scored apart in suites and reports, and counts as
/// summarization for the router (condensing or extracting from a given text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Code,
    Extraction,
    Reasoning,
    Summarization,
    Writing,
    Chat,
}

impl TaskKind {
    pub const ALL: [TaskKind; 6] = [
        Self::Code,
        Self::Extraction,
        Self::Reasoning,
        Self::Summarization,
        Self::Writing,
        Self::Chat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Extraction => "extraction",
            Self::Reasoning => "reasoning",
            Self::Summarization => "summarization",
            Self::Writing => "writing",
            Self::Chat => "chat",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The router category a score of this kind feeds.
    pub fn category(self) -> Category {
        match self {
            Self::Code => Category::Code,
            Self::Reasoning => Category::Reasoning,
            Self::Extraction | Self::Summarization => Category::Summarization,
            Self::Writing => Category::Writing,
            Self::Chat => Category::Chat,
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task: a prompt, and how to score an answer to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Unique in its suite (and in a run).
    pub id: String,
    /// Written `category` in suite files.
    pub kind: TaskKind,
    pub prompt: String,
    pub system: Option<String>,
    pub validator: Validator,
    /// A known-good answer (never sent to a model): the suite's own tests check that it
    /// passes, and test models can be scripted with it.
    pub reference: Option<String>,
}

/// How an answer is scored (0 to 1), with no model.
#[derive(Debug, Clone, PartialEq)]
pub enum Validator {
    /// The answer's code (its first fenced block, else the whole answer) run with each test
    /// (Python statements, usually asserts) in a sandbox; score = the fraction that pass.
    Code {
        tests: Vec<String>,
        timeout: Duration,
    },
    /// The answer's JSON (a fenced block, else the first balanced object or array) valid
    /// against `schema` (pin expected values with `const` or `enum`).
    JsonSchema { schema: serde_json::Value },
    /// The answer's final answer equal to one of `answers` once normalised; numbers compared
    /// numerically within `tolerance` (absolute; `None`: a millionth of the expected value).
    Exact {
        answers: Vec<String>,
        tolerance: Option<f64>,
    },
    /// The fraction of `facts` present; passes at `threshold`. Longer than `max_words`: fails,
    /// and the score falls linearly to 0 at one and a half times the limit.
    Facts {
        facts: Vec<Fact>,
        threshold: f64,
        max_words: Option<u32>,
    },
    /// No validator: answers are timed and priced, never scored (written `kind = "none"`).
    Unscored,
}

impl Validator {
    /// The kind's name in suite files.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Code { .. } => "code",
            Self::JsonSchema { .. } => "json_schema",
            Self::Exact { .. } => "exact",
            Self::Facts { .. } => "facts",
            Self::Unscored => "none",
        }
    }
}

/// One fact a summary must state.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// For reports: the keyword, or the name the suite gave.
    pub name: String,
    pub matcher: FactMatcher,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FactMatcher {
    /// Present as words (case-insensitive; any run of whitespace matches a space).
    Keyword(String),
    /// Any of these regular expressions matches (case-insensitive).
    Patterns(Vec<String>),
}

/// A named set of tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// `builtin:KIND` for the built-in suites; a user suite's `name`, else its file stem.
    pub name: String,
    pub description: Option<String>,
    pub tasks: Vec<Task>,
}

impl Serialize for Suite {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        raw::RawSuite::from(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Suite {
    /// The suite file format (JSON or TOML), checked as a file is; for stored run specs.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = raw::RawSuite::deserialize(deserializer)?;
        let name = raw.name.clone().unwrap_or_default();
        raw.check("stored suite", &name)
            .map_err(serde::de::Error::custom)
    }
}

/// Where suites come from, as `--suite` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuiteSource {
    /// `builtin` (every built-in suite) or `builtin:KIND`.
    Builtin(Option<TaskKind>),
    /// A `.toml` or `.jsonl` file.
    Path(PathBuf),
}

impl FromStr for SuiteSource {
    type Err = SuiteError;

    fn from_str(text: &str) -> Result<Self, SuiteError> {
        let text = text.trim();
        if text == "builtin" {
            return Ok(Self::Builtin(None));
        }
        if let Some(kind) = text.strip_prefix("builtin:") {
            let names: Vec<&str> = builtin_texts().iter().map(|(k, _)| k.as_str()).collect();
            return match TaskKind::parse(kind) {
                Some(kind) if builtin_texts().iter().any(|(k, _)| *k == kind) => {
                    Ok(Self::Builtin(Some(kind)))
                }
                _ => Err(SuiteError::new(
                    "--suite",
                    format!(
                        "no built-in suite `{kind}`: choose builtin or builtin:{}",
                        names.join(", builtin:")
                    ),
                )),
            };
        }
        if text.is_empty() {
            return Err(SuiteError::new("--suite", "is empty"));
        }
        Ok(Self::Path(PathBuf::from(text)))
    }
}

impl fmt::Display for SuiteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Builtin(None) => f.write_str("builtin"),
            Self::Builtin(Some(kind)) => write!(f, "builtin:{kind}"),
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A suite that cannot be read or is not valid: the file, the task and the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct SuiteError {
    /// The file (or `--suite`, or `builtin:KIND`).
    pub origin: String,
    /// The task's id, or `#N` (1-based) when it has none yet.
    pub task: Option<String>,
    /// The field, dotted (`validator.tests[2]`).
    pub field: Option<String>,
    pub message: String,
}

impl SuiteError {
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            task: None,
            field: None,
            message: message.into(),
        }
    }

    fn at(mut self, task: impl Into<String>, field: impl Into<String>) -> Self {
        self.task = Some(task.into());
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(task) = &self.task {
            write!(f, ": task {task}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The built-in suites' files, by kind.
fn builtin_texts() -> &'static [(TaskKind, &'static str)] {
    &[
        (TaskKind::Code, include_str!("../../suites/code.toml")),
        (
            TaskKind::Extraction,
            include_str!("../../suites/extraction.toml"),
        ),
        (
            TaskKind::Reasoning,
            include_str!("../../suites/reasoning.toml"),
        ),
        (
            TaskKind::Summarization,
            include_str!("../../suites/summarization.toml"),
        ),
    ]
}

/// The built-in suites (all, or the one of `kind`), named `builtin:KIND`.
pub fn builtin(kind: Option<TaskKind>) -> Result<Vec<Suite>, SuiteError> {
    builtin_texts()
        .iter()
        .filter(|(k, _)| kind.is_none_or(|kind| kind == *k))
        .map(|(k, text)| {
            let name = format!("builtin:{k}");
            let mut suite = parse_toml(text, &name, &name)?;
            suite.name = name;
            Ok(suite)
        })
        .collect()
}

/// The suites `source` names.
pub fn load(source: &SuiteSource) -> Result<Vec<Suite>, SuiteError> {
    match source {
        SuiteSource::Builtin(kind) => builtin(*kind),
        SuiteSource::Path(path) => load_file(path).map(|suite| vec![suite]),
    }
}

/// A user suite: `.toml` (the built-in format) or `.jsonl` (one task per line).
pub fn load_file(path: &Path) -> Result<Suite, SuiteError> {
    let origin = path.display().to_string();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| origin.clone());
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let text = read_bounded(path).map_err(|message| SuiteError::new(&origin, message))?;
    match extension.as_deref() {
        Some("toml") => parse_toml(&text, &origin, &stem),
        Some("jsonl" | "ndjson") => parse_jsonl(&text, &origin, &stem),
        _ => Err(SuiteError::new(
            &origin,
            "unknown suite format: name it .toml (the built-in suites' format) or .jsonl (one \
             task per line)",
        )),
    }
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_SUITE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_SUITE_BYTES {
        return Err(format!("larger than {MAX_SUITE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
}

/// A suite in TOML: optional `name` and `description`, then `[[tasks]]`. `origin` names the
/// file in errors; `default_name` names the suite when it has no `name`.
pub fn parse_toml(text: &str, origin: &str, default_name: &str) -> Result<Suite, SuiteError> {
    let raw: raw::RawSuite =
        toml::from_str(text).map_err(|e| SuiteError::new(origin, e.to_string().trim_end()))?;
    raw.check(origin, default_name)
}

/// A suite in JSONL: one task object per line (blank lines skipped), named `name`.
pub fn parse_jsonl(text: &str, origin: &str, name: &str) -> Result<Suite, SuiteError> {
    let mut tasks = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_origin = format!("{origin}: line {}", index + 1);
        if tasks.len() == MAX_TASKS_PER_SUITE {
            return Err(SuiteError::new(
                line_origin,
                format!("more than {MAX_TASKS_PER_SUITE} tasks"),
            ));
        }
        let mut de = serde_json::Deserializer::from_str(line);
        let raw: raw::RawTask = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let error = SuiteError::new(&line_origin, e.into_inner().to_string());
            if path == "." {
                error
            } else {
                SuiteError {
                    field: Some(path),
                    ..error
                }
            }
        })?;
        tasks.push(raw);
    }
    raw::RawSuite {
        name: Some(name.to_owned()),
        description: None,
        tasks,
    }
    .check(origin, name)
}

#[cfg(test)]
mod tests;
