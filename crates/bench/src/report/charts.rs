//! The report's SVG charts, drawn with plotters' SVG backend: per category, quality (with its
//! Wilson interval as an error bar) against cost per answer, one point per model; and quality
//! run by run, one line per model. Text is SVG `<text>` laid out by plotters' font-free
//! estimate, so drawing needs no system font.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use serde::Serialize;

use super::{CategoryReport, ChartKind, ChartRef, ModelEntry, ReportOptions, RunPoint, rfc3339};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 560;
/// The legend's column on the right of the plot.
const LEGEND_WIDTH: u32 = 250;
/// Characters of a model name shown in the legend and beside its point.
const MAX_LABEL_CHARS: usize = 34;
const FONT: &str = "sans-serif";

/// Distinct colours readable on white (Tableau 10, then two more).
const COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 128, 0),
];

/// A drawn chart: the SVG document and the file it belongs in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    pub category: String,
    pub kind: ChartKind,
    /// File name (in the report's charts directory).
    pub file: String,
    pub title: String,
    pub svg: String,
}

/// Drawing a chart failed (plotters' backend or layout).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart {file}: {message}")]
pub struct ChartError {
    pub file: String,
    pub message: String,
}

pub(super) fn draw(
    category: &CategoryReport,
    chart: &ChartRef,
    options: &ReportOptions,
) -> Result<Chart, ChartError> {
    let mut svg = String::new();
    let limit = options.max_models_per_chart.max(1);
    let fail = |e: &dyn std::fmt::Display| ChartError {
        file: chart.file.clone(),
        message: e.to_string(),
    };
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let drawn = match chart.kind {
            ChartKind::QualityCost => quality_cost(&root, category, &chart.title, limit),
            ChartKind::QualityOverTime => {
                quality_over_time(&root, category, &chart.title, limit, options)
            }
        };
        drawn.map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(Chart {
        category: category.category.clone(),
        kind: chart.kind,
        file: chart.file.clone(),
        title: chart.title.clone(),
        svg,
    })
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// The x axis of the quality–cost chart: log scale when costs span two orders of magnitude,
/// else linear from 0. Free models sit at its left end, labelled `free`. (When no model has a
/// cost, the chart places models side by side instead: see [`quality_by_model`].)
struct CostAxis {
    log: bool,
    range: Range<f64>,
    free_at: f64,
    has_free: bool,
}

impl CostAxis {
    fn of(models: &[&ModelEntry]) -> CostAxis {
        let costs: Vec<f64> = models
            .iter()
            .filter_map(|m| m.cost_per_answer_usd)
            .filter(|c| *c > 0.0 && c.is_finite())
            .collect();
        let min = costs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = costs.iter().copied().fold(0.0, f64::max);
        let has_free = models.iter().any(|m| m.free);
        if costs.is_empty() {
            return CostAxis {
                log: false,
                range: 0.0..1.0,
                free_at: 0.0,
                has_free,
            };
        }
        if max / min >= 50.0 {
            // A decade below the cheapest paid model holds the free ones.
            let low = 10f64.powf(min.log10().floor() - if has_free { 1.0 } else { 0.0 });
            let high = 10f64.powf(max.log10().ceil());
            // Margins of about a quarter decade keep the end points off the axes.
            return CostAxis {
                log: true,
                range: low * 0.55..high * 1.8,
                free_at: if has_free { low } else { f64::NAN },
                has_free,
            };
        }
        // A margin left of 0 keeps free models off the y axis.
        CostAxis {
            log: false,
            range: if has_free { -max * 0.08 } else { 0.0 }..max * 1.15,
            free_at: 0.0,
            has_free,
        }
    }

    fn x(&self, model: &ModelEntry) -> f64 {
        match model.cost_per_answer_usd {
            Some(cost) if cost > 0.0 => cost,
            _ => self.free_at,
        }
    }

    fn label(&self, value: f64) -> String {
        let at_free = if self.log {
            (value - self.free_at).abs() <= self.free_at * 0.01
        } else {
            value.abs() <= (self.range.end - self.range.start) * 1e-6
        };
        if value < 0.0 {
            String::new()
        } else if at_free && self.has_free {
            "free".to_owned()
        } else {
            tick_usd(value)
        }
    }
}

fn quality_cost(
    area: &Area<'_>,
    category: &CategoryReport,
    title: &str,
    limit: usize,
) -> DrawResult {
    let models: Vec<&ModelEntry> = category
        .models
        .iter()
        .filter(|m| m.stats.n > 0)
        .take(limit)
        .collect();
    let scored = category.models.iter().filter(|m| m.stats.n > 0).count();
    let axis = CostAxis::of(&models);
    let (plot, legend) = split_for_legend(area, title, models.len(), scored)?;
    let x_desc = if axis.log {
        "cost per answer (USD, log scale)"
    } else {
        "cost per answer (USD)"
    };
    if category
        .models
        .iter()
        .filter(|m| m.stats.n > 0)
        .all(|m| m.free)
    {
        quality_by_model(&plot, &models)?;
    } else if axis.log {
        let range = axis.range.clone().log_scale();
        cost_points(&plot, range, &axis, &models, x_desc)?;
    } else {
        cost_points(&plot, axis.range.clone(), &axis, &models, x_desc)?;
    }
    let entries: Vec<(String, RGBColor)> = models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let note = if m.free { " (free)" } else { "" };
            (format!("{}{note}", short(&m.stats.model)), color(i))
        })
        .collect();
    draw_legend(&legend, &entries)
}

