//! What a benchmark run does (`BenchSpec`: models × tasks × runs per task, with its limits),
//! the bounds it is held to, and its JSON form, which the run's row keeps so that a resumed
//! run does exactly the work it started with.

use std::collections::HashMap;
use std::time::Duration;

use fusion_core::providers::ProviderRegistry;
use serde::{Deserialize, Serialize};

use super::BenchError;
use crate::suite::{Suite, Task};

/// Calls in flight at once when the spec does not say.
pub const DEFAULT_PARALLEL: usize = 2;
/// How long one model call may take when the spec does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Output tokens one answer may use when the spec does not say.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Bounds of a spec.
pub const MAX_MODELS: usize = 64;
pub const MAX_TASKS: usize = 2_000;
pub const MAX_RUNS_PER_TASK: u32 = 100;
pub const MAX_PARALLEL: usize = 64;
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
pub const MAX_CALLS: usize = 100_000;

/// One benchmark run: every task of `suites` asked of every model `runs_per_task` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchSpec {
    /// Fusion model ids.
    pub models: Vec<String>,
    /// The suites, whole (a resumed run needs no suite file).
    pub suites: Vec<Suite>,
    #[serde(default = "one")]
    pub runs_per_task: u32,
    /// Calls in flight at once (the provider registry's own slots still apply).
    #[serde(default = "default_parallel")]
    pub parallel: usize,
    /// Longest one call may take; a call that takes longer is recorded as failed.
    #[serde(default = "default_timeout", rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Output tokens one answer may use (`None`: the model's own limit).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: Option<u32>,
}

fn one() -> u32 {
    1
}

fn default_parallel() -> usize {
    DEFAULT_PARALLEL
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn default_max_tokens() -> Option<u32> {
    Some(DEFAULT_MAX_TOKENS)
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
    }
}

/// One call of a run: a task asked of a model, the `attempt`-th time (1-based).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub suite: &'a Suite,
    pub task: &'a Task,
    pub model: &'a str,
    pub attempt: u32,
}

impl BenchSpec {
    /// `models` × every task of `suites`, once each, with the default limits.
    pub fn new(models: Vec<String>, suites: Vec<Suite>) -> Self {
        Self {
            models,
            suites,
            runs_per_task: 1,
            parallel: DEFAULT_PARALLEL,
            timeout: DEFAULT_TIMEOUT,
            max_tokens: Some(DEFAULT_MAX_TOKENS),
        }
    }

    /// The suites' names, comma-separated (the run row's `suites`).
    pub fn suite_names(&self) -> String {
        self.suites
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn task_count(&self) -> usize {
        self.suites.iter().map(|s| s.tasks.len()).sum()
    }

    /// Every call of the run, attempt by attempt and task by task, the models interleaved.
    pub fn calls(&self) -> impl Iterator<Item = Call<'_>> {
        (1..=self.runs_per_task).flat_map(move |attempt| {
            self.suites.iter().flat_map(move |suite| {
                suite.tasks.iter().flat_map(move |task| {
                    self.models.iter().map(move |model| Call {
                        suite,
                        task,
                        model,
                        attempt,
                    })
                })
            })
        })
    }

    /// The number of calls: models × tasks × runs per task.
    pub fn call_count(&self) -> usize {
        self.models
            .len()
            .saturating_mul(self.task_count())
            .saturating_mul(self.runs_per_task as usize)
    }

    /// The spec is within its bounds, its task ids are unique across suites, and the registry
    /// knows every model (an unknown one is an error listing the known ones).
    pub fn check(&self, registry: &ProviderRegistry) -> Result<(), BenchError> {
        self.check_shape()?;
        if let Some(unknown) = self
            .models
            .iter()
            .find(|m| registry.model(m.as_str()).is_none())
        {
            let known: Vec<String> = registry.models().into_iter().map(|m| m.id).collect();
            return Err(BenchError::UnknownModel {
                model: unknown.clone(),
                known: if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                },
            });
        }
        Ok(())
    }

    /// [`BenchSpec::check`] without the registry: bounds and unique ids.
    pub fn check_shape(&self) -> Result<(), BenchError> {
        let invalid = |m: String| Err(BenchError::Invalid(m));
        if self.models.is_empty() {
            return invalid("no models to benchmark".into());
        }
        if self.models.len() > MAX_MODELS {
            return invalid(format!(
                "{} models: at most {MAX_MODELS}",
                self.models.len()
            ));
        }
        let mut seen = HashMap::new();
        for model in &self.models {
            if seen.insert(model.as_str(), ()).is_some() {
                return invalid(format!("model `{model}` is named twice"));
            }
        }
        if self.suites.is_empty() || self.task_count() == 0 {
            return invalid("no tasks to run".into());
        }
        if self.task_count() > MAX_TASKS {
            return invalid(format!(
                "{} tasks: at most {MAX_TASKS} in one run",
                self.task_count()
            ));
        }
        let mut owners: HashMap<&str, &str> = HashMap::new();
        for suite in &self.suites {
            for task in &suite.tasks {
                if let Some(other) = owners.insert(task.id.as_str(), suite.name.as_str()) {
                    return invalid(format!(
                        "task id `{}` is in both {other} and {}: ids must be unique in a run",
                        task.id, suite.name
                    ));
                }
            }
        }
        if !(1..=MAX_RUNS_PER_TASK).contains(&self.runs_per_task) {
            return invalid(format!("runs per task: 1 to {MAX_RUNS_PER_TASK}"));
        }
        if !(1..=MAX_PARALLEL).contains(&self.parallel) {
            return invalid(format!("parallel calls: 1 to {MAX_PARALLEL}"));
        }
        if self.timeout < Duration::from_secs(1) || self.timeout > MAX_TIMEOUT {
            return invalid("the call timeout: from 1s to 1h".into());
        }
        if self.max_tokens == Some(0) {
            return invalid("max tokens: at least 1".into());
        }
        if self.call_count() > MAX_CALLS {
            return invalid(format!(
                "{} calls (models × tasks × runs per task): at most {MAX_CALLS}",
                self.call_count()
            ));
        }
        Ok(())
    }

    /// The same work as `other` (models, tasks, runs, answer limit); the pace (parallel calls,
    /// timeout) may differ.
    pub fn same_work(&self, other: &BenchSpec) -> bool {
        self.models == other.models
            && self.suites == other.suites
            && self.runs_per_task == other.runs_per_task
            && self.max_tokens == other.max_tokens
    }

    /// The JSON the run row keeps.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// A spec a run row kept.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, BenchError> {
        let spec: Self = serde_json::from_value(value.clone())
            .map_err(|e| BenchError::Invalid(format!("the stored run spec is not valid: {e}")))?;
        spec.check_shape()?;
        Ok(spec)
    }
}
