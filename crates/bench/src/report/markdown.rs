//! The report as text: Markdown (a table per category, the best models, the charts' links and
//! the runs included) and the plain summary table `fusion bench report` prints.

use std::fmt::Write;

use super::charts::format_usd;
use super::{Best, CategoryReport, ModelEntry, Report};

pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    let results: u64 = report.runs.iter().map(|r| r.results).sum();
    let _ = writeln!(out, "# Fusion benchmark report\n");
    let _ = writeln!(
        out,
        "Generated {} from {} run{} ({results} results). Quality is the mean score (0 to 1) of \
         the answers scored, with its Wilson 95% interval; failed calls are counted apart and \
         cost what they cost. Cost per answer is the total cost over the answers scored.\n",
        report.generated,
        report.runs.len(),
        if report.runs.len() == 1 { "" } else { "s" },
    );
    if report.categories.is_empty() {
        let _ = writeln!(out, "No results.\n");
    }
    for category in &report.categories {
        render_category(&mut out, category, report.charts_dir());
    }
    let _ = writeln!(out, "## Runs included\n");
    let _ = writeln!(out, "| Run | Created (UTC) | Suites | Status | Results |");
    let _ = writeln!(out, "|---|---|---|---|---:|");
    for run in &report.runs {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            cell(&run.id),
            run.created,
            cell(&run.suites.join(", ")),
            cell(&run.status),
            run.results
        );
    }
    out
}

fn render_category(out: &mut String, category: &CategoryReport, charts_dir: &str) {
    let _ = writeln!(out, "## {}\n", cell(&category.category));
    let _ = writeln!(
        out,
        "| Model | n | Quality (95% interval) | p50 latency | Tokens/s | Cost | Cost/answer | Errors |"
    );
    let _ = writeln!(out, "|---|---:|---|---:|---:|---:|---:|---:|");
    for model in &category.models {
        let s = &model.stats;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&s.model),
            s.n,
            quality(model),
            latency(s.p50_latency_ms),
            speed(s.tokens_per_s),
            format_usd(s.cost_usd),
            per_answer(model),
            s.errors
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- Best by quality: {}",
        best_line(category.best_quality.as_ref())
    );
    let _ = writeln!(
        out,
        "- Best by quality per dollar: {}",
        best_line(category.best_quality_per_dollar.as_ref())
    );
    let _ = writeln!(out);
    for chart in &category.charts {
        let _ = writeln!(
            out,
            "![{}]({}/{})\n",
            cell(&chart.title),
            charts_dir.trim_end_matches('/'),
            chart.file
        );
    }
}

/// The summary table printed on a terminal: one line per category and model.
pub(super) fn summary(report: &Report) -> String {
    let mut rows = vec![[
        "category".to_owned(),
        "model".to_owned(),
        "n".to_owned(),
        "quality (95% interval)".to_owned(),
        "p50".to_owned(),
        "tok/s".to_owned(),
        "cost".to_owned(),
        "errors".to_owned(),
    ]];
    for category in &report.categories {
        for model in &category.models {
            let s = &model.stats;
            rows.push([
                category.category.clone(),
                s.model.clone(),
                s.n.to_string(),
                quality(model),
                latency(s.p50_latency_ms),
                speed(s.tokens_per_s),
                format_usd(s.cost_usd),
                s.errors.to_string(),
            ]);
        }
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(text, width)| format!("{text:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn quality(model: &ModelEntry) -> String {
    let s = &model.stats;
    if s.n == 0 {
        return "— (no answer scored)".to_owned();
    }
    format!("{:.2} ({:.2}–{:.2})", s.quality, s.ci_low, s.ci_high)
}

fn latency(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms >= 10_000.0 => format!("{:.0} s", ms / 1000.0),
        Some(ms) if ms >= 1000.0 => format!("{:.1} s", ms / 1000.0),
        Some(ms) => format!("{ms:.0} ms"),
        None => "—".to_owned(),
    }
}

fn speed(tokens_per_s: Option<f64>) -> String {
    tokens_per_s.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
}

fn per_answer(model: &ModelEntry) -> String {
    match model.cost_per_answer_usd {
        _ if model.free => "free".to_owned(),
        Some(cost) => format_usd(cost),
        None => "—".to_owned(),
    }
}

fn best_line(best: Option<&Best>) -> String {
    let Some(best) = best else {
        return "none (no model scored above 0)".to_owned();
    };
    let price = match (best.free, best.cost_per_answer_usd, best.quality_per_dollar) {
        (true, _, _) => "free".to_owned(),
        (false, Some(cost), Some(per_dollar)) => format!(
            "{} per answer, {per_dollar:.1} quality per dollar",
            format_usd(cost)
        ),
        _ => "no cost per answer".to_owned(),
    };
    format!(
        "**{}** — quality {:.2} (n={}), {price}",
        cell(&best.model),
        best.quality,
        best.n
    )
}

/// Text made safe for a Markdown table cell: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
