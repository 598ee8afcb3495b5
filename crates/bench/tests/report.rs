//! `fusion_bench::report` on hand-made results: the numbers per category, the best models,
//! the Markdown and JSON, and SVG charts that parse and name every model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fusion_bench::report::{ChartKind, Report, ReportOptions, report};
use fusion_bench::stats;
use fusion_core::store::{BenchResultRow, BenchRunRow};

const DAY_MS: i64 = 86_400_000;
/// 2024-05-01T00:00:00Z.
const MAY_1: i64 = 1_714_521_600_000;

struct Rows(Vec<BenchResultRow>);

impl Rows {
    /// `scores` answers of `model` in `category` in `run`, each `latency_ms` long, 40 tokens
    /// and `cost` dollars.
    fn add(&mut self, run: &str, model: &str, category: &str, scores: &[f64], cost: f64) {
        for (i, score) in scores.iter().enumerate() {
            self.0.push(BenchResultRow {
                run_id: run.into(),
                task_id: format!("{category}-{}", self.0.len()),
                model: model.into(),
                attempt: u32::try_from(i).unwrap() + 1,
                suite: "builtin".into(),
                category: category.into(),
                score: *score,
                latency_ms: 200,
                output_tokens: 40,
                cost_usd: cost,
                error: None,
                detail: None,
                created_ms: MAY_1,
            });
        }
    }
}

fn run(id: &str, created_ms: i64) -> BenchRunRow {
    BenchRunRow {
        id: id.into(),
        suites: "builtin, extra".into(),
        spec: serde_json::json!({}),
        status: "completed".into(),
        created_ms,
        finished_ms: Some(created_ms + 1000),
    }
}

/// The text of every `<text>` element of `svg`, which must be well-formed XML with an `<svg>`
/// root.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

fn options() -> ReportOptions {
    ReportOptions {
        generated_ms: MAY_1 + 10 * DAY_MS,
        ..ReportOptions::default()
    }
}

/// Three models on code (a strong paid one, a cheap weaker one, a free local one that fails
/// half) and two on reasoning, over two runs a week apart.
fn sample() -> (Vec<BenchResultRow>, Vec<BenchRunRow>) {
    let mut rows = Rows(Vec::new());
    for run_id in ["run-1", "run-2"] {
        rows.add(run_id, "strong", "code", &[1.0, 1.0, 1.0, 0.0], 0.01);
        rows.add(run_id, "cheap", "code", &[1.0, 0.0, 1.0, 0.0], 0.0001);
        rows.add(run_id, "local", "code", &[1.0, 0.0, 0.0, 0.0], 0.0);
    }
    rows.add("run-2", "strong", "reasoning", &[1.0, 0.5], 0.02);
    rows.add("run-2", "cheap", "reasoning", &[0.0, 0.5], 0.0002);
    let runs = vec![run("run-1", MAY_1), run("run-2", MAY_1 + 7 * DAY_MS)];
    (rows.0, runs)
}

fn sample_report() -> Report {
    let (rows, runs) = sample();
    report(&rows, &runs, options())
}

#[test]
fn each_category_lists_its_models_with_the_stats_numbers_best_quality_first() {
    let (rows, runs) = sample();
    let report = report(&rows, &runs, options());
    let names: Vec<&str> = report
        .categories
        .iter()
        .map(|c| c.category.as_str())
        .collect();
    assert_eq!(names, ["code", "reasoning"], "the router's order");
    let code = &report.categories[0];
    let models: Vec<&str> = code.models.iter().map(|m| m.stats.model.as_str()).collect();
    assert_eq!(models, ["strong", "cheap", "local"]);
    let expected = stats::summarize(&rows);
    for model in &code.models {
        let same = expected
            .iter()
            .find(|s| s.model == model.stats.model && s.category == "code")
            .unwrap();
        assert_eq!(&model.stats, same, "the report shows stats' numbers");
    }
    let strong = &code.models[0];
    assert_eq!(strong.stats.n, 8);
    assert!((strong.stats.quality - 0.75).abs() < 1e-9);
    assert!((strong.cost_per_answer_usd.unwrap() - 0.01).abs() < 1e-12);
    assert!((strong.quality_per_dollar.unwrap() - 75.0).abs() < 1e-6);
    let local = &code.models[2];
    assert!(local.free);
    assert_eq!(local.quality_per_dollar, None, "no ratio for a free model");
}

