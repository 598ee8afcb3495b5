//! Benchmarks as tasks of the engine's queue: [`runner`] is the `BenchRunner` the front doors
//! register with their `TaskEngine` (the engine cannot depend on this crate), [`submission`]
//! makes the task a benchmark is queued as (low priority, a fresh run id), and
//! [`adhoc_suite`] turns the tasks a client sends (the `benchmark_*` MCP tools) into a suite.
//!
//! The run is the same [`run_bench`] as `fusion bench`'s: results in the store as they come,
//! progress on the task, and resumable — a task requeued after a shutdown resumes its run; a
//! cancelled one leaves its run `interrupted`, resumable with `fusion bench --resume`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fusion_core::config::Category;
use fusion_core::store::{Store, now_ms};
use fusion_core::tasks::{
    BENCH_PRIORITY, BenchContext, BenchOutcome, BenchRunner, BenchWork, TaskSpec, TaskWork,
};
use fusion_core::{ErrorKind, Result};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::run::{BenchError, BenchSpec, Progress, RunStatus, RunSummary, new_run_id, run_bench};
use crate::suite::{self, MAX_TASKS_PER_SUITE, Suite, SuiteError, TaskKind};

/// The runner of benchmark tasks.
pub fn runner() -> Arc<dyn BenchRunner> {
    Arc::new(Runner)
}

struct Runner;

impl BenchRunner for Runner {
    fn run(&self, cx: BenchContext) -> BoxFuture<'static, Result<BenchOutcome>> {
        Box::pin(run(cx))
    }
}

/// The task that queues `spec` as a new benchmark run, at benchmark priority, and the run's id.
pub fn submission(spec: &BenchSpec, label: impl Into<String>) -> (TaskSpec, String) {
    let run_id = new_run_id();
    let task = TaskSpec {
        work: TaskWork::Bench(BenchWork {
            run_id: run_id.clone(),
            models: spec.models.clone(),
            label: label.into(),
            spec: spec.to_json(),
        }),
        priority: BENCH_PRIORITY,
        caller: None,
    };
    (task, run_id)
}

/// The kind of a task a client sent: its category when it names one, else what the router
/// estimates for its text.
pub fn kind_of(category: Option<Category>, prompt: &str) -> TaskKind {
    let category = category.unwrap_or_else(|| {
        let input =
            fusion_core::router::RouteInput::from_messages(&[fusion_types::ChatMessage::text(
                fusion_types::Role::User,
                prompt,
            )]);
        fusion_core::router::estimate(&input).category
    });
    match category {
        Category::Code => TaskKind::Code,
        Category::Reasoning => TaskKind::Reasoning,
        Category::Summarization => TaskKind::Summarization,
        Category::Writing => TaskKind::Writing,
        Category::Chat => TaskKind::Chat,
    }
}

/// A suite named `name` of `tasks`, each in the suite-file form of one task (the JSONL line:
/// `id`, `category`, `prompt`, `system`, `validator` — `{"kind": "none"}` for unscored);
/// errors name the task as `tasks[i]`.
pub fn adhoc_suite(name: &str, tasks: &[Value]) -> std::result::Result<Suite, SuiteError> {
    if tasks.is_empty() {
        return Err(SuiteError::new("tasks", "is empty: give at least one task"));
    }
    if tasks.len() > MAX_TASKS_PER_SUITE {
        return Err(SuiteError::new(
            "tasks",
            format!(
                "{} tasks: at most {MAX_TASKS_PER_SUITE} in one call",
                tasks.len()
            ),
        ));
    }
    let mut all = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        let origin = format!("tasks[{i}]");
        let line =
            serde_json::to_string(task).map_err(|e| SuiteError::new(&origin, e.to_string()))?;
        let parsed = suite::parse_jsonl(&line, &origin, name)?;
        for task in parsed.tasks {
            if all.iter().any(|t: &suite::Task| t.id == task.id) {
                return Err(SuiteError::new(
                    &origin,
                    format!("task id `{}` appears twice: ids must be unique", task.id),
                ));
            }
            all.push(task);
        }
    }
    Ok(Suite {
        name: name.to_owned(),
        description: None,
        tasks: all,
    })
}

/// Sets the run `interrupted` when dropped armed: the task was cancelled, shut down or lost,
/// and the run future with it.
struct MarkInterrupted {
    store: Store,
    run_id: String,
    armed: bool,
}

impl Drop for MarkInterrupted {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (store, run_id) = (self.store.clone(), std::mem::take(&mut self.run_id));
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let status = RunStatus::Interrupted.as_str();
                if let Err(err) = store.set_bench_run_status(&run_id, status, None).await {
                    tracing::warn!(run = %run_id, error = %err, "cannot mark the benchmark run interrupted");
                }
            });
        }
    }
}

