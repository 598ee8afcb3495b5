//! What benchmark results say per model and category: how many answers were scored, the
//! quality (mean score) with its Wilson 95% interval, p50 latency, tokens per second and cost —
//! the numbers `fusion bench` prints, the reports chart and the router's measured quality
//! stands on. Calls that failed (`error`) count apart: they say nothing about quality; nor do
//! answers to tasks without a validator (unscored), though their speed and cost count.

use std::collections::BTreeMap;

use fusion_core::store::BenchResultRow;
use serde::Serialize;

use crate::validate::is_unscored;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// One model in one category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCategoryStats {
    pub model: String,
    pub category: String,
    /// Answers scored (calls that failed are in `errors`, not here).
    pub n: u64,
    /// Mean score, 0 to 1.
    pub quality: f64,
    /// Wilson 95% interval of `quality` (scores read as successes out of `n`).
    pub ci_low: f64,
    pub ci_high: f64,
    /// Median latency of the answers (scored or not).
    pub p50_latency_ms: Option<f64>,
    /// Output tokens per second of generation, over the answers (scored or not).
    pub tokens_per_s: Option<f64>,
    /// Total cost of every call, failed ones included.
    pub cost_usd: f64,
    /// Calls that failed (no answer to score).
    pub errors: u64,
    /// Answers to tasks without a validator: timed and priced, not scored.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unscored: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Groups `rows` by model and category (in that order) and summarizes each group.
pub fn summarize(rows: &[BenchResultRow]) -> Vec<ModelCategoryStats> {
    let mut groups: BTreeMap<(&str, &str), Vec<&BenchResultRow>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.model.as_str(), row.category.as_str()))
            .or_default()
            .push(row);
    }
    groups
        .into_iter()
        .map(|((model, category), rows)| group(model, category, &rows))
        .collect()
}

fn group(model: &str, category: &str, rows: &[&BenchResultRow]) -> ModelCategoryStats {
    let scored: Vec<&&BenchResultRow> = rows.iter().filter(|r| r.error.is_none()).collect();
    let unscored: Vec<&&BenchResultRow> = rows
        .iter()
        .filter(|r| r.error.as_deref().is_some_and(is_unscored))
        .collect();
    let answered: Vec<&&BenchResultRow> = scored.iter().chain(&unscored).copied().collect();
    let n = scored.len() as u64;
    let quality = if scored.is_empty() {
        0.0
    } else {
        scored.iter().map(|r| r.score.clamp(0.0, 1.0)).sum::<f64>() / scored.len() as f64
    };
    let (ci_low, ci_high) = wilson(quality, n);
    let mut latencies: Vec<f64> = answered.iter().map(|r| r.latency_ms as f64).collect();
    let tokens: u64 = answered.iter().map(|r| r.output_tokens).sum();
    let seconds: f64 = latencies.iter().sum::<f64>() / 1000.0;
    ModelCategoryStats {
        model: model.to_owned(),
        category: category.to_owned(),
        n,
        quality,
        ci_low,
        ci_high,
        p50_latency_ms: median(&mut latencies),
        tokens_per_s: (seconds > 0.0 && tokens > 0).then(|| tokens as f64 / seconds),
        cost_usd: rows.iter().map(|r| r.cost_usd).sum(),
        errors: (rows.len() - answered.len()) as u64,
        unscored: unscored.len() as u64,
    }
}

/// The Wilson score interval at 95% for a proportion `p` of `n` trials; `(0, 1)` when `n` is 0.
pub fn wilson(p: f64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let p = p.clamp(0.0, 1.0);
    let z2 = Z95 * Z95;
    let centre = p + z2 / (2.0 * n);
    let spread = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    (
        ((centre - spread) / denominator).clamp(0.0, 1.0),
        ((centre + spread) / denominator).clamp(0.0, 1.0),
    )
}

/// The median (mean of the middle two for an even count); `None` for no values.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, category: &str, score: f64, latency_ms: u64) -> BenchResultRow {
        BenchResultRow {
            run_id: "r".into(),
            task_id: format!("t{latency_ms}"),
            model: model.into(),
            attempt: 1,
            suite: "builtin".into(),
            category: category.into(),
            score,
            latency_ms,
            output_tokens: 50,
            cost_usd: 0.001,
            error: None,
            detail: None,
            created_ms: 0,
        }
    }

    #[test]
    fn groups_by_model_and_category_with_quality_latency_speed_and_cost() {
        let mut failed = row("a", "code", 0.0, 9_000);
        failed.error = Some("timeout".into());
        let rows = [
            row("a", "code", 1.0, 100),
            row("a", "code", 0.0, 300),
            row("a", "code", 1.0, 200),
            failed,
            row("b", "code", 1.0, 500),
            row("a", "reasoning", 0.5, 1000),
        ];
        let stats = summarize(&rows);
        let keys: Vec<(&str, &str)> = stats
            .iter()
            .map(|s| (s.model.as_str(), s.category.as_str()))
            .collect();
        assert_eq!(keys, [("a", "code"), ("a", "reasoning"), ("b", "code")]);
        let a = &stats[0];
        assert_eq!((a.n, a.errors), (3, 1), "the failed call is no score");
        assert!((a.quality - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(a.p50_latency_ms, Some(200.0));
        // 150 tokens over 0.6 s of the scored answers.
        assert!((a.tokens_per_s.unwrap() - 250.0).abs() < 1e-6);
        assert!((a.cost_usd - 0.004).abs() < 1e-12, "failed calls cost too");
        assert!(a.ci_low < a.quality && a.quality < a.ci_high);
    }

    #[test]
    fn the_wilson_interval_narrows_with_more_answers_and_stays_in_bounds() {
        let (low3, high3) = wilson(1.0, 3);
        let (low30, high30) = wilson(1.0, 30);
        assert!(high3 <= 1.0 && high30 <= 1.0);
        assert!(low30 > low3, "{low3} {low30}");
        assert_eq!(wilson(0.5, 0), (0.0, 1.0));
        let (low, high) = wilson(0.5, 100);
        assert!(
            (low - 0.404).abs() < 0.01 && (high - 0.596).abs() < 0.01,
            "{low} {high}"
        );
    }

    #[test]
    fn the_median_takes_the_middle() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
