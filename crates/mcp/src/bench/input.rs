//! The benchmark tools' arguments, in the routing server's names (`task_id`, `task`,
//! `context_length`, `expected_output_length`, `complexity`, `local_model`, `paid_model`,
//! `runs_per_task`, `parallel`, `max_parallel_tasks`), and what they become: one suite-file
//! task per client task, scored by the one validator it names (`expected`, `facts`, `tests` or
//! `schema`) or unscored (timed and priced) when it names none, as that server's calls were.

use fusion_bench::run::{BenchSpec, MAX_PARALLEL, MAX_RUNS_PER_TASK};
use fusion_bench::suite::Suite;
use fusion_bench::task::{adhoc_suite, kind_of};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::route::CategoryArg;

/// Runs per task when a call does not say (the routing server's `BENCHMARK_RUNS_PER_TASK`).
pub const DEFAULT_RUNS_PER_TASK: u32 = 3;
/// Calls in flight when `parallel` is on and `max_parallel_tasks` is not given (the routing
/// server's `BENCHMARK_MAX_PARALLEL_TASKS`).
pub const DEFAULT_MAX_PARALLEL_TASKS: usize = 2;

/// One or several accepted answers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Expected {
    One(String),
    Many(Vec<String>),
}

/// One task of `benchmark_tasks` or `benchmark_free_models`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskArg {
    /// An id for the task, unique in the call (letters, digits and `._:/-`).
    pub task_id: String,
    /// The task, as the model receives it.
    pub task: String,
    /// Tokens of context the task carries (informational: the text is what is sent).
    // Accepted as the routing server's callers send it; what is sent is the text itself.
    #[allow(dead_code)]
    #[serde(default)]
    pub context_length: Option<u64>,
    /// Tokens the answer is expected to need: the answer's token limit (default 4096).
    #[serde(default)]
    pub expected_output_length: Option<u32>,
    /// How hard the task is, 0 to 1 (informational: the router estimates its own).
    #[serde(default)]
    pub complexity: Option<f64>,
    /// The kind of task, for measured quality per category (default: estimated from the text).
    #[serde(default)]
    pub category: Option<CategoryArg>,
    /// A system prompt to go with the task.
    #[serde(default)]
    pub system: Option<String>,
    /// Scores answers: the accepted final answer(s), compared normalised (numbers
    /// numerically).
    #[serde(default)]
    pub expected: Option<Expected>,
    /// Scores answers: keywords an answer must contain (the fraction present; passes at 75%).
    #[serde(default)]
    pub facts: Option<Vec<String>>,
    /// Scores answers: Python statements (usually asserts) run against the answer's code in a
    /// sandbox without network; the fraction that pass.
    #[serde(default)]
    pub tests: Option<Vec<String>>,
    /// Scores answers: a JSON Schema the answer's JSON must satisfy.
    #[serde(default)]
    pub schema: Option<Value>,
    /// Also ask this model (a Fusion model id).
    #[serde(default)]
    pub local_model: Option<String>,
    /// Also ask this paid model (a Fusion model id; paid models are asked only when named).
    #[serde(default)]
    pub paid_model: Option<String>,
}

/// `benchmark_task`: one task across local and paid models.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkTaskInput {
    /// An id for the task (letters, digits and `._:/-`).
    pub task_id: String,
    /// The task, as the model receives it.
    pub task: String,
    /// Tokens of context the task carries (informational: the text is what is sent).
    pub context_length: u64,
    /// Tokens the answer is expected to need: the answer's token limit (default 4096).
    #[serde(default)]
    pub expected_output_length: Option<u32>,
    /// How hard the task is, 0 to 1 (informational: the router estimates its own).
    #[serde(default)]
    pub complexity: Option<f64>,
    /// The local model to ask (default: every healthy local model).
    #[serde(default)]
    pub local_model: Option<String>,
    /// The paid model to compare with (paid models are asked only when named).
    #[serde(default)]
    pub paid_model: Option<String>,
    /// How many times each model answers (default 3).
    #[serde(default)]
    pub runs_per_task: Option<u32>,
    /// The kind of task, for measured quality per category (default: estimated from the text).
    #[serde(default)]
    pub category: Option<CategoryArg>,
    /// A system prompt to go with the task.
    #[serde(default)]
    pub system: Option<String>,
    /// Scores answers: the accepted final answer(s).
    #[serde(default)]
    pub expected: Option<Expected>,
    /// Scores answers: keywords an answer must contain.
    #[serde(default)]
    pub facts: Option<Vec<String>>,
    /// Scores answers: Python statements run against the answer's code in a sandbox.
    #[serde(default)]
    pub tests: Option<Vec<String>>,
    /// Scores answers: a JSON Schema the answer's JSON must satisfy.
    #[serde(default)]
    pub schema: Option<Value>,
}

