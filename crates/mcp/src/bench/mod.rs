//! The routing server's benchmark tools: `benchmark_task` (one task across local and paid
//! models), `benchmark_tasks` (many tasks), `benchmark_model` (the built-in suites against one
//! model) and `benchmark_free_models` (tasks, or the built-in suites, against every healthy
//! free model). Each queues one benchmark run in the task engine at low priority and answers
//! at once with the task id and run id, as `route_task` does; `get_task_status` follows it,
//! its result is the run's summary, and what it measures feeds the router's measured quality.
//! A run that asks a local model holds the local slot, and `route_task` answers carry
//! `benchmark_contention` meanwhile. Paid models are asked only when named.

mod input;

use fusion_bench::run::{BenchSpec, default_models};
use fusion_bench::suite::{self, TaskKind};
use fusion_core::config::Tier;
use fusion_core::providers::ProviderRegistry;
use fusion_core::tasks::TaskEngine;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use serde_json::json;

pub use input::{BenchmarkModelInput, BenchmarkTaskInput, BenchmarkTasksInput, TaskArg};

use crate::{FusionMcp, failure};

pub const BENCHMARK_TASK: &str = "benchmark_task";
pub const BENCHMARK_TASKS: &str = "benchmark_tasks";
pub const BENCHMARK_MODEL: &str = "benchmark_model";
pub const BENCHMARK_FREE_MODELS: &str = "benchmark_free_models";

/// What a call needs that this Fusion cannot do, or what is wrong with it.
enum Refusal {
    Invalid(String),
    Unavailable(&'static str, String),
}

impl Refusal {
    fn answer(self, tool: &str) -> CallToolResult {
        match self {
            Self::Invalid(problem) => failure::invalid_arguments(tool, problem),
            Self::Unavailable(class, message) => failure::failed(class, false, message),
        }
    }
}

#[tool_router(router = bench_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "Benchmark one task",
        description = "Benchmark one task across local and paid models: the local model (or \
         every healthy local model) and the paid model named, `runs_per_task` times each \
         (default 3). Queued at low priority in the task queue; answers at once with task_id \
         and run_id — poll get_task_status for the run's summary (quality per model when the \
         task says how to score it: `expected`, `facts`, `tests` or `schema`; latency, tokens \
         per second and cost always). Measured quality feeds the router.",
        input_schema = crate::own_tools::input_schema::<BenchmarkTaskInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn benchmark_task(
        &self,
        Parameters(input): Parameters<BenchmarkTaskInput>,
    ) -> CallToolResult {
        let tool = BENCHMARK_TASK;
        let outcome = async {
            let engine = self.bench_engine()?;
            let registry = self.fusion().registry();
            let runs = input::runs_per_task(input.runs_per_task, input::DEFAULT_RUNS_PER_TASK)
                .map_err(Refusal::Invalid)?;
            let task = TaskArg::from(input);
            let mut models = match &task.local_model {
                Some(model) => vec![model.clone()],
                None => of_tier(&registry, default_models(&registry).await, Tier::Local),
            };
            models.extend(task.paid_model.clone());
            if models.is_empty() {
                return Err(Refusal::Unavailable(
                    "no_model",
                    "no local model is healthy and no paid_model is named: name local_model \
                     or paid_model (see fusion models)"
                        .to_owned(),
                ));
            }
            let tasks = [task];
            let suite = input::suite("mcp:benchmark_task", &tasks).map_err(Refusal::Invalid)?;
            let spec = input::spec(models, vec![suite], runs, 1, &tasks);
            let label = format!("benchmark_task `{}`", tasks[0].task_id);
            Ok((engine, registry, spec, label))
        }
        .await;
        self.queue(tool, outcome).await
    }

