//! What a client submits (`TaskSpec`) and what submitting makes of it: validation (every
//! mistake is an `Invalid` error naming the field), the routing decision taken at submit (a
//! completion the router escalates to a council becomes a run of that council), the slot group
//! the task is dispatched under, and the request as stored.

use fusion_types::ChatMessage;
use serde::{Deserialize, Serialize};

use crate::config::{Category, Config, Priority, Tier};
use crate::providers::{ModelEntry, ProviderRegistry};
use crate::router::{Decision, RouteInput};
use crate::store::{Caller, TaskKind};
use crate::{ErrorKind, Result};

/// Task priorities: higher runs first; the default is 0.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i64> = -100..=100;

/// The slot group of council tasks (bounded by `tasks.council_slots`).
pub const COUNCIL_GROUP: &str = "council";
/// The slot group every local-tier model shares (bounded by `tasks.local_slots`).
pub const LOCAL_GROUP: &str = "local";
/// The slot group of benchmark runs of free and paid models only (one at a time per process;
/// a run that asks a local model holds a `local` slot instead).
pub const BENCH_GROUP: &str = "bench";
/// The queue priority benchmark runs are given by default: behind every default-priority task.
pub const BENCH_PRIORITY: i64 = -50;
/// Longest label of a benchmark task.
const MAX_LABEL_CHARS: usize = 200;

/// A task to submit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub work: TaskWork,
    /// Higher runs first, within [`PRIORITY_RANGE`]; default 0.
    #[serde(default)]
    pub priority: i64,
    /// The front door submitting it; default: the caller in scope ([`crate::providers::current_caller`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
}

/// What the task does; stored (normalised) as the task's `request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskWork {
    Completion(CompletionSpec),
    Council(CouncilSpec),
    Bench(BenchWork),
}

/// A completion: routed over every model (with optional hints), or sent to a named model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionSpec {
    pub messages: Vec<ChatMessage>,
    /// A configured model id; absent = routed, falling back in ranked order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "RouteHints::is_empty")]
    pub route: RouteHints,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// What the router may be told instead of estimating it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteHints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output_tokens: Option<u64>,
    /// Tokens of context the task carries (default: counted from the messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u64>,
}

impl RouteHints {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A council run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouncilSpec {
    /// A configured council; absent = the one named `default`, or the only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub council: Option<String>,
    pub question: String,
}

/// A benchmark run, done by the runner registered with the engine
/// ([`crate::tasks::TaskEngine::set_bench_runner`]; `fusion_bench` provides it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchWork {
    /// The run's id in the store's benchmark runs: a task run again resumes it.
    pub run_id: String,
    /// The models it asks; their tiers decide the slot group.
    pub models: Vec<String>,
    /// What the run is, for people reading the queue.
    pub label: String,
    /// The runner's own description of the work (the engine does not read it).
    pub spec: serde_json::Value,
}

impl TaskSpec {
    /// A routed completion of `messages`, priority 0.
    pub fn completion(messages: Vec<ChatMessage>) -> Self {
        Self::of(TaskWork::Completion(CompletionSpec {
            messages,
            model: None,
            route: RouteHints::default(),
            temperature: None,
            max_tokens: None,
        }))
    }

    /// A run of `council` (or the default council) on `question`, priority 0.
    pub fn council(council: Option<&str>, question: impl Into<String>) -> Self {
        Self::of(TaskWork::Council(CouncilSpec {
            council: council.map(str::to_owned),
            question: question.into(),
        }))
    }

    fn of(work: TaskWork) -> Self {
        Self {
            work,
            priority: 0,
            caller: None,
        }
    }

    /// The same task with `priority`.
    pub fn with_priority(mut self, priority: i64) -> Self {
        self.priority = priority;
        self
    }

    /// A completion sent to `model` instead of routed (no effect on a council task).
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        if let TaskWork::Completion(spec) = &mut self.work {
            spec.model = Some(model.into());
        }
        self
    }
}

/// A validated task, ready to insert.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub kind: TaskKind,
    pub work: TaskWork,
    pub decision: Option<Decision>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub slot_group: String,
}

/// The slot group of a model's calls: `local` for every local-tier model, else
/// `provider:NAME`.
pub fn slot_group(entry: &ModelEntry) -> String {
    match entry.tier {
        Tier::Local => LOCAL_GROUP.to_owned(),
        Tier::Free | Tier::Paid => format!("provider:{}", entry.provider),
    }
}

fn invalid(message: String) -> crate::Error {
    ErrorKind::Invalid(message).into()
}

/// Checks the spec against the current config and registry; routes a completion.
pub(crate) fn prepare(
    spec: &TaskSpec,
    config: &Config,
    registry: &ProviderRegistry,
) -> Result<Prepared> {
    if !PRIORITY_RANGE.contains(&spec.priority) {
        return Err(invalid(format!(
            "priority must be between {} and {} (higher runs first); got {}",
            PRIORITY_RANGE.start(),
            PRIORITY_RANGE.end(),
            spec.priority
        )));
    }
    match &spec.work {
        TaskWork::Completion(completion) => prepare_completion(completion, registry),
        TaskWork::Bench(bench) => prepare_bench(bench, registry),
        TaskWork::Council(council) => {
            if council.question.trim().is_empty() {
                return Err(invalid("a council task needs a non-empty question".into()));
            }
            let name = config
                .pick_council(council.council.as_deref())
                .map_err(invalid)?
                .to_owned();
            Ok(Prepared {
                kind: TaskKind::Council,
                work: TaskWork::Council(CouncilSpec {
                    council: Some(name),
                    question: council.question.clone(),
                }),
                decision: None,
                model: None,
                provider: None,
                slot_group: COUNCIL_GROUP.to_owned(),
            })
        }
    }
}

