//! Usage over time for the dashboard's charts: the usage rows and their hourly rollups summed
//! per UTC day, caller, provider and model in one grouped query, then folded into one series per key (model,
//! provider, caller, or anything the caller derives from a row, such as the model's tier) with
//! a value for every day of the window — the largest series by cost first, the rest summed as
//! `other` beyond a bound.

use std::collections::HashMap;

use sqlx::Row;

use super::usage::utc_day;
use super::usage_window::WindowSql;
use super::{Caller, Store, UsageFilter};

const DAY_MS: i64 = 86_400_000;
/// Days a series covers at most.
pub const MAX_SERIES_DAYS: usize = 400;
/// The key of the series that sums the ones beyond the bound.
pub const OTHER_KEY: &str = "other";

/// The sums of one UTC day, caller, provider and model.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDay {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub caller: Caller,
    pub provider: String,
    pub model: String,
    pub calls: u64,
    /// Input and output tokens.
    pub tokens: u64,
    pub cost_usd: f64,
}

/// One series: a value per bucket.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Series {
    pub key: String,
    pub calls: Vec<u64>,
    pub tokens: Vec<u64>,
    pub cost_usd: Vec<f64>,
}

/// Days and the series over them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UsageSeries {
    /// Every UTC day of the window (`YYYY-MM-DD`), oldest first.
    pub buckets: Vec<String>,
    /// The costliest first (then the most calls, then by key); `other` last.
    pub series: Vec<Series>,
}