    #[tool(
        title = "Benchmark many tasks",
        description = "Benchmark several tasks on every healthy local and free model (and each \
         task's local_model / paid_model when named), `runs_per_task` times (default 3), one \
         call at a time unless `parallel` (then `max_parallel_tasks`, default 2). Queued at \
         low priority; answers at once with task_id and run_id. Tasks are scored when they \
         say how (`expected`, `facts`, `tests`, `schema`).",
        input_schema = crate::own_tools::input_schema::<BenchmarkTasksInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn benchmark_tasks(
        &self,
        Parameters(input): Parameters<BenchmarkTasksInput>,
    ) -> CallToolResult {
        let tool = BENCHMARK_TASKS;
        let outcome = async {
            let engine = self.bench_engine()?;
            let registry = self.fusion().registry();
            if input.tasks.is_empty() {
                return Err(Refusal::Invalid(
                    "`tasks` is empty: give at least one task".to_owned(),
                ));
            }
            let (runs, parallel) = counts(&input)?;
            let mut models = default_models(&registry).await;
            for task in &input.tasks {
                for named in [&task.local_model, &task.paid_model].into_iter().flatten() {
                    if !models.contains(named) {
                        models.push(named.clone());
                    }
                }
            }
            if models.is_empty() {
                return Err(no_healthy_model("local or free"));
            }
            let suite =
                input::suite("mcp:benchmark_tasks", &input.tasks).map_err(Refusal::Invalid)?;
            let spec = input::spec(models, vec![suite], runs, parallel, &input.tasks);
            let label = format!("benchmark_tasks ({} tasks)", input.tasks.len());
            Ok((engine, registry, spec, label))
        }
        .await;
        self.queue(tool, outcome).await
    }

    #[tool(
        title = "Benchmark a model",
        description = "Run Fusion's built-in benchmark suites (code, extraction, reasoning, \
         summarization — each answer checked without a model) against one model; \
         `task_categories` picks suites. Queued at low priority; answers at once with task_id \
         and run_id. Results are stored and become the model's measured quality, which the \
         router uses once a category has enough answers.",
        input_schema = crate::own_tools::input_schema::<BenchmarkModelInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn benchmark_model(
        &self,
        Parameters(input): Parameters<BenchmarkModelInput>,
    ) -> CallToolResult {
        let tool = BENCHMARK_MODEL;
        let outcome = async {
            let engine = self.bench_engine()?;
            let registry = self.fusion().registry();
            let model = resolve(&registry, &input.model_id, input.provider_id.as_deref())?;
            let runs = input::runs_per_task(input.runs_per_task, 1).map_err(Refusal::Invalid)?;
            let suites = builtin_suites(input.task_categories.as_deref())?;
            let mut spec = BenchSpec::new(vec![model.clone()], suites);
            spec.runs_per_task = runs;
            let label = format!("benchmark_model `{model}` ({})", spec.suite_names());
            Ok((engine, registry, spec, label))
        }
        .await;
        self.queue(tool, outcome).await
    }

    #[tool(
        title = "Benchmark the free models",
        description = "Benchmark every healthy free model (e.g. OpenRouter's free tier) on the \
         tasks given, or on the built-in suites when `tasks` is empty; `runs_per_task` \
         (default 3), `parallel` / `max_parallel_tasks` as benchmark_tasks. Queued at low \
         priority; answers at once with task_id and run_id.",
        input_schema = crate::own_tools::input_schema::<BenchmarkTasksInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn benchmark_free_models(
        &self,
        Parameters(input): Parameters<BenchmarkTasksInput>,
    ) -> CallToolResult {
        let tool = BENCHMARK_FREE_MODELS;
        let outcome = async {
            let engine = self.bench_engine()?;
            let registry = self.fusion().registry();
            let (runs, parallel) = counts(&input)?;
            let models = of_tier(&registry, default_models(&registry).await, Tier::Free);
            if models.is_empty() {
                return Err(no_healthy_model("free"));
            }
            let suites = if input.tasks.is_empty() {
                builtin_suites(None)?
            } else {
                vec![
                    input::suite("mcp:benchmark_free_models", &input.tasks)
                        .map_err(Refusal::Invalid)?,
                ]
            };
            let spec = input::spec(models, suites, runs, parallel, &input.tasks);
            let label = format!("benchmark_free_models ({} models)", spec.models.len());
            Ok((engine, registry, spec, label))
        }
        .await;
        self.queue(tool, outcome).await
    }
}

type Prepared = (
    TaskEngine,
    std::sync::Arc<ProviderRegistry>,
    BenchSpec,
    String,
);

impl FusionMcp {
    /// The engine, when it runs benchmarks.
    fn bench_engine(&self) -> Result<TaskEngine, Refusal> {
        match self.fusion().tasks() {
            Some(engine) if engine.runs_benchmarks() => Ok(engine.clone()),
            _ => Err(Refusal::Unavailable(
                "no_task_engine",
                "this Fusion runs without a task engine that runs benchmarks: start it with a \
                 store (fusion mcp, fusion serve)"
                    .to_owned(),
            )),
        }
    }