fn prepare_bench(work: &BenchWork, registry: &ProviderRegistry) -> Result<Prepared> {
    if work.run_id.trim().is_empty() {
        return Err(invalid("a benchmark task needs a run id".into()));
    }
    if work.label.chars().count() > MAX_LABEL_CHARS {
        return Err(invalid(format!(
            "a benchmark task's label is longer than {MAX_LABEL_CHARS} characters"
        )));
    }
    if work.models.is_empty() {
        return Err(invalid("a benchmark task needs at least one model".into()));
    }
    let mut local = false;
    for model in &work.models {
        let entry = registry
            .model(model)
            .ok_or_else(|| unknown_model(model, registry))?;
        local |= entry.tier == Tier::Local;
    }
    Ok(Prepared {
        kind: TaskKind::Bench,
        work: TaskWork::Bench(work.clone()),
        decision: None,
        model: None,
        provider: None,
        slot_group: if local { LOCAL_GROUP } else { BENCH_GROUP }.to_owned(),
    })
}

fn unknown_model(model: &str, registry: &ProviderRegistry) -> crate::Error {
    let known: Vec<String> = registry.models().into_iter().map(|m| m.id).collect();
    invalid(format!(
        "unknown model `{model}`; configured models: {}",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    ))
}

fn prepare_completion(spec: &CompletionSpec, registry: &ProviderRegistry) -> Result<Prepared> {
    if spec.messages.is_empty() {
        return Err(invalid(
            "a completion task needs at least one message".into(),
        ));
    }
    if let Some(t) = spec.temperature
        && !(t.is_finite() && (0.0..=2.0).contains(&t))
    {
        return Err(invalid(format!(
            "temperature must be between 0 and 2; got {t}"
        )));
    }
    if spec.max_tokens == Some(0) {
        return Err(invalid("max_tokens must be at least 1".into()));
    }
    if let Some(c) = spec.route.complexity
        && !(c.is_finite() && (0.0..=1.0).contains(&c))
    {
        return Err(invalid(format!(
            "route.complexity must be between 0 and 1; got {c}"
        )));
    }
    let (entry, decision) = match &spec.model {
        Some(model) => {
            let entry = registry
                .model(model)
                .ok_or_else(|| unknown_model(model, registry))?;
            (entry, None)
        }
        None => {
            let mut input = RouteInput::from_messages(&spec.messages);
            input.priority = spec.route.priority;
            input.category = spec.route.category;
            input.complexity = spec.route.complexity;
            if spec.route.context_tokens.is_some() {
                input.context_tokens = spec.route.context_tokens;
            }
            input.expected_output_tokens = spec
                .route
                .expected_output_tokens
                .or(spec.max_tokens.map(u64::from));
            let decision = registry.route(&input);
            if let Some(escalation) = &decision.escalation {
                // Escalated by `[router.escalate]`: the task is a run of that council.
                return Ok(Prepared {
                    kind: TaskKind::Council,
                    work: TaskWork::Council(CouncilSpec {
                        council: Some(escalation.council.clone()),
                        question: crate::transcript::render(&spec.messages),
                    }),
                    decision: Some(decision),
                    model: None,
                    provider: None,
                    slot_group: COUNCIL_GROUP.to_owned(),
                });
            }
            let entry = decision
                .chosen
                .as_deref()
                .and_then(|chosen| registry.model(chosen))
                .ok_or_else(|| -> crate::Error {
                    ErrorKind::NoRoute {
                        reason: decision.summary.clone(),
                    }
                    .into()
                })?;
            (entry, Some(decision))
        }
    };
    Ok(Prepared {
        kind: TaskKind::Completion,
        work: TaskWork::Completion(spec.clone()),
        decision,
        slot_group: slot_group(&entry),
        model: Some(entry.id),
        provider: Some(entry.provider),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_from_json_with_the_kind_tag_and_reject_unknown_fields() {
        let spec: TaskSpec = serde_json::from_str(
            r#"{"work": {"kind": "council", "question": "Q?"}, "priority": 5}"#,
        )
        .unwrap();
        assert_eq!(spec, TaskSpec::council(None, "Q?").with_priority(5));
        let spec: TaskSpec = serde_json::from_str(
            r#"{"work": {"kind": "completion", "messages": [{"role": "user", "content": "hi"}],
                "model": "m", "route": {"priority": "cost"}}}"#,
        )
        .unwrap();
        let TaskWork::Completion(completion) = &spec.work else {
            panic!("not a completion: {spec:?}");
        };
        assert_eq!(completion.model.as_deref(), Some("m"));
        assert_eq!(completion.route.priority, Some(Priority::Cost));
        assert!(
            serde_json::from_str::<TaskSpec>(
                r#"{"work": {"kind": "council", "question": "Q", "panel": []}}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<TaskSpec>(r#"{"work": {"kind": "bake", "question": "Q"}}"#)
                .is_err()
        );
    }
}