impl From<BenchmarkTaskInput> for TaskArg {
    fn from(input: BenchmarkTaskInput) -> Self {
        Self {
            task_id: input.task_id,
            task: input.task,
            context_length: Some(input.context_length),
            expected_output_length: input.expected_output_length,
            complexity: input.complexity,
            category: input.category,
            system: input.system,
            expected: input.expected,
            facts: input.facts,
            tests: input.tests,
            schema: input.schema,
            local_model: input.local_model,
            paid_model: input.paid_model,
        }
    }
}

/// `benchmark_tasks` and `benchmark_free_models`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkTasksInput {
    /// The tasks (at most 500). `benchmark_free_models` runs the built-in suites when empty.
    #[serde(default)]
    pub tasks: Vec<TaskArg>,
    /// How many times each model answers each task (default 3).
    #[serde(default)]
    pub runs_per_task: Option<u32>,
    /// Ask several at once (default false: one call at a time).
    #[serde(default)]
    pub parallel: bool,
    /// Calls in flight when `parallel` (default 2).
    #[serde(default)]
    pub max_parallel_tasks: Option<usize>,
}

/// `benchmark_model`: the built-in suites against one model.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkModelInput {
    /// A Fusion model id, or with `provider_id` the provider's own name for it.
    pub model_id: String,
    /// The provider serving it (a configured provider's name).
    #[serde(default)]
    pub provider_id: Option<String>,
    /// Which built-in suites: `code`, `extraction`, `reasoning`, `summarization` (default all).
    #[serde(default)]
    pub task_categories: Option<Vec<String>>,
    /// How many times the model answers each task (default 1).
    #[serde(default)]
    pub runs_per_task: Option<u32>,
}

/// The runs per task asked for, checked.
pub fn runs_per_task(asked: Option<u32>, default: u32) -> Result<u32, String> {
    match asked.unwrap_or(default) {
        0 => Err("`runs_per_task` must be at least 1".to_owned()),
        n if n > MAX_RUNS_PER_TASK => Err(format!(
            "`runs_per_task` is {n}; at most {MAX_RUNS_PER_TASK}"
        )),
        n => Ok(n),
    }
}

/// Calls in flight: one unless `parallel`, then `max_parallel_tasks` (checked).
pub fn parallel(parallel: bool, max: Option<usize>) -> Result<usize, String> {
    if !parallel {
        return Ok(1);
    }
    match max.unwrap_or(DEFAULT_MAX_PARALLEL_TASKS) {
        0 => Err("`max_parallel_tasks` must be at least 1".to_owned()),
        n if n > MAX_PARALLEL => Err(format!(
            "`max_parallel_tasks` is {n}; at most {MAX_PARALLEL}"
        )),
        n => Ok(n),
    }
}

/// The suite of the client's tasks, named `name`; errors name the task and field.
pub fn suite(name: &str, tasks: &[TaskArg]) -> Result<Suite, String> {
    let mut lines = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        if let Some(c) = task.complexity
            && !(c.is_finite() && (0.0..=1.0).contains(&c))
        {
            return Err(format!(
                "tasks[{i}]: `complexity` must be between 0 and 1; got {c}"
            ));
        }
        let validator = validator(task).map_err(|e| format!("tasks[{i}]: {e}"))?;
        let kind = kind_of(task.category.map(crate::route::category), &task.task);
        let mut line = json!({
            "id": task.task_id,
            "category": kind.as_str(),
            "prompt": task.task,
            "validator": validator,
        });
        if let Some(system) = task.system.as_deref().filter(|s| !s.trim().is_empty()) {
            line["system"] = json!(system);
        }
        lines.push(line);
    }
    adhoc_suite(name, &lines).map_err(|e| e.to_string())
}

