//! What `fusion_do` answers: the final result, why the loop stopped, what degraded, and the
//! trace of every step (tool, arguments, result size, latency, error) — as structured content
//! and as the text a client shows.

use fusion_types::Usage;
use serde::Serialize;
use serde_json::Value;

/// Longest excerpt of a tool's result kept in the trace, in bytes.
pub const TRACE_RESULT_BYTES: usize = 4 * 1024;

/// How a run ended, overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The model answered after calling tools, and nothing was refused or unknown.
    Ok,
    /// An answer (or none) with reasons: see `degradation_reasons`.
    Degraded,
    /// No model answered at all (see `error`).
    Error,
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The model answered without calling a tool.
    Answered,
    /// `max_steps` model turns all called tools.
    MaxSteps,
    /// The catalog search found no tool for the request: no model was asked.
    NoCandidates,
    /// A model call failed.
    ModelFailed,
}

/// What became of one tool call the model asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Called through the hub; the tool answered.
    Ok,
    /// Called; the tool answered with `isError` (or its server failed).
    ToolError,
    /// Not run: the tool may change things and `allow_destructive` was not given.
    Refused,
    /// Not run: no such tool was offered (it does not exist, is hidden, or was not retrieved).
    UnknownTool,
    /// Not run: the arguments were not a JSON object.
    BadArguments,
}

/// One tool call of the trace.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The model turn (1-based) that asked for it.
    pub step: u32,
    pub tool: String,
    /// The arguments as the model gave them (parsed when they were JSON).
    pub arguments: Value,
    pub outcome: Outcome,
    /// Bytes of the tool's result text (0 when it did not run).
    pub result_bytes: usize,
    /// Wall time of the call through the hub (0 when it did not run).
    pub latency_ms: u64,
    /// Why it failed or was not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the result text (at most [`TRACE_RESULT_BYTES`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// A model call that failed, classified like every tool failure.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub class: String,
    pub retryable: bool,
    pub message: String,
}

/// The whole answer.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub status: Status,
    pub stop: Stop,
    /// The model's final text ("" when it gave none).
    pub answer: String,
    /// The model that chose the tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The router's decision, when no `model` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
    /// The tools the model was shown (retrieved by the catalog search).
    pub offered: Vec<String>,
    pub steps: Vec<Step>,
    pub model_calls: u32,
    pub max_steps: u32,
    pub usage: Usage,
    pub degradation_reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

impl Answer {
    /// The text content: the final answer, then what degraded and one line per step.
    pub fn text(&self) -> String {
        let mut text = match (&self.error, self.answer.trim().is_empty()) {
            (Some(failure), _) => format!("fusion_do failed: {}", failure.message),
            (None, false) => self.answer.clone(),
            (None, true) => "fusion_do: no final answer".to_owned(),
        };
        for reason in &self.degradation_reasons {
            text.push_str(&format!("\ndegraded: {reason}"));
        }
        for step in &self.steps {
            let outcome = match step.outcome {
                Outcome::Ok => format!("ok, {} bytes", step.result_bytes),
                Outcome::ToolError => format!("tool error, {} bytes", step.result_bytes),
                Outcome::Refused => "refused".to_owned(),
                Outcome::UnknownTool => "unknown tool".to_owned(),
                Outcome::BadArguments => "bad arguments".to_owned(),
            };
            text.push_str(&format!(
                "\nstep {}: {} {} -> {outcome} ({} ms)",
                step.step, step.tool, step.arguments, step.latency_ms
            ));
        }
        text
    }
}

/// `text` cut to at most `max` bytes on a character boundary, saying how much was cut.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} more bytes cut)",
        &text[..end],
        text.len().saturating_sub(end)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_cuts_on_a_character_boundary_and_says_how_much() {
        assert_eq!(excerpt("short", 10), "short");
        let cut = excerpt("ééé", 3);
        assert!(
            cut.starts_with('é') && cut.contains("4 more bytes"),
            "{cut}"
        );
    }
}