#[test]
fn the_best_model_is_named_by_quality_and_by_quality_per_dollar() {
    let report = sample_report();
    let code = &report.categories[0];
    assert_eq!(code.best_quality.as_ref().unwrap().model, "strong");
    let value = code.best_quality_per_dollar.as_ref().unwrap();
    assert_eq!(
        value.model, "local",
        "a free model that scores beats any paid one"
    );
    assert!(value.free);
    let reasoning = &report.categories[1];
    assert_eq!(reasoning.best_quality.as_ref().unwrap().model, "strong");
    // strong: 0.75 / $0.02 = 37.5 per dollar; cheap: 0.25 / $0.0002 = 1250 per dollar.
    assert_eq!(
        reasoning.best_quality_per_dollar.as_ref().unwrap().model,
        "cheap"
    );
}

#[test]
fn a_free_model_that_scores_nothing_is_not_the_best_per_dollar() {
    let mut rows = Rows(Vec::new());
    rows.add("r", "zero", "chat", &[0.0, 0.0], 0.0);
    rows.add("r", "paid", "chat", &[1.0, 0.0], 0.5);
    let report = report(&rows.0, &[run("r", MAY_1)], options());
    let chat = &report.categories[0];
    assert_eq!(chat.best_quality_per_dollar.as_ref().unwrap().model, "paid");
}

#[test]
fn charts_are_well_formed_svg_with_titles_axes_and_every_model_named_in_text() {
    let report = sample_report();
    let charts = report.charts().unwrap();
    let files: Vec<&str> = charts.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "quality-cost-code.svg",
            "quality-over-time-code.svg",
            "quality-cost-reasoning.svg"
        ],
        "reasoning has one run: no chart over time"
    );
    for chart in &charts {
        let texts = svg_texts(&chart.svg);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        assert!(
            texts.contains(&chart.title.as_str()),
            "{}: {texts:?}",
            chart.file
        );
        assert!(texts.iter().any(|t| t.starts_with("quality (mean score")));
        let category = report
            .categories
            .iter()
            .find(|c| c.category == chart.category)
            .unwrap();
        for model in &category.models {
            let name = model.stats.model.as_str();
            assert!(
                texts.iter().any(|t| t.starts_with(name)),
                "{} lacks {name}: {texts:?}",
                chart.file
            );
        }
    }
    let cost = &charts[0];
    assert_eq!(cost.kind, ChartKind::QualityCost);
    assert!(
        cost.svg.contains("cost per answer (USD, log scale)"),
        "$0.0001 to $0.01 is a wide range"
    );
    assert!(
        svg_texts(&cost.svg).contains(&"free".to_owned()),
        "the free model's place is labelled"
    );
}

#[test]
fn a_model_with_zero_cost_or_a_single_answer_puts_no_nan_or_infinity_anywhere() {
    let mut rows = Rows(Vec::new());
    rows.add("only", "free-one", "writing", &[1.0], 0.0);
    rows.add("only", "paid-one", "writing", &[0.0], 0.003);
    let mut failed = rows.0[0].clone();
    failed.model = "broken".into();
    failed.error = Some("timeout".into());
    rows.0.push(failed);
    let report = report(&rows.0, &[run("only", MAY_1)], options());
    let mut outputs = vec![
        report.to_markdown(),
        report.to_json(),
        report.summary_table(),
    ];
    outputs.extend(report.charts().unwrap().into_iter().map(|c| c.svg));
    for text in &outputs {
        for bad in ["NaN", "inf", "Infinity"] {
            assert!(!text.contains(bad), "{bad} in:\n{text}");
        }
    }
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let writing = &json["categories"][0];
    let broken = writing["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "broken")
        .unwrap();
    assert_eq!(broken["n"], 0);
    assert_eq!(broken["errors"], 1);
    assert!(broken["cost_per_answer_usd"].is_null());
}

#[test]
fn markdown_has_a_table_per_category_the_best_models_chart_links_and_the_runs() {
    let markdown = sample_report().to_markdown();
    assert!(markdown.starts_with("# Fusion benchmark report"));
    assert!(markdown.contains("## code\n"));
    assert!(markdown.contains("## reasoning\n"));
    assert!(markdown.contains(
        "| Model | n | Quality (95% interval) | p50 latency | Tokens/s | Cost | Cost/answer | Errors |"
    ));
    let strong = markdown
        .lines()
        .find(|l| l.starts_with("| strong | 8 |"))
        .unwrap_or_else(|| panic!("no row for strong:\n{markdown}"));
    assert!(strong.contains("0.75 ("), "{strong}");
    assert!(strong.contains("200 ms"), "{strong}");
    assert!(strong.contains("200.0"), "40 tokens in 0.2 s: {strong}");
    assert!(strong.contains("$0.0800"), "total cost: {strong}");
    assert!(markdown.contains("- Best by quality: **strong** — quality 0.75 (n=8)"));
    assert!(
        markdown.contains("- Best by quality per dollar: **local** — quality 0.25 (n=8), free")
    );
    assert!(markdown.contains("(charts/quality-cost-code.svg)"));
    assert!(markdown.contains("(charts/quality-over-time-code.svg)"));
    assert!(markdown.contains("## Runs included"));
    assert!(
        markdown.contains("| `run-1` | 2024-05-01T00:00:00Z | builtin, extra | completed | 12 |")
    );
    assert!(
        markdown.contains("| `run-2` | 2024-05-08T00:00:00Z | builtin, extra | completed | 16 |")
    );
}

#[test]
fn json_carries_the_same_numbers_runs_and_quality_run_by_run() {
    let report = sample_report();
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["generated"], "2024-05-11T00:00:00Z");
    assert_eq!(json["runs"][0]["id"], "run-1");
    assert_eq!(
        json["runs"][0]["suites"],
        serde_json::json!(["builtin", "extra"])
    );
    let code = &json["categories"][0];
    assert_eq!(code["category"], "code");
    assert_eq!(code["models"][0]["model"], "strong");
    assert_eq!(code["models"][0]["n"], 8);
    assert_eq!(code["models"][0]["quality"], 0.75);
    assert!(code["models"][0]["ci_low"].as_f64().unwrap() < 0.75);
    assert_eq!(code["best_quality"]["model"], "strong");
    assert_eq!(code["best_quality_per_dollar"]["model"], "local");
    let over_time = code["over_time"].as_array().unwrap();
    assert_eq!(over_time.len(), 6, "three models in two runs");
    assert_eq!(code["charts"][1]["kind"], "quality_over_time");
}

