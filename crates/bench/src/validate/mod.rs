//! Validators: score an answer (0 to 1) against its task with no model. `code` runs the
//! answer's code with the task's tests in a sandbox (no network, a time limit, bounded output);
//! `json` checks the answer's JSON against a JSON Schema; `exact` compares a normalised final
//! answer (numbers numerically); `facts` counts the required facts present. `extract` finds
//! code and JSON in an answer.

pub mod code;
pub mod exact;
pub mod extract;
pub mod facts;
pub mod json;

use serde_json::Value;

use crate::suite::Validator;

/// Largest answer a validator reads: the rest is cut off (and the cut noted).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// How an answer scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// 0 to 1.
    pub score: f64,
    /// The validator's own pass mark was reached.
    pub passed: bool,
    /// What the validator saw and decided (JSON object), for reports.
    pub detail: Value,
}

impl Verdict {
    pub(crate) fn new(score: f64, passed: bool, detail: Value) -> Self {
        Self {
            score: if score.is_finite() {
                score.clamp(0.0, 1.0)
            } else {
                0.0
            },
            passed,
            detail,
        }
    }
}

/// The validator could not judge the answer at all (not the answer's fault), e.g. no sandbox
/// to run code in: the result is recorded as an error, not as a score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unjudged(pub String);

/// How the error of an answer to a task without a validator begins: it was answered, timed and
/// priced, but has no score (and so says nothing of the model's quality).
pub const UNSCORED: &str = "unscored";

/// A result's error says its answer was not scored (rather than that the call failed).
pub fn is_unscored(error: &str) -> bool {
    error.starts_with(UNSCORED)
}

/// Scores `answer` (cut to [`MAX_ANSWER_BYTES`]) by `validator`.
pub async fn validate(validator: &Validator, answer: &str) -> Result<Verdict, Unjudged> {
    let (answer, cut) = bounded(answer);
    let mut verdict = match validator {
        Validator::Code { tests, timeout } => code::check(answer, tests, *timeout).await?,
        Validator::JsonSchema { schema } => json::check(schema, answer),
        Validator::Exact { answers, tolerance } => exact::check(answers, *tolerance, answer),
        Validator::Facts {
            facts,
            threshold,
            max_words,
        } => facts::check(facts, *threshold, *max_words, answer),
        Validator::Unscored => {
            return Err(Unjudged(format!(
                "{UNSCORED}: the task has no validator (give it `expected`, `facts`, `tests` or \
                 `schema` to score its answers)"
            )));
        }
    };
    if cut && let Value::Object(map) = &mut verdict.detail {
        map.insert("answer_cut_at_bytes".into(), Value::from(answer.len()));
    }
    Ok(verdict)
}

/// At most [`MAX_ANSWER_BYTES`] of `text`, cut on a character boundary; whether it was cut.
fn bounded(text: &str) -> (&str, bool) {
    if text.len() <= MAX_ANSWER_BYTES {
        return (text, false);
    }
    (cut_to(text, MAX_ANSWER_BYTES), true)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub(crate) fn cut_to(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
