//! Benchmark reports: the numbers of `stats` per category (every model with its quality and
//! interval, p50 latency, tokens per second and cost), the best model by quality and by
//! quality per dollar, quality run by run, and the runs they come from — rendered as Markdown
//! (`markdown`), JSON and SVG charts (`charts`, drawn with plotters). `fusion bench report`
//! writes them; anything else that shows results (a dashboard) builds the same [`Report`].

mod charts;
mod markdown;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use fusion_core::config::Category;
use fusion_core::store::{BenchResultRow, BenchRunRow};
use serde::Serialize;

use crate::stats::{self, ModelCategoryStats};

pub use charts::{Chart, ChartError};

/// How a report is built.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// When the report is made (ms since the epoch), printed in its header.
    pub generated_ms: i64,
    /// The directory, relative to the Markdown file, that its chart links point into.
    pub charts_dir: String,
    /// Runs a model needs in a category to have a line in that category's quality-over-time
    /// chart; a category with no such model gets no chart.
    pub min_runs_over_time: usize,
    /// Models drawn in one chart at most (the best by quality); tables list every model.
    pub max_models_per_chart: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            generated_ms: 0,
            charts_dir: "charts".to_owned(),
            min_runs_over_time: 2,
            max_models_per_chart: 12,
        }
    }
}

/// A report over some benchmark runs: what `to_markdown` and `to_json` print and `charts`
/// draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// RFC 3339, UTC.
    pub generated: String,
    pub generated_ms: i64,
    /// The runs whose results are in the report, oldest first.
    pub runs: Vec<RunEntry>,
    /// Categories in the router's order (code, reasoning, writing, summarization, chat), then
    /// any other by name.
    pub categories: Vec<CategoryReport>,
    #[serde(skip)]
    options: ReportOptions,
}

/// One run included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEntry {
    pub id: String,
    pub suites: Vec<String>,
    /// The run's status in the store (`unknown` for results whose run row was not given).
    pub status: String,
    pub created_ms: i64,
    /// RFC 3339, UTC.
    pub created: String,
    /// Result rows of this run in the report (failed calls included).
    pub results: u64,
}

/// One category: every model's numbers, the best models, quality run by run and the charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryReport {
    pub category: String,
    /// Best quality first (then more answers, then the name).
    pub models: Vec<ModelEntry>,
    /// The highest quality (among models with a scored answer).
    pub best_quality: Option<Best>,
    /// The most quality per dollar: a free model (no cost recorded) beats any paid one, the
    /// better of two free ones wins; a model whose quality is 0 is no one's best.
    pub best_quality_per_dollar: Option<Best>,
    /// Each model's quality in each run, by run date.
    pub over_time: Vec<RunPoint>,
    /// The charts drawn for this category.
    pub charts: Vec<ChartRef>,
}

/// One model in one category: `stats`' numbers and what a dollar buys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEntry {
    #[serde(flatten)]
    pub stats: ModelCategoryStats,
    /// Total cost over the scored answers (failed calls cost too, and score nothing); `None`
    /// without a scored answer.
    pub cost_per_answer_usd: Option<f64>,
    /// `quality / cost_per_answer_usd`; `None` when the model costs nothing or has no answer.
    pub quality_per_dollar: Option<f64>,
    /// No cost was recorded (a local or free model).
    pub free: bool,
}

/// The best model of a category by one measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Best {
    pub model: String,
    pub quality: f64,
    pub n: u64,
    pub cost_per_answer_usd: Option<f64>,
    pub quality_per_dollar: Option<f64>,
    pub free: bool,
}

/// A model's quality in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPoint {
    pub model: String,
    pub run_id: String,
    pub run_created_ms: i64,
    pub n: u64,
    pub quality: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// A chart of the report: its file name (in the charts directory) and title.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartRef {
    pub kind: ChartKind,
    pub file: String,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Quality (with its interval) against cost per answer, one point per model.
    QualityCost,
    /// Quality per run, one line per model, by run date.
    QualityOverTime,
}

/// Builds the report of `rows` (results of any runs) described by `runs` (the run rows, for
/// their dates, suites and status; a result whose run is not among them is dated by its own
/// rows).
pub fn report(rows: &[BenchResultRow], runs: &[BenchRunRow], options: ReportOptions) -> Report {
    let run_entries = run_entries(rows, runs);
    let run_dates: BTreeMap<&str, i64> = run_entries
        .iter()
        .map(|r| (r.id.as_str(), r.created_ms))
        .collect();
    let mut by_category: BTreeMap<String, Vec<ModelCategoryStats>> = BTreeMap::new();
    for stat in stats::summarize(rows) {
        by_category
            .entry(stat.category.clone())
            .or_default()
            .push(stat);
    }
    let mut categories: Vec<CategoryReport> = by_category
        .into_iter()
        .map(|(category, stats)| category_report(&category, stats, rows, &run_dates, &options))
        .collect();
    categories.sort_by_key(|c| category_rank(&c.category));
    unique_chart_files(&mut categories);
    Report {
        generated: rfc3339(options.generated_ms),
        generated_ms: options.generated_ms,
        runs: run_entries,
        categories,
        options,
    }
}