#[test]
fn results_whose_run_row_is_missing_are_dated_by_their_own_rows() {
    let mut rows = Rows(Vec::new());
    rows.add("orphan", "m", "code", &[1.0], 0.0);
    let report = report(&rows.0, &[], options());
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].status, "unknown");
    assert_eq!(report.runs[0].created, "2024-05-01T00:00:00Z");
    assert_eq!(report.runs[0].suites, ["builtin"]);
}

#[test]
fn no_results_make_an_empty_report() {
    let report = report(&[], &[run("r", MAY_1)], options());
    assert!(report.is_empty());
    assert!(
        report.runs.is_empty(),
        "a run without results is not included"
    );
    assert!(report.to_markdown().contains("No results."));
    assert!(report.charts().unwrap().is_empty());
}

#[test]
fn a_chart_draws_at_most_the_best_models_its_options_allow_and_says_so() {
    let mut rows = Rows(Vec::new());
    for i in 0..5 {
        rows.add(
            "r",
            &format!("model-{i}"),
            "code",
            &[f64::from(i) / 4.0],
            0.001,
        );
    }
    let report = report(
        &rows.0,
        &[run("r", MAY_1)],
        ReportOptions {
            max_models_per_chart: 3,
            ..options()
        },
    );
    let svg = &report.charts().unwrap()[0].svg;
    assert!(svg.contains("(best 3 of 5 models)"), "{svg}");
    assert!(svg.contains("model-4") && !svg.contains("model-0"));
    assert_eq!(
        report.categories[0].models.len(),
        5,
        "the table keeps every model"
    );
}

#[test]
fn when_no_model_has_a_cost_the_chart_sets_models_side_by_side_named_on_the_axis() {
    let mut rows = Rows(Vec::new());
    rows.add("r", "smollm2-135m", "chat", &[1.0, 0.0, 0.0], 0.0);
    rows.add("r", "qwen2.5-0.5b", "chat", &[1.0, 1.0, 0.0], 0.0);
    let report = report(&rows.0, &[run("r", MAY_1)], options());
    let chart = &report.charts().unwrap()[0];
    assert_eq!(chart.title, "chat: quality per model (no cost recorded)");
    let texts = svg_texts(&chart.svg);
    assert!(texts.contains(&"model (no cost recorded: every model here is free)".to_owned()));
    for model in ["smollm2-135m", "qwen2.5-0.5b"] {
        assert!(
            texts.contains(&model.to_owned()),
            "{model} on the axis: {texts:?}"
        );
        assert!(
            texts.contains(&format!("{model} (free)")),
            "{model} in the legend"
        );
    }
    assert!(
        !texts.iter().any(|t| t.starts_with('$')),
        "no cost ticks: {texts:?}"
    );
}