    /// Checks the spec and queues it; the answer as `route_task`'s, with the run's ids.
    async fn queue(&self, tool: &str, prepared: Result<Prepared, Refusal>) -> CallToolResult {
        let (engine, registry, spec, label) = match prepared {
            Ok(prepared) => prepared,
            Err(refusal) => return refusal.answer(tool),
        };
        if let Err(err) = spec.check(&registry) {
            return failure::invalid_arguments(tool, err);
        }
        let calls = spec.call_count();
        let models = spec.models.clone();
        let (submission, run_id) = fusion_bench::task::submission(&spec, label);
        let submitted = match engine.submit(submission).await {
            Ok(submitted) => submitted,
            Err(err) => return failure::from_core(&err),
        };
        let mut structured = engine.router_answer(&submitted).await;
        structured["run_id"] = json!(run_id);
        structured["models"] = json!(models);
        structured["calls"] = json!(calls);
        structured["report"] = json!(format!("fusion bench report --run {run_id}"));
        let text = format!(
            "queued benchmark run {run_id} as task {} ({calls} calls: {}); poll \
             get_task_status with this task_id for its summary",
            submitted.id,
            models.join(", ")
        );
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(structured);
        result
    }
}

fn counts(input: &BenchmarkTasksInput) -> Result<(u32, usize), Refusal> {
    let runs = input::runs_per_task(input.runs_per_task, input::DEFAULT_RUNS_PER_TASK)
        .map_err(Refusal::Invalid)?;
    let parallel =
        input::parallel(input.parallel, input.max_parallel_tasks).map_err(Refusal::Invalid)?;
    Ok((runs, parallel))
}

fn no_healthy_model(which: &str) -> Refusal {
    Refusal::Unavailable(
        "no_model",
        format!("no {which} model is healthy to benchmark (see fusion models)"),
    )
}

/// The models of `tier` among `models`.
fn of_tier(registry: &ProviderRegistry, models: Vec<String>, tier: Tier) -> Vec<String> {
    models
        .into_iter()
        .filter(|m| registry.model(m).is_some_and(|e| e.tier == tier))
        .collect()
}

/// A Fusion model id from `model_id`, or from the provider's own name with `provider_id`.
fn resolve(
    registry: &ProviderRegistry,
    model_id: &str,
    provider_id: Option<&str>,
) -> Result<String, Refusal> {
    let models = registry.models();
    let found = models.iter().find(|m| {
        provider_id.is_none_or(|p| m.provider == p)
            && (m.id == model_id || (provider_id.is_some() && m.upstream_model == model_id))
    });
    match found {
        Some(entry) => Ok(entry.id.clone()),
        None => {
            let known: Vec<&str> = models
                .iter()
                .filter(|m| provider_id.is_none_or(|p| m.provider == p))
                .map(|m| m.id.as_str())
                .collect();
            let place = provider_id.map_or(String::new(), |p| format!(" of provider `{p}`"));
            Err(Refusal::Invalid(format!(
                "unknown model `{model_id}`{place}; known: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )))
        }
    }
}

/// The built-in suites of `categories` (all when `None`).
fn builtin_suites(categories: Option<&[String]>) -> Result<Vec<suite::Suite>, Refusal> {
    let builtin = |kind| suite::builtin(kind).map_err(|e| Refusal::Invalid(e.to_string()));
    let Some(categories) = categories.filter(|c| !c.is_empty()) else {
        return builtin(None);
    };
    let available: Vec<TaskKind> = suite::builtin(None)
        .map_err(|e| Refusal::Invalid(e.to_string()))?
        .iter()
        .filter_map(|s| s.tasks.first().map(|t| t.kind))
        .collect();
    let mut suites = Vec::new();
    for name in categories {
        let kind = TaskKind::parse(name.trim().to_ascii_lowercase().as_str())
            .filter(|k| available.contains(k))
            .ok_or_else(|| {
                let names: Vec<&str> = available.iter().map(|k| k.as_str()).collect();
                Refusal::Invalid(format!(
                    "`task_categories`: no built-in suite `{name}`; there are {}",
                    names.join(", ")
                ))
            })?;
        if !suites
            .iter()
            .any(|s: &suite::Suite| s.tasks.first().map(|t| t.kind) == Some(kind))
        {
            suites.extend(builtin(Some(kind))?);
        }
    }
    Ok(suites)
}