/// No model has a cost: quality per model, side by side, each named under its bar.
fn quality_by_model(plot: &Area<'_>, models: &[&ModelEntry]) -> DrawResult {
    let count = i64::try_from(models.len()).unwrap_or(i64::MAX);
    let slot_px = (WIDTH - LEGEND_WIDTH) as usize / models.len().max(1);
    let names: Vec<String> = models
        .iter()
        .map(|m| short_to(&m.stats.model, slot_px / 8))
        .collect();
    let mut chart = ChartBuilder::on(plot)
        .margin(12)
        .x_label_area_size(52)
        .y_label_area_size(64)
        .build_cartesian_2d((-1..count).with_key_points((0..count).collect()), 0.0..1.05)?;
    let label = |i: &i64| {
        usize::try_from(*i)
            .ok()
            .and_then(|i| names.get(i).cloned())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_desc("model (no cost recorded: every model here is free)")
        .y_desc("quality (mean score, 95% interval)")
        .y_labels(11)
        .x_label_formatter(&label)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    for (i, model) in models.iter().enumerate() {
        let x = i64::try_from(i).unwrap_or(i64::MAX);
        let c = color(i);
        let s = &model.stats;
        chart.draw_series(std::iter::once(ErrorBar::new_vertical(
            x,
            s.ci_low,
            s.quality,
            s.ci_high,
            c.stroke_width(2),
            10,
        )))?;
        chart.draw_series(std::iter::once(Circle::new((x, s.quality), 5, c.filled())))?;
    }
    Ok(())
}

fn cost_points<X>(
    plot: &Area<'_>,
    x_spec: X,
    axis: &CostAxis,
    models: &[&ModelEntry],
    x_desc: &str,
) -> DrawResult
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(plot)
        .margin(12)
        .x_label_area_size(52)
        .y_label_area_size(64)
        .build_cartesian_2d(x_spec, 0.0..1.05)?;
    let formatter = |x: &f64| axis.label(*x);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("quality (mean score, 95% interval)")
        .x_labels(8)
        .y_labels(11)
        .x_label_formatter(&formatter)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    for (i, model) in models.iter().enumerate() {
        let x = axis.x(model);
        let c = color(i);
        let s = &model.stats;
        chart.draw_series(std::iter::once(ErrorBar::new_vertical(
            x,
            s.ci_low,
            s.quality,
            s.ci_high,
            c.stroke_width(2),
            10,
        )))?;
        let label = Text::new(short(&s.model), (9, -16), (FONT, 13).into_font().color(&c));
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, s.quality)) + Circle::new((0, 0), 5, c.filled()) + label,
        ))?;
    }
    Ok(())
}

fn quality_over_time(
    area: &Area<'_>,
    category: &CategoryReport,
    title: &str,
    limit: usize,
    options: &ReportOptions,
) -> DrawResult {
    // Models in the report's order (best first) that have enough runs.
    let min_runs = options.min_runs_over_time.max(2);
    let lines: Vec<(&str, Vec<&RunPoint>)> = category
        .models
        .iter()
        .map(|m| {
            let points: Vec<&RunPoint> = category
                .over_time
                .iter()
                .filter(|p| p.model == m.stats.model)
                .collect();
            (m.stats.model.as_str(), points)
        })
        .filter(|(_, points)| points.len() >= min_runs)
        .take(limit)
        .collect();
    let with_lines = category
        .models
        .iter()
        .filter(|m| {
            category
                .over_time
                .iter()
                .filter(|p| p.model == m.stats.model)
                .count()
                >= min_runs
        })
        .count();
    let (plot, legend) = split_for_legend(area, title, lines.len(), with_lines)?;
    let times = lines
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.run_created_ms));
    let (low, high) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let span = high.saturating_sub(low);
    let pad = if span > 0 { span / 12 } else { HOUR_MS };
    // Time is i64 milliseconds: plotters' f64 axis takes no ticks of ours.
    let range = low.saturating_sub(pad)..high.saturating_add(pad);
    let (ticks, step) = time_ticks(&range);
    let with_days = step >= DAY_MS;
    // Models measured in the same run stand a little apart, so their bars do not hide each
    // other.
    let nudge = range.end.saturating_sub(range.start) as f64 * 0.006;
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(52)
        .y_label_area_size(64)
        .build_cartesian_2d(range.with_key_points(ticks), 0.0..1.05)?;
    let x_label = |ms: &i64| date_label(*ms, with_days);
    chart
        .configure_mesh()
        .x_desc("run date (UTC)")
        .y_desc("quality (mean score, 95% interval)")
        .x_labels(6)
        .y_labels(11)
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    let mut entries = Vec::new();
    let middle = lines.len().saturating_sub(1) as f64 / 2.0;
    for (i, (model, points)) in lines.iter().enumerate() {
        let c = color(i);
        let dx = ((i as f64 - middle) * nudge).round() as i64;
        let xy: Vec<(i64, f64)> = points
            .iter()
            .map(|p| (p.run_created_ms.saturating_add(dx), p.quality))
            .collect();
        chart.draw_series(LineSeries::new(xy.iter().copied(), c.stroke_width(2)))?;
        chart.draw_series(points.iter().map(|p| {
            ErrorBar::new_vertical(
                p.run_created_ms.saturating_add(dx),
                p.ci_low,
                p.quality,
                p.ci_high,
                c.mix(0.6).stroke_width(1),
                8,
            )
        }))?;
        chart.draw_series(xy.iter().map(|&(x, y)| Circle::new((x, y), 4, c.filled())))?;
        entries.push((short(model), c));
    }
    draw_legend(&legend, &entries)
}