async fn run(cx: BenchContext) -> Result<BenchOutcome> {
    let mut spec = BenchSpec::from_json(&cx.work.spec).map_err(core_error)?;
    if cx.holds_local_slot {
        // One local slot: one model asked at a time.
        spec.parallel = 1;
    }
    let run_id = cx.work.run_id.clone();
    let mut interrupted = MarkInterrupted {
        store: cx.store.clone(),
        run_id: run_id.clone(),
        armed: true,
    };
    let cost_micros = AtomicU64::new(0);
    let tokens = AtomicU64::new(0);
    let progress = cx.progress.clone();
    let report = |p: Progress| match p {
        Progress::Started {
            total, recorded, ..
        } => {
            let message = if recorded > 0 {
                format!("resumed: {recorded} of {total} answers already recorded")
            } else {
                format!("started: {total} answers to ask")
            };
            progress.report(fraction(recorded, total), message);
        }
        Progress::Finished {
            result,
            done,
            total,
        } => {
            cost_micros.fetch_add(
                (result.cost_usd * 1e6).round().max(0.0) as u64,
                Ordering::Relaxed,
            );
            tokens.fetch_add(result.output_tokens, Ordering::Relaxed);
            let message = format!(
                "{done}/{total} answers (last: {} on `{}`)",
                result.model, result.task_id
            );
            progress.report(fraction(done, total), message);
        }
    };
    // The engine stops the run by dropping this future; the token is for the runner's API.
    let never = CancellationToken::new();
    let summary = run_bench(&cx.registry, &cx.store, &spec, &run_id, &never, report).await;
    interrupted.armed = false;
    let summary = summary.map_err(core_error)?;
    // What this process routes on now (other processes reread it at their health checks).
    if let Err(err) = cx.registry.reload_measured(&cx.store).await {
        tracing::warn!(run = %run_id, error = %err, "cannot reread measured quality");
    }
    let failure = (summary.status == RunStatus::Failed).then(|| {
        format!(
            "every one of the run's {} calls failed (see the result's stats)",
            summary.failed
        )
    });
    let mut result = json!(summary);
    result["text"] = json!(summary_text(&cx.work.label, &summary));
    result["label"] = json!(cx.work.label);
    result["report"] = json!(format!("fusion bench report --run {run_id}"));
    result["finished_ms"] = json!(now_ms());
    Ok(BenchOutcome {
        result,
        failure,
        cost_usd: cost_micros.load(Ordering::Relaxed) as f64 / 1e6,
        tokens: tokens.load(Ordering::Relaxed),
    })
}

/// The run in a few lines: one per model and category.
fn summary_text(label: &str, summary: &RunSummary) -> String {
    let mut text = format!(
        "{label}: run {} {} ({} calls, {} failed)",
        summary.run_id,
        summary.status.as_str(),
        summary.total,
        summary.failed
    );
    for s in &summary.stats {
        text.push_str(&format!("\n- {} {}: ", s.model, s.category));
        if s.n > 0 {
            text.push_str(&format!(
                "quality {:.2} (n={}, 95% CI {:.2}–{:.2})",
                s.quality, s.n, s.ci_low, s.ci_high
            ));
        } else {
            text.push_str("no scored answer");
        }
        if s.unscored > 0 {
            text.push_str(&format!(", {} unscored", s.unscored));
        }
        if let Some(p50) = s.p50_latency_ms {
            text.push_str(&format!(", p50 {p50:.0} ms"));
        }
        if let Some(rate) = s.tokens_per_s {
            text.push_str(&format!(", {rate:.1} tok/s"));
        }
        text.push_str(&format!(", ${:.4}", s.cost_usd));
        if s.errors > 0 {
            text.push_str(&format!(", {} errors", s.errors));
        }
    }
    text.push_str(&format!(
        "\nreport: fusion bench report --run {}",
        summary.run_id
    ));
    text
}

fn fraction(done: usize, total: usize) -> f64 {
    if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    }
}

fn core_error(err: BenchError) -> fusion_core::Error {
    match err {
        BenchError::Store(err) => err,
        other => ErrorKind::Invalid(other.to_string()).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adhoc_tasks_become_a_suite_and_mistakes_name_the_task() {
        let tasks = [
            json!({"id": "a", "category": "reasoning", "prompt": "2+2?",
                   "validator": {"kind": "exact", "answer": "4"}}),
            json!({"id": "b", "category": "chat", "prompt": "Hi", "validator": {"kind": "none"}}),
        ];
        let suite = adhoc_suite("mcp", &tasks).unwrap();
        assert_eq!(suite.tasks.len(), 2);
        assert_eq!(suite.tasks[1].validator.kind(), "none");

        let twice = [tasks[0].clone(), tasks[0].clone()];
        let err = adhoc_suite("mcp", &twice).unwrap_err().to_string();
        assert!(err.contains("tasks[1]") && err.contains("twice"), "{err}");

        let bad = [json!({"id": "c", "category": "code", "prompt": "x",
                          "validator": {"kind": "code", "tests": []}})];
        let err = adhoc_suite("mcp", &bad).unwrap_err().to_string();
        assert!(err.contains("tasks[0]") && err.contains("tests"), "{err}");
        assert!(adhoc_suite("mcp", &[]).is_err());
    }

    #[test]
    fn a_task_without_a_category_gets_the_routers_estimate() {
        assert_eq!(
            kind_of(Some(Category::Chat), "def f(): pass"),
            TaskKind::Chat
        );
        assert_eq!(
            kind_of(
                None,
                "Write a Python function that parses a CSV file and fix the bug in it:\n```python\ndef parse(path):\n    return open(path).read().split(',')\n```"
            ),
            TaskKind::Code
        );
    }
}