impl Store {
    /// The usage since `since_ms` (inclusive), summed per day, caller, provider and model:
    /// hourly sums and raw rows split as the usage report splits them (`usage_report`), in
    /// one statement. A day may come more than once; [`usage_series`] sums them.
    pub async fn usage_days(&self, since_ms: i64) -> crate::Result<Vec<UsageDay>> {
        let doing = "reading usage by day";
        let filter = UsageFilter {
            since_ms: Some(since_ms),
            ..UsageFilter::default()
        };
        let window = WindowSql::new(&filter);
        // Sums are cast back: PostgreSQL widens SUM(BIGINT) to NUMERIC (see `usage_report`).
        let sql = window.union(
            "day, caller, provider, model",
            "COUNT(*) AS calls, \
             CAST(COALESCE(SUM(tokens_in + tokens_out), 0) AS BIGINT) AS tokens, \
             CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS cost_usd",
            "CAST(COALESCE(SUM(calls), 0) AS BIGINT) AS calls, \
             CAST(COALESCE(SUM(tokens_in + tokens_out), 0) AS BIGINT) AS tokens, \
             CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS cost_usd",
        );
        let mut query = sqlx::query(&sql);
        for value in &window.ints {
            query = query.bind(*value);
        }
        let rows = query
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(|row| {
                let count = |name: &str| -> Result<u64, sqlx::Error> {
                    Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
                };
                let caller: String = row.try_get("caller")?;
                Ok(UsageDay {
                    day: row.try_get("day")?,
                    caller: Caller::parse(&caller).unwrap_or(Caller::Cli),
                    provider: row.try_get("provider")?,
                    model: row.try_get("model")?,
                    calls: count("calls")?,
                    tokens: count("tokens")?,
                    cost_usd: row.try_get("cost_usd")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.query_error(doing, e))
    }
}

/// Folds `days` into one series per `key_of` over every day from `since_ms` to `until_ms`
/// (at most [`MAX_SERIES_DAYS`], the latest ones); the `max_series` costliest series are kept
/// and the others summed as [`OTHER_KEY`].
pub fn usage_series(
    days: &[UsageDay],
    since_ms: i64,
    until_ms: i64,
    key_of: impl Fn(&UsageDay) -> String,
    max_series: usize,
) -> UsageSeries {
    let buckets = day_buckets(since_ms, until_ms);
    let index: HashMap<&str, usize> = buckets
        .iter()
        .enumerate()
        .map(|(i, day)| (day.as_str(), i))
        .collect();
    let empty = |key: String| Series {
        key,
        calls: vec![0; buckets.len()],
        tokens: vec![0; buckets.len()],
        cost_usd: vec![0.0; buckets.len()],
    };
    let mut by_key: HashMap<String, Series> = HashMap::new();
    for day in days {
        let Some(&i) = index.get(day.day.as_str()) else {
            continue;
        };
        let key = key_of(day);
        let series = by_key.entry(key.clone()).or_insert_with(|| empty(key));
        add(series, i, day.calls, day.tokens, day.cost_usd);
    }
    let mut series: Vec<Series> = by_key.into_values().collect();
    let total = |s: &Series| -> (f64, u64) { (s.cost_usd.iter().sum(), s.calls.iter().sum()) };
    series.sort_by(|a, b| {
        let ((a_cost, a_calls), (b_cost, b_calls)) = (total(a), total(b));
        b_cost
            .total_cmp(&a_cost)
            .then(b_calls.cmp(&a_calls))
            .then(a.key.cmp(&b.key))
    });
    if series.len() > max_series {
        let mut other = empty(OTHER_KEY.to_owned());
        for rest in series.split_off(max_series.saturating_sub(1)) {
            for i in 0..buckets.len() {
                add(
                    &mut other,
                    i,
                    rest.calls[i],
                    rest.tokens[i],
                    rest.cost_usd[i],
                );
            }
        }
        series.push(other);
    }
    UsageSeries { buckets, series }
}

fn add(series: &mut Series, i: usize, calls: u64, tokens: u64, cost_usd: f64) {
    series.calls[i] = series.calls[i].saturating_add(calls);
    series.tokens[i] = series.tokens[i].saturating_add(tokens);
    series.cost_usd[i] += cost_usd;
}

/// Every UTC day from `since_ms`'s to `until_ms`'s, the latest [`MAX_SERIES_DAYS`] at most.
fn day_buckets(since_ms: i64, until_ms: i64) -> Vec<String> {
    let last = until_ms.div_euclid(DAY_MS);
    let first = since_ms
        .div_euclid(DAY_MS)
        .max(last - (MAX_SERIES_DAYS as i64 - 1));
    (first..=last).map(|day| utc_day(day * DAY_MS)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: &str, model: &str, calls: u64, cost_usd: f64) -> UsageDay {
        UsageDay {
            day: day.into(),
            caller: Caller::Http,
            provider: "p".into(),
            model: model.into(),
            calls,
            tokens: calls * 10,
            cost_usd,
        }
    }

    #[test]
    fn every_day_of_the_window_is_a_bucket_and_missing_days_are_zero() {
        // 2024-02-28T12:00Z to 2024-03-01T00:00Z.
        let since = 1_709_121_600_000;
        let until = 1_709_251_200_000;
        let days = [
            day("2024-02-28", "a", 2, 0.5),
            day("2024-03-01", "a", 1, 0.25),
        ];
        let series = usage_series(&days, since, until, |d| d.model.clone(), 10);
        assert_eq!(series.buckets, ["2024-02-28", "2024-02-29", "2024-03-01"]);
        assert_eq!(series.series.len(), 1);
        assert_eq!(series.series[0].calls, [2, 0, 1]);
        assert_eq!(series.series[0].tokens, [20, 0, 10]);
        assert_eq!(series.series[0].cost_usd, [0.5, 0.0, 0.25]);
    }

    #[test]
    fn series_beyond_the_bound_are_summed_as_other() {
        let days = [
            day("1970-01-01", "dear", 1, 3.0),
            day("1970-01-01", "mid", 1, 2.0),
            day("1970-01-01", "cheap", 5, 0.0),
            day("1970-01-01", "cheaper", 1, 0.0),
        ];
        let series = usage_series(&days, 0, 0, |d| d.model.clone(), 3);
        let keys: Vec<&str> = series.series.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["dear", "mid", "other"]);
        assert_eq!(series.series[2].calls, [6]);
    }

    #[test]
    fn a_long_window_keeps_the_latest_days() {
        let buckets = day_buckets(0, 1_000 * DAY_MS);
        assert_eq!(buckets.len(), MAX_SERIES_DAYS);
        assert_eq!(buckets.last().map(String::as_str), Some("1972-09-27"));
    }
}
