//! `fusion index PATH...`: builds or updates each path's code-search index, with a progress
//! bar on stderr when it is a terminal, and prints what each run did (or `--json`).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use fusion_codesearch::{IndexOptions, IndexReport, IndexRequest, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::code_index_home;
use crate::cli::IndexArgs;

pub fn run(args: &IndexArgs) -> anyhow::Result<ExitCode> {
    let home = code_index_home()?;
    let options = IndexOptions {
        chunk_lines: args.chunk_lines,
        overlap: args.overlap,
        max_file_bytes: args.max_file_bytes,
        exclude: (!args.exclude.is_empty()).then(|| args.exclude.clone()),
        bm25_k1: args.bm25_k1,
        bm25_b: args.bm25_b,
    };
    let mut reports = Vec::with_capacity(args.paths.len());
    for path in &args.paths {
        let request = IndexRequest {
            root: path.clone(),
            options: options.clone(),
            force: args.force,
            ..IndexRequest::default()
        };
        let bar = (!args.quiet && std::io::stderr().is_terminal()).then(progress_bar);
        let outcome = fusion_codesearch::index(&home, &request, &|progress| {
            if let Some(bar) = &bar {
                show(bar, progress);
            }
        });
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let report = outcome?;
        reports.push(report);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = match reports.as_slice() {
            [one] => serde_json::to_value(one)?,
            many => serde_json::json!({ "reports": many }),
        };
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    } else {
        for report in &reports {
            print_report(&mut out, report)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:>4}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message("listing files");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn show(bar: &ProgressBar, progress: Progress) {
    match progress {
        Progress::Walking => bar.set_message("listing files"),
        Progress::Walked { files } => {
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner:.cyan} indexing [{bar:30.cyan/blue}] {pos}/{len} files {elapsed:>4}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_length(files);
        }
        Progress::Files { done, .. } => bar.set_position(done),
        Progress::Committing => {
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:>4}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message("writing the index");
        }
    }
}

fn print_report(out: &mut impl Write, r: &IndexReport) -> std::io::Result<()> {
    writeln!(out, "indexed {}", r.root.display())?;
    let skipped: u64 = r.skipped.values().sum();
    let reasons: Vec<String> = r.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let reasons = if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join(", "))
    };
    writeln!(
        out,
        "  files:  {} seen, {} indexed, {} unchanged ({} read), {} deleted, {skipped} skipped{reasons}",
        r.files_seen, r.files_indexed, r.files_unchanged, r.files_read, r.files_deleted
    )?;
    writeln!(
        out,
        "  chunks: {} written; the index holds {} files in {} chunks of {} lines ({} overlap)",
        r.chunks_written, r.files_total, r.chunks_total, r.settings.chunk_lines, r.settings.overlap
    )?;
    writeln!(
        out,
        "  index:  {} in {} ({:.2} s)",
        human_bytes(r.index_bytes),
        r.index_dir.display(),
        r.elapsed_ms as f64 / 1000.0
    )?;
    if let Some(reason) = &r.rebuilt {
        writeln!(out, "  rebuilt: {reason}")?;
    }
    for problem in &r.problems {
        writeln!(
            out,
            "  could not read {}: {}",
            problem.path,
            problem.detail.as_deref().unwrap_or(problem.reason)
        )?;
    }
    Ok(())
}

fn human_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