/// Titles `area` and splits it into the plot and the legend column; the title says when
/// only the best `shown` of `total` models are drawn.
fn split_for_legend<'a>(
    area: &Area<'a>,
    title: &str,
    shown: usize,
    total: usize,
) -> Result<(Area<'a>, Area<'a>), DrawingAreaErrorKind<std::io::Error>> {
    let title = if shown < total {
        format!("{title} (best {shown} of {total} models)")
    } else {
        title.to_owned()
    };
    let inner = area.titled(&title, (FONT, 22))?;
    let (plot, legend) = inner.split_horizontally(WIDTH - LEGEND_WIDTH);
    Ok((plot, legend))
}

fn draw_legend(area: &Area<'_>, entries: &[(String, RGBColor)]) -> DrawResult {
    area.draw(&Text::new("models", (8, 18), (FONT, 15).into_font()))?;
    for (i, (name, c)) in entries.iter().enumerate() {
        let y = 46 + i32::try_from(i).unwrap_or(0) * 24;
        area.draw(&Circle::new((16, y), 5, c.filled()))?;
        area.draw(&Text::new(
            name.clone(),
            (28, y - 8),
            (FONT, 14).into_font(),
        ))?;
    }
    Ok(())
}

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// A model name cut to fit a label, without control characters (they are not XML).
fn short(name: &str) -> String {
    short_to(name, MAX_LABEL_CHARS)
}

/// [`short`] to at most `chars` characters (4 at least).
fn short_to(name: &str, chars: usize) -> String {
    let chars = chars.clamp(4, MAX_LABEL_CHARS);
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= chars {
        return clean;
    }
    let mut cut: String = clean.chars().take(chars - 1).collect();
    cut.push('…');
    cut
}

/// Dollars with three significant digits (`$0.0120`, `$1.50`, `$0`).
pub(crate) fn format_usd(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        return "$0".to_owned();
    }
    let decimals = (2.0 - value.log10().floor()).clamp(2.0, 10.0) as usize;
    format!("${value:.decimals$}")
}

/// Dollars on an axis tick: [`format_usd`] without trailing zeros (`$0.0001`, `$0.25`).
fn tick_usd(value: f64) -> String {
    let text = format_usd(value);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Ticks on whole hours or days (UTC), at most 7 of them, and the step between them.
fn time_ticks(range: &Range<i64>) -> (Vec<i64>, i64) {
    const STEPS_H: [i64; 13] = [1, 2, 3, 6, 12, 24, 48, 168, 336, 720, 2160, 8760, 87_600];
    let span = range.end.saturating_sub(range.start);
    let step = STEPS_H
        .iter()
        .map(|h| h * HOUR_MS)
        .find(|step| span / step <= 6)
        .unwrap_or((span / 6).max(1));
    let mut ticks = Vec::new();
    let mut tick = range
        .start
        .div_euclid(step)
        .saturating_add(1)
        .saturating_mul(step);
    while tick <= range.end && ticks.len() < 16 {
        ticks.push(tick);
        tick = tick.saturating_add(step);
    }
    (ticks, step)
}

/// A run date tick: `2024-05-01`, or `05-01 14:30` when ticks are hours apart.
fn date_label(ms: i64, with_days: bool) -> String {
    let text = rfc3339(ms);
    if with_days {
        text.chars().take(10).collect()
    } else {
        text.chars()
            .skip(5)
            .take(11)
            .collect::<String>()
            .replace('T', " ")
    }
}