impl Report {
    /// The report as Markdown: per category a table, the best models and the charts' links;
    /// then the runs included.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    /// The report's numbers as pretty JSON.
    pub fn to_json(&self) -> String {
        // A report holds strings, numbers (finite: every ratio is guarded) and options only.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Draws every chart the categories list, as SVG documents.
    pub fn charts(&self) -> Result<Vec<Chart>, ChartError> {
        let mut out = Vec::new();
        for category in &self.categories {
            for chart in &category.charts {
                out.push(charts::draw(category, chart, &self.options)?);
            }
        }
        Ok(out)
    }

    /// The summary table for a terminal: one aligned line per category and model.
    pub fn summary_table(&self) -> String {
        markdown::summary(self)
    }

    /// The directory, relative to the Markdown, that chart links point into.
    pub fn charts_dir(&self) -> &str {
        &self.options.charts_dir
    }

    /// Whether there is anything to report (a scored or failed result).
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
    }
}

fn run_entries(rows: &[BenchResultRow], runs: &[BenchRunRow]) -> Vec<RunEntry> {
    let mut counts: BTreeMap<&str, (u64, i64, BTreeSet<&str>)> = BTreeMap::new();
    for row in rows {
        let entry =
            counts
                .entry(row.run_id.as_str())
                .or_insert((0, row.created_ms, BTreeSet::new()));
        entry.0 += 1;
        entry.1 = entry.1.min(row.created_ms);
        entry.2.insert(row.suite.as_str());
    }
    let mut entries: Vec<RunEntry> = runs
        .iter()
        .filter(|run| counts.contains_key(run.id.as_str()))
        .map(|run| RunEntry {
            id: run.id.clone(),
            suites: split_suites(&run.suites),
            status: run.status.clone(),
            created_ms: run.created_ms,
            created: rfc3339(run.created_ms),
            results: counts.get(run.id.as_str()).map_or(0, |c| c.0),
        })
        .collect();
    for (id, (results, first_ms, suites)) in &counts {
        if !runs.iter().any(|run| run.id == *id) {
            entries.push(RunEntry {
                id: (*id).to_owned(),
                suites: suites.iter().map(|s| (*s).to_owned()).collect(),
                status: "unknown".to_owned(),
                created_ms: *first_ms,
                created: rfc3339(*first_ms),
                results: *results,
            });
        }
    }
    entries.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
    entries.dedup_by(|a, b| a.id == b.id);
    entries
}