/// The suite-file validator the task names: at most one of `expected`, `facts`, `tests`,
/// `schema`; none is unscored.
fn validator(task: &TaskArg) -> Result<Value, String> {
    let named: Vec<&str> = [
        ("expected", task.expected.is_some()),
        ("facts", task.facts.is_some()),
        ("tests", task.tests.is_some()),
        ("schema", task.schema.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect();
    if named.len() > 1 {
        return Err(format!(
            "give one way to score it, not {}",
            named.join(" and ")
        ));
    }
    Ok(
        match (&task.expected, &task.facts, &task.tests, &task.schema) {
            (Some(Expected::One(answer)), ..) => json!({"kind": "exact", "answer": answer}),
            (Some(Expected::Many(answers)), ..) => json!({"kind": "exact", "answers": answers}),
            (_, Some(facts), ..) => json!({"kind": "facts", "facts": facts}),
            (_, _, Some(tests), _) => json!({"kind": "code", "tests": tests}),
            (_, _, _, Some(schema)) => json!({"kind": "json_schema", "schema": schema}),
            _ => json!({"kind": "none"}),
        },
    )
}

/// A spec of `models` × `suites`, with the tasks' answer limit: the largest
/// `expected_output_length` given, else the default.
pub fn spec(
    models: Vec<String>,
    suites: Vec<Suite>,
    runs: u32,
    parallel: usize,
    tasks: &[TaskArg],
) -> BenchSpec {
    let mut spec = BenchSpec::new(models, suites);
    spec.runs_per_task = runs;
    spec.parallel = parallel;
    if let Some(limit) = tasks.iter().filter_map(|t| t.expected_output_length).max() {
        spec.max_tokens = Some(limit.max(1));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(extra: Value) -> TaskArg {
        let mut value = json!({"task_id": "t1", "task": "What is 6 times 7?"});
        if let (Some(base), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_task_is_scored_by_the_one_validator_it_names_or_left_unscored() {
        let suite = suite("mcp", &[task(json!({"expected": "42"}))]).unwrap();
        assert_eq!(suite.tasks[0].validator.kind(), "exact");
        let suite = suite_of(json!({"facts": ["Paris"]}));
        assert_eq!(suite.tasks[0].validator.kind(), "facts");
        let suite = suite_of(json!({}));
        assert_eq!(suite.tasks[0].validator.kind(), "none");
        let err =
            super::suite("mcp", &[task(json!({"expected": "42", "facts": ["x"]}))]).unwrap_err();
        assert!(
            err.contains("tasks[0]") && err.contains("expected and facts"),
            "{err}"
        );
    }

    fn suite_of(extra: Value) -> Suite {
        suite("mcp", &[task(extra)]).unwrap()
    }

    #[test]
    fn out_of_range_counts_are_refused_with_the_field_named() {
        assert_eq!(runs_per_task(None, 3), Ok(3));
        assert!(
            runs_per_task(Some(0), 3)
                .unwrap_err()
                .contains("runs_per_task")
        );
        assert!(
            runs_per_task(Some(1_000), 3)
                .unwrap_err()
                .contains("at most")
        );
        assert_eq!(parallel(false, Some(8)), Ok(1));
        assert_eq!(parallel(true, None), Ok(DEFAULT_MAX_PARALLEL_TASKS));
        assert!(
            parallel(true, Some(0))
                .unwrap_err()
                .contains("max_parallel_tasks")
        );
        let err = super::suite("mcp", &[task(json!({"complexity": 3.0}))]).unwrap_err();
        assert!(err.contains("complexity"), "{err}");
    }
}
