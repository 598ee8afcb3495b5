//! `fusion tasks list|show|cancel`: the durable task queue, read and cancelled in the store
//! directly (no server needed; a running task is stopped by the process that runs it, which
//! sees the cancellation at its next lease renewal).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use fusion_core::ErrorKind;
use fusion_core::store::{CancelOutcome, Store, TaskFilter, TaskState, TaskSummary, now_ms};

use super::start;
use crate::cli::{TaskStateArg, TasksCommand, TasksListArgs};

pub async fn run(config_path: Option<&Path>, command: &TasksCommand) -> anyhow::Result<ExitCode> {
    let runtime = start(config_path).await?;
    let outcome = match runtime.require_store() {
        Ok(store) => match command {
            TasksCommand::List(args) => list(store, args).await,
            TasksCommand::Show { id, json } => show(store, id, *json).await,
            TasksCommand::Cancel { id } => cancel(store, id).await,
        },
        Err(e) => Err(e.into()),
    };
    runtime.shutdown().await;
    outcome
}

fn state(arg: TaskStateArg) -> TaskState {
    match arg {
        TaskStateArg::Queued => TaskState::Queued,
        TaskStateArg::Running => TaskState::Running,
        TaskStateArg::Completed => TaskState::Completed,
        TaskStateArg::Failed => TaskState::Failed,
        TaskStateArg::Cancelled => TaskState::Cancelled,
    }
}

async fn list(store: &Store, args: &TasksListArgs) -> anyhow::Result<ExitCode> {
    let filter = TaskFilter {
        state: args.status.map(state),
        provider: args.provider.clone(),
        model: args.model.clone(),
        q: args.query.clone(),
        page: Some(args.page),
        page_size: Some(args.page_size),
        ..TaskFilter::default()
    };
    let page = store.list_tasks(&filter).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &page)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if page.tasks.is_empty() {
        writeln!(
            out,
            "no tasks{}",
            if page.total > 0 { " on this page" } else { "" }
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<22} {:<10} {:<10} {:>5} {:<28} {:>9}  age",
        "id", "kind", "state", "done", "model", "cost"
    )?;
    let now = now_ms();
    for task in &page.tasks {
        writeln!(out, "{}", row(task, now))?;
    }
    let pages = page.total.div_ceil(u64::from(page.page_size.max(1)));
    writeln!(out, "page {} of {pages} ({} tasks)", page.page, page.total)?;
    Ok(ExitCode::SUCCESS)
}

fn row(task: &TaskSummary, now: i64) -> String {
    let state = match (task.state, task.position) {
        (TaskState::Queued, Some(position)) => format!("queued #{position}"),
        (state, _) => state.to_string(),
    };
    format!(
        "{:<22} {:<10} {:<10} {:>4.0}% {:<28} {:>9}  {}",
        task.id,
        task.kind.as_str(),
        state,
        task.progress * 100.0,
        task.model.as_deref().unwrap_or("-"),
        format!("${:.4}", task.cost_usd),
        age(now - task.created_ms),
    )
}

fn age(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

async fn show(store: &Store, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(view) = store.get_task(id).await? else {
        return not_found(id);
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &view)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let task = &view.task;
    writeln!(out, "task {} ({})", task.id, task.kind.as_str())?;
    writeln!(out, "  state:    {}", row_state(task))?;
    if let Some(message) = &task.progress_message {
        writeln!(out, "  progress: {:.0}% — {message}", task.progress * 100.0)?;
    }
    if let Some(model) = &task.model {
        let provider = task.provider.as_deref().unwrap_or("?");
        writeln!(out, "  model:    {model} ({provider})")?;
    }
    writeln!(
        out,
        "  cost:     ${:.4}, {} tokens, {} attempt(s)",
        task.cost_usd, task.tokens, task.attempts
    )?;
    if let Some(error) = &task.error {
        writeln!(out, "  error:    {error}")?;
    }
    if !view.jobs.is_empty() {
        writeln!(out, "  jobs:")?;
        for job in &view.jobs {
            let error = job
                .error
                .as_deref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default();
            writeln!(
                out,
                "    {} {:<16} {:<24} {}{error}",
                job.id, job.label, job.model, job.state
            )?;
        }
    }
    if let Some(text) = view
        .result
        .as_ref()
        .and_then(|r| r.get("text").or_else(|| r.get("final_answer")))
        .and_then(|t| t.as_str())
    {
        writeln!(out, "\n{text}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn row_state(task: &TaskSummary) -> String {
    match (task.state, task.position) {
        (TaskState::Queued, Some(position)) => format!("queued (position {position})"),
        (state, _) => state.to_string(),
    }
}

async fn cancel(store: &Store, id: &str) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match store.cancel_task(id, now_ms()).await {
        Ok(CancelOutcome::Cancelled) => writeln!(out, "task {id} cancelled")?,
        Ok(CancelOutcome::Requested { owner }) => writeln!(
            out,
            "task {id} is running (in {}); it stops at that process's next lease renewal",
            owner.as_deref().unwrap_or("another process")
        )?,
        Err(err) => match err.kind() {
            ErrorKind::TaskNotFound { .. } | ErrorKind::TaskFinished { .. } => {
                drop(out);
                let mut stderr = std::io::stderr().lock();
                writeln!(stderr, "fusion: {err}")?;
                return Ok(ExitCode::from(1));
            }
            _ => return Err(err.into()),
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn not_found(id: &str) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr().lock();
    writeln!(stderr, "fusion: no task `{id}`")?;
    Ok(ExitCode::from(1))
}