fn split_suites(suites: &str) -> Vec<String> {
    suites
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn category_report(
    category: &str,
    stats: Vec<ModelCategoryStats>,
    rows: &[BenchResultRow],
    run_dates: &BTreeMap<&str, i64>,
    options: &ReportOptions,
) -> CategoryReport {
    let mut models: Vec<ModelEntry> = stats.into_iter().map(model_entry).collect();
    models.sort_by(|a, b| {
        b.stats
            .quality
            .total_cmp(&a.stats.quality)
            .then(b.stats.n.cmp(&a.stats.n))
            .then(a.stats.model.cmp(&b.stats.model))
    });
    let best_quality = models.iter().find(|m| m.stats.n > 0).map(best);
    let best_quality_per_dollar = models
        .iter()
        .filter(|m| m.stats.n > 0 && m.stats.quality > 0.0)
        .max_by(|a, b| value_order(a, b))
        .map(best);
    let over_time = over_time(category, rows, run_dates);
    let mut charts = Vec::new();
    if models.iter().any(|m| m.stats.n > 0) {
        let all_free = models.iter().filter(|m| m.stats.n > 0).all(|m| m.free);
        charts.push(ChartRef {
            kind: ChartKind::QualityCost,
            file: format!("quality-cost-{}.svg", file_stem(category)),
            title: if all_free {
                format!("{category}: quality per model (no cost recorded)")
            } else {
                format!("{category}: quality against cost per answer")
            },
        });
    }
    let runs_per_model = over_time.iter().fold(BTreeMap::new(), |mut acc, p| {
        *acc.entry(p.model.as_str()).or_insert(0usize) += 1;
        acc
    });
    if runs_per_model
        .values()
        .any(|&runs| runs >= options.min_runs_over_time.max(2))
    {
        charts.push(ChartRef {
            kind: ChartKind::QualityOverTime,
            file: format!("quality-over-time-{}.svg", file_stem(category)),
            title: format!("{category}: quality run by run"),
        });
    }
    CategoryReport {
        category: category.to_owned(),
        models,
        best_quality,
        best_quality_per_dollar,
        over_time,
        charts,
    }
}

fn model_entry(stats: ModelCategoryStats) -> ModelEntry {
    let free = stats.cost_usd <= 0.0;
    let cost_per_answer_usd = (stats.n > 0).then(|| stats.cost_usd.max(0.0) / stats.n as f64);
    let quality_per_dollar = cost_per_answer_usd
        .filter(|cost| *cost > 0.0)
        .map(|cost| stats.quality / cost)
        .filter(|v| v.is_finite());
    ModelEntry {
        stats,
        cost_per_answer_usd,
        quality_per_dollar,
        free,
    }
}

/// Orders by quality per dollar: free above paid, then the ratio (or, among free models, the
/// quality); ties go to the better quality, then the earlier name.
fn value_order(a: &ModelEntry, b: &ModelEntry) -> std::cmp::Ordering {
    let key = |m: &ModelEntry| match (m.free, m.quality_per_dollar) {
        (true, _) => (1, m.stats.quality),
        (false, Some(ratio)) => (0, ratio),
        (false, None) => (-1, 0.0),
    };
    let (a_tier, a_value) = key(a);
    let (b_tier, b_value) = key(b);
    a_tier
        .cmp(&b_tier)
        .then(a_value.total_cmp(&b_value))
        .then(a.stats.quality.total_cmp(&b.stats.quality))
        .then(b.stats.model.cmp(&a.stats.model))
}

fn best(model: &ModelEntry) -> Best {
    Best {
        model: model.stats.model.clone(),
        quality: model.stats.quality,
        n: model.stats.n,
        cost_per_answer_usd: model.cost_per_answer_usd,
        quality_per_dollar: model.quality_per_dollar,
        free: model.free,
    }
}

/// Each model's stats per run in `category`, by run date (points without a scored answer are
/// left out: they have no quality).
fn over_time(
    category: &str,
    rows: &[BenchResultRow],
    run_dates: &BTreeMap<&str, i64>,
) -> Vec<RunPoint> {
    let mut by_run: BTreeMap<&str, Vec<BenchResultRow>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.category == category) {
        by_run
            .entry(row.run_id.as_str())
            .or_default()
            .push(row.clone());
    }
    let mut points: Vec<RunPoint> = by_run
        .into_iter()
        .flat_map(|(run_id, rows)| {
            let created = run_dates.get(run_id).copied().unwrap_or(0);
            stats::summarize(&rows)
                .into_iter()
                .filter(|s| s.n > 0)
                .map(move |s| RunPoint {
                    model: s.model,
                    run_id: run_id.to_owned(),
                    run_created_ms: created,
                    n: s.n,
                    quality: s.quality,
                    ci_low: s.ci_low,
                    ci_high: s.ci_high,
                })
        })
        .collect();
    points.sort_by(|a, b| {
        a.model
            .cmp(&b.model)
            .then(a.run_created_ms.cmp(&b.run_created_ms))
            .then(a.run_id.cmp(&b.run_id))
    });
    points
}

/// Two categories whose names differ only in characters a file name drops get distinct files.
fn unique_chart_files(categories: &mut [CategoryReport]) {
    let mut taken = BTreeSet::new();
    for chart in categories.iter_mut().flat_map(|c| c.charts.iter_mut()) {
        let stem = chart.file.trim_end_matches(".svg").to_owned();
        let mut file = chart.file.clone();
        let mut k = 2;
        while !taken.insert(file.clone()) {
            file = format!("{stem}-{k}.svg");
            k += 1;
        }
        chart.file = file;
    }
}

/// The router's categories first, in their order; any other after them by name.
fn category_rank(category: &str) -> (usize, String) {
    let rank = Category::ALL
        .iter()
        .position(|c| c.as_str() == category)
        .unwrap_or(Category::ALL.len());
    (rank, category.to_owned())
}

/// A category name as a file-name part: letters, digits and `-` only.
fn file_stem(category: &str) -> String {
    let stem: String = category
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if stem.is_empty() {
        "uncategorized".to_owned()
    } else {
        stem
    }
}

/// `ms` since the epoch as RFC 3339 (UTC, seconds); times before the epoch read as the epoch.
pub(crate) fn rfc3339(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    let time = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(time).to_string()
}
