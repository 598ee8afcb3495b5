//! A run's whole trail as files (`fusion loop export RUN DIR`): `run.json`, then one JSON file
//! per record — `reports/001.json`, `checks/…`, `reviews/…`, `decisions/…` — and a `README.md`
//! that tells the run's story in order. The council project's layout (`fusion mcp --root-dir`)
//! is flat instead: `state.json`, `report-N.json`, `check-N.json`, `fusion-review-N.json`,
//! `next-N.json`. The store stays the one source of truth; the files are a copy to read, diff
//! or attach.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::record::{Check, Decision, Report, Review};
use super::runs::{LoopRuns, decode};
use fusion_core::error::ErrorKind;
use fusion_core::store::{LoopRecordKind, LoopRecordRow};

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exported {
    pub run_id: String,
    pub dir: PathBuf,
    /// Every file written, relative to `dir`.
    pub files: Vec<String>,
}

/// How the files of an export are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Fusion's: `run.json`, `reports/001.json`, ..., `README.md`.
    Trail,
    /// The council project's: `state.json`, `report-1.json`, `check-1.json`,
    /// `fusion-review-1.json`, `next-1.json`.
    Flat,
}

/// Writes the trail of `run_id` into `dir` (created if needed; files of an earlier export of
/// the same run are overwritten).
pub async fn export_run(
    runs: &LoopRuns<'_>,
    run_id: &str,
    dir: &Path,
) -> fusion_core::Result<Exported> {
    export_run_as(runs, run_id, dir, Layout::Trail).await
}

/// [`export_run`] in the given layout.
pub async fn export_run_as(
    runs: &LoopRuns<'_>,
    run_id: &str,
    dir: &Path,
    layout: Layout,
) -> fusion_core::Result<Exported> {
    let run = runs.run(run_id).await?;
    let records = runs.store().loop_records(&run.run_id, None).await?;
    let mut files = Vec::new();
    let write = |name: &str, text: String| -> fusion_core::Result<()> {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, &e))?;
        }
        std::fs::write(&path, text).map_err(|e| io_error(&path, &e))
    };
    let run_json = serde_json::json!({
        "run": run,
        "records": LoopRecordKind::ALL.iter().map(|k| {
            (k.as_str().to_owned(), Value::from(records.iter().filter(|r| r.kind == *k).count()))
        }).collect::<serde_json::Map<String, Value>>(),
    });
    let state_file = match layout {
        Layout::Trail => "run.json",
        Layout::Flat => "state.json",
    };
    write(state_file, pretty(&run_json))?;
    files.push(state_file.to_owned());
    for record in &records {
        let name = match layout {
            Layout::Trail => file_name(record),
            Layout::Flat => flat_name(record),
        };
        let mut body = record.body.clone();
        if let Value::Object(map) = &mut body {
            map.insert("seq".into(), record.seq.into());
            map.insert("created_ms".into(), record.created_ms.into());
        }
        write(&name, pretty(&body))?;
        files.push(name);
    }
    if layout == Layout::Trail {
        write("README.md", readme(&run, &records))?;
        files.push("README.md".to_owned());
    }
    Ok(Exported {
        run_id: run.run_id,
        dir: dir.to_path_buf(),
        files,
    })
}

fn file_name(record: &LoopRecordRow) -> String {
    let folder = match record.kind {
        LoopRecordKind::Report => "reports",
        LoopRecordKind::Check => "checks",
        LoopRecordKind::Review => "reviews",
        LoopRecordKind::Decision => "decisions",
    };
    format!("{folder}/{:03}.json", record.seq)
}

/// The council project's name of a record's file.
fn flat_name(record: &LoopRecordRow) -> String {
    let prefix = match record.kind {
        LoopRecordKind::Report => "report",
        LoopRecordKind::Check => "check",
        LoopRecordKind::Review => "fusion-review",
        LoopRecordKind::Decision => "next",
    };
    format!("{prefix}-{}.json", record.seq)
}

/// The run's story: objective, criteria, status, then one line per record in order.
fn readme(run: &super::runs::LoopRun, records: &[LoopRecordRow]) -> String {
    let mut out = format!(
        "# Loop run {}\n\n**Status:** {}\n\n## Objective\n\n{}\n\n## Acceptance criteria\n\n",
        run.run_id, run.status, run.objective
    );
    if run.acceptance_criteria.is_empty() {
        out.push_str("- (none given)\n");
    }
    for criterion in &run.acceptance_criteria {
        let _ = writeln!(out, "- {criterion}");
    }
    out.push_str("\n## Trail\n\n| # | when (UTC) | record | summary |\n|---|---|---|---|\n");
    for (i, record) in records.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | [{} {}]({}) | {} |",
            i + 1,
            when(record.created_ms),
            record.kind.as_str(),
            record.seq,
            file_name(record),
            cell(&summary(record))
        );
    }
    out.push_str(
        "\nEach record's file holds all of it; `run.json` holds the run itself. Exported from \
         the store by `fusion loop export`.\n",
    );
    out
}

fn summary(record: &LoopRecordRow) -> String {
    match record.kind {
        LoopRecordKind::Report => decode::<Report>(record)
            .map(|r| r.record.summary)
            .unwrap_or_default(),
        LoopRecordKind::Check => decode::<Check>(record)
            .map(|c| {
                let c = c.record;
                format!(
                    "{} (confidence {:.2}) → {}: {}",
                    c.status.as_str(),
                    c.confidence,
                    c.recommended_route.as_str(),
                    c.handoff_reason
                )
            })
            .unwrap_or_default(),
        LoopRecordKind::Review => decode::<Review>(record)
            .map(|r| format!("council `{}`: {}", r.record.council, r.record.final_answer))
            .unwrap_or_default(),
        LoopRecordKind::Decision => decode::<Decision>(record)
            .map(|d| format!("{}: {}", d.record.status.as_str(), d.record.reason()))
            .unwrap_or_default(),
    }
}

/// One table cell: one line, pipes escaped, at most 200 characters.
fn cell(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = line.replace('|', "\\|");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

fn when(ms: i64) -> String {
    let time =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn io_error(path: &Path, err: &std::io::Error) -> fusion_core::Error {
    ErrorKind::Invalid(format!("cannot write {}: {err}", path.display())).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_on_one_line_and_escape_pipes() {
        assert_eq!(cell("a |\nb"), "a \\| b");
        assert!(cell(&"x".repeat(300)).ends_with('…'));
    }
}
