//! The suite file format (TOML, and JSON for JSONL lines and stored run specs) as serde reads
//! and writes it, and its checks: every bound, every id, every pattern and schema compiled
//! once, each error naming the task and the field.
//!
//! ```toml
//! name = "mine"                       # optional: the file stem otherwise
//! [[tasks]]
//! id = "add"
//! category = "code"                   # code | extraction | reasoning | summarization | writing | chat
//! prompt = "Write add(a, b) in Python."
//! system = "Answer with code only."   # optional
//! reference = "def add(a, b): ..."    # optional: a known-good answer, never sent to a model
//! validator = { kind = "code", tests = ["assert add(1, 2) == 3"], timeout = "10s" }
//! # { kind = "json_schema", schema = { type = "object", required = ["name"] } }  (or a JSON string)
//! # { kind = "exact", answer = "42" }  or  answers = ["42", "forty-two"], tolerance = 0.01
//! # { kind = "facts", facts = ["Paris", { name = "year", any = ["\\b1889\\b"] }], threshold = 0.75, max_words = 80 }
//! # { kind = "none" }  (answers timed and priced, not scored)
//! ```

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    DEFAULT_CODE_TIMEOUT, DEFAULT_FACTS_THRESHOLD, Fact, FactMatcher, MAX_ALTERNATIVES,
    MAX_ANSWER_BYTES, MAX_ANSWERS, MAX_CODE_TIMEOUT, MAX_FACTS, MAX_ID_CHARS, MAX_PATTERN_BYTES,
    MAX_PROMPT_BYTES, MAX_REFERENCE_BYTES, MAX_SCHEMA_BYTES, MAX_SYSTEM_BYTES, MAX_TASKS_PER_SUITE,
    MAX_TEST_BYTES, MAX_TESTS, Suite, SuiteError, Task, TaskKind, Validator,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSuite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) tasks: Vec<RawTask>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTask {
    id: String,
    category: String,
    prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    validator: RawValidator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawValidator {
    Code {
        tests: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<String>,
    },
    JsonSchema {
        schema: Value,
    },
    Exact {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        answers: Vec<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance: Option<f64>,
    },
    Facts {
        facts: Vec<RawFact>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        threshold: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_words: Option<u32>,
    },
    /// Answers are timed and priced, not scored.
    None,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum RawFact {
    /// A keyword.
    Keyword(String),
    /// Regular-expression alternatives.
    Patterns {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        any: Vec<String>,
    },
}

impl RawSuite {
    /// The suite, checked: `origin` names the file in errors, `default_name` the suite.
    pub(super) fn check(self, origin: &str, default_name: &str) -> Result<Suite, SuiteError> {
        let name = self
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_name.to_owned());
        if name.len() > MAX_ID_CHARS {
            return Err(SuiteError::new(
                origin,
                format!("field `name`: longer than {MAX_ID_CHARS} bytes"),
            ));
        }
        if self.tasks.is_empty() {
            return Err(SuiteError::new(origin, "no tasks (add [[tasks]])"));
        }
        if self.tasks.len() > MAX_TASKS_PER_SUITE {
            return Err(SuiteError::new(
                origin,
                format!(
                    "{} tasks: at most {MAX_TASKS_PER_SUITE} in one suite",
                    self.tasks.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        let mut tasks = Vec::with_capacity(self.tasks.len());
        for (index, raw) in self.tasks.into_iter().enumerate() {
            let task = raw.check(origin, index)?;
            if !seen.insert(task.id.clone()) {
                return Err(SuiteError::new(origin, "appears twice: ids must be unique")
                    .at(format!("`{}`", task.id), "id"));
            }
            tasks.push(task);
        }
        Ok(Suite {
            name,
            description: self.description.filter(|d| !d.trim().is_empty()),
            tasks,
        })
    }
}

impl RawTask {
    fn check(self, origin: &str, index: usize) -> Result<Task, SuiteError> {
        let number = format!("#{}", index + 1);
        let id = self.id.trim().to_owned();
        if let Err(message) = check_id(&id) {
            return Err(SuiteError::new(origin, message).at(number, "id"));
        }
        let label = format!("`{id}`");
        let error = |field: &str, message: String| {
            SuiteError::new(origin, message).at(label.clone(), field)
        };
        let fail = |field: &str, message: String| Err(error(field, message));
        let Some(kind) = TaskKind::parse(self.category.trim()) else {
            let kinds: Vec<&str> = TaskKind::ALL.iter().map(|k| k.as_str()).collect();
            return fail(
                "category",
                format!(
                    "unknown category `{}`: one of {}",
                    self.category,
                    kinds.join(", ")
                ),
            );
        };
        if self.prompt.trim().is_empty() {
            return fail("prompt", "is empty".into());
        }
        if self.prompt.len() > MAX_PROMPT_BYTES {
            return fail("prompt", format!("longer than {MAX_PROMPT_BYTES} bytes"));
        }
        if let Some(system) = &self.system
            && system.len() > MAX_SYSTEM_BYTES
        {
            return fail("system", format!("longer than {MAX_SYSTEM_BYTES} bytes"));
        }
        if let Some(reference) = &self.reference
            && reference.len() > MAX_REFERENCE_BYTES
        {
            return fail(
                "reference",
                format!("longer than {MAX_REFERENCE_BYTES} bytes"),
            );
        }
        let validator = self
            .validator
            .check()
            .map_err(|(field, message)| error(&format!("validator.{field}"), message))?;
        Ok(Task {
            id,
            kind,
            prompt: self.prompt,
            system: self.system.filter(|s| !s.trim().is_empty()),
            validator,
            reference: self.reference.filter(|r| !r.trim().is_empty()),
        })
    }
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    if id.len() > MAX_ID_CHARS {
        return Err(format!("longer than {MAX_ID_CHARS} bytes"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._:/-".contains(*c)))
    {
        return Err(format!(
            "`{id}` has {c:?}: use letters, digits and . _ : / -"
        ));
    }
    Ok(())
}

/// An error in a validator: the field under `validator.` and what is wrong.
type FieldError = (String, String);

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    (field.into(), message.into())
}

impl RawValidator {
    fn check(self) -> Result<Validator, FieldError> {
        match self {
            Self::Code { tests, timeout } => check_code(tests, timeout.as_deref()),
            Self::JsonSchema { schema } => check_schema(schema),
            Self::Exact {
                answer,
                answers,
                tolerance,
            } => check_exact(answer, answers, tolerance),
            Self::Facts {
                facts,
                threshold,
                max_words,
            } => check_facts(facts, threshold, max_words),
            Self::None => Ok(Validator::Unscored),
        }
    }
}

fn check_code(tests: Vec<String>, timeout: Option<&str>) -> Result<Validator, FieldError> {
    if tests.is_empty() {
        return Err(field_error("tests", "is empty: give at least one test"));
    }
    if tests.len() > MAX_TESTS {
        return Err(field_error("tests", format!("more than {MAX_TESTS} tests")));
    }
    for (i, test) in tests.iter().enumerate() {
        if test.trim().is_empty() {
            return Err(field_error(format!("tests[{i}]"), "is empty"));
        }
        if test.len() > MAX_TEST_BYTES {
            return Err(field_error(
                format!("tests[{i}]"),
                format!("longer than {MAX_TEST_BYTES} bytes"),
            ));
        }
    }
    let timeout = match timeout {
        None => DEFAULT_CODE_TIMEOUT,
        Some(text) => {
            let value = humantime::parse_duration(text.trim())
                .map_err(|e| field_error("timeout", format!("`{text}`: {e} (e.g. \"10s\")")))?;
            if value.is_zero() || value > MAX_CODE_TIMEOUT {
                return Err(field_error(
                    "timeout",
                    format!(
                        "`{text}`: from 1ms to {}",
                        humantime::format_duration(MAX_CODE_TIMEOUT)
                    ),
                ));
            }
            value
        }
    };
    Ok(Validator::Code { tests, timeout })
}

fn check_schema(schema: Value) -> Result<Validator, FieldError> {
    // A schema may be written as a JSON string (handy in TOML).
    let schema = match schema {
        Value::String(text) => {
            if text.len() > MAX_SCHEMA_BYTES {
                return Err(field_error(
                    "schema",
                    format!("longer than {MAX_SCHEMA_BYTES} bytes"),
                ));
            }
            serde_json::from_str(&text)
                .map_err(|e| field_error("schema", format!("not JSON: {e}")))?
        }
        other => other,
    };
    if schema.to_string().len() > MAX_SCHEMA_BYTES {
        return Err(field_error(
            "schema",
            format!("longer than {MAX_SCHEMA_BYTES} bytes"),
        ));
    }
    if !(schema.is_object() || schema.is_boolean()) {
        return Err(field_error(
            "schema",
            "a JSON Schema is an object (or true/false)",
        ));
    }
    jsonschema::validator_for(&schema)
        .map_err(|e| field_error("schema", format!("not a valid JSON Schema: {e}")))?;
    Ok(Validator::JsonSchema { schema })
}

fn check_exact(
    answer: Option<Value>,
    answers: Vec<Value>,
    tolerance: Option<f64>,
) -> Result<Validator, FieldError> {
    let mut accepted = Vec::new();
    let given = answer.map(|a| ("answer".to_owned(), a)).into_iter().chain(
        answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("answers[{i}]"), a)),
    );
    for (field, value) in given {
        let text = match value {
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            other => {
                return Err(field_error(
                    field,
                    format!("a text or a number, not {other}"),
                ));
            }
        };
        if text.trim().is_empty() {
            return Err(field_error(field, "is empty"));
        }
        if text.len() > MAX_ANSWER_BYTES {
            return Err(field_error(
                field,
                format!("longer than {MAX_ANSWER_BYTES} bytes"),
            ));
        }
        accepted.push(text);
    }
    if accepted.is_empty() {
        return Err(field_error("answer", "missing: give `answer` or `answers`"));
    }
    if accepted.len() > MAX_ANSWERS {
        return Err(field_error(
            "answers",
            format!("more than {MAX_ANSWERS} answers"),
        ));
    }
    if let Some(t) = tolerance
        && !(t.is_finite() && t >= 0.0)
    {
        return Err(field_error("tolerance", "a number of at least 0"));
    }
    Ok(Validator::Exact {
        answers: accepted,
        tolerance,
    })
}

fn check_facts(
    facts: Vec<RawFact>,
    threshold: Option<f64>,
    max_words: Option<u32>,
) -> Result<Validator, FieldError> {
    if facts.is_empty() {
        return Err(field_error("facts", "is empty: give at least one fact"));
    }
    if facts.len() > MAX_FACTS {
        return Err(field_error("facts", format!("more than {MAX_FACTS} facts")));
    }
    let mut checked = Vec::with_capacity(facts.len());
    for (i, fact) in facts.into_iter().enumerate() {
        let field = format!("facts[{i}]");
        let fact = match fact {
            RawFact::Keyword(keyword) => {
                let keyword = keyword.trim().to_owned();
                check_pattern_size(&field, &keyword)?;
                Fact {
                    name: keyword.clone(),
                    matcher: FactMatcher::Keyword(keyword),
                }
            }
            RawFact::Patterns { name, any } => {
                if any.is_empty() || any.len() > MAX_ALTERNATIVES {
                    return Err(field_error(
                        format!("{field}.any"),
                        format!("give 1 to {MAX_ALTERNATIVES} patterns"),
                    ));
                }
                for (j, pattern) in any.iter().enumerate() {
                    let field = format!("{field}.any[{j}]");
                    check_pattern_size(&field, pattern)?;
                    crate::validate::facts::compile(pattern)
                        .map_err(|e| field_error(field, format!("not a valid pattern: {e}")))?;
                }
                Fact {
                    name: name
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| any[0].clone()),
                    matcher: FactMatcher::Patterns(any),
                }
            }
        };
        checked.push(fact);
    }
    let threshold = threshold.unwrap_or(DEFAULT_FACTS_THRESHOLD);
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(field_error("threshold", "a fraction above 0, at most 1"));
    }
    if max_words == Some(0) {
        return Err(field_error("max_words", "at least 1"));
    }
    Ok(Validator::Facts {
        facts: checked,
        threshold,
        max_words,
    })
}

fn check_pattern_size(field: &str, text: &str) -> Result<(), FieldError> {
    if text.trim().is_empty() {
        return Err(field_error(field, "is empty"));
    }
    if text.len() > MAX_PATTERN_BYTES {
        return Err(field_error(
            field,
            format!("longer than {MAX_PATTERN_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl From<&Suite> for RawSuite {
    fn from(suite: &Suite) -> Self {
        RawSuite {
            name: Some(suite.name.clone()),
            description: suite.description.clone(),
            tasks: suite.tasks.iter().map(RawTask::from).collect(),
        }
    }
}

impl From<&Task> for RawTask {
    fn from(task: &Task) -> Self {
        RawTask {
            id: task.id.clone(),
            category: task.kind.as_str().to_owned(),
            prompt: task.prompt.clone(),
            system: task.system.clone(),
            validator: RawValidator::from(&task.validator),
            reference: task.reference.clone(),
        }
    }
}

impl From<&Validator> for RawValidator {
    fn from(validator: &Validator) -> Self {
        match validator {
            Validator::Code { tests, timeout } => Self::Code {
                tests: tests.clone(),
                timeout: (*timeout != DEFAULT_CODE_TIMEOUT).then(|| format_duration(*timeout)),
            },
            Validator::JsonSchema { schema } => Self::JsonSchema {
                schema: schema.clone(),
            },
            Validator::Exact { answers, tolerance } => Self::Exact {
                answer: None,
                answers: answers.iter().cloned().map(Value::String).collect(),
                tolerance: *tolerance,
            },
            Validator::Facts {
                facts,
                threshold,
                max_words,
            } => Self::Facts {
                facts: facts
                    .iter()
                    .map(|fact| match &fact.matcher {
                        FactMatcher::Keyword(keyword) => RawFact::Keyword(keyword.clone()),
                        FactMatcher::Patterns(any) => RawFact::Patterns {
                            name: Some(fact.name.clone()),
                            any: any.clone(),
                        },
                    })
                    .collect(),
                threshold: Some(*threshold),
                max_words: *max_words,
            },
            Validator::Unscored => Self::None,
        }
    }
}

fn format_duration(value: Duration) -> String {
    humantime::format_duration(value).to_string()
}
