//! A usage report's window split over the ledger's tables, as SQL: the raw rows after the
//! rollup's watermark, the daily sums of the whole UTC days inside the window, the hourly sums
//! of its other whole hours, and the raw rows of its partial first and last hours (gone past
//! the ledger retention: then a window counts the whole hours inside it). `usage_report` and
//! `usage_days` each run one `UNION ALL` of these parts, so a report reads days × keys and a
//! day's hours × keys of sums instead of every call.

use super::rollup::{DAY_MS, ROLLED_UNTIL, hour_ceil, hour_start};
use super::{Caller, UsageFilter};

/// The parts of one window. Placeholders are numbered in bind order: `ints` first, then
/// `texts`.
pub(crate) struct WindowSql<'a> {
    pub ints: Vec<i64>,
    pub texts: Vec<&'a str>,
    recent: Vec<String>,
    days: Option<Vec<String>>,
    hours: Vec<String>,
    edges: Vec<String>,
    keys: Vec<String>,
}

impl<'a> WindowSql<'a> {
    pub fn new(filter: &'a UsageFilter) -> Self {
        let mut ints = Vec::new();
        let mut bind = |value: i64| {
            ints.push(value);
            format!("${}", ints.len())
        };
        let (since, until) = (filter.since_ms, filter.until_ms);
        let (since_p, until_p) = (since.map(&mut bind), until.map(&mut bind));
        // One lower bound, the later of the watermark and the window's start, so SQLite's
        // index search starts there (given two, it picks one).
        let mut recent = vec![match &since_p {
            Some(p) => format!(
                "at_ms >= (SELECT CASE WHEN rolled_until_ms > {p} THEN rolled_until_ms \
                 ELSE {p} END FROM usage_rollup WHERE id = 1)"
            ),
            None => format!("at_ms >= {ROLLED_UNTIL}"),
        }];
        if let Some(p) = &until_p {
            recent.push(format!("at_ms < {p}"));
        }
        let (first_hour, last_hour) = (since.map(hour_ceil), until.map(hour_start));
        let (first_day, last_day) = (since.map(day_ceil), until.map(day_start));
        let mut edges = Vec::new();
        let mut hours = Vec::new();
        let mut days = None;
        match (first_hour, last_hour) {
            (Some(first), Some(last)) if first > last => {
                // Inside one hour: the window is its own edge.
                if let (Some(s), Some(u)) = (&since_p, &until_p) {
                    edges.push(edge(s, u));
                }
            }
            _ => {
                let first_hour_p = first_hour.map(&mut bind);
                let last_hour_p = last_hour.map(&mut bind);
                if let (Some(s), Some(first)) = (&since_p, &first_hour_p) {
                    edges.push(edge(s, first));
                }
                if let (Some(u), Some(last)) = (&until_p, &last_hour_p) {
                    edges.push(edge(last, u));
                }
                let whole_days = match (first_day, last_day) {
                    (Some(first), Some(last)) => first < last,
                    _ => true,
                };
                if whole_days {
                    let first_day_p = first_day.map(&mut bind);
                    let last_day_p = last_day.map(&mut bind);
                    let mut conditions = Vec::new();
                    if let Some(first) = &first_day_p {
                        conditions.push(format!("day_ms >= {first}"));
                    }
                    if let Some(last) = &last_day_p {
                        conditions.push(format!("day_ms < {last}"));
                    }
                    days = Some(conditions);
                    // The whole hours before the first whole day and after the last.
                    if let (Some(h), Some(d)) = (&first_hour_p, &first_day_p)
                        && first_hour < first_day
                    {
                        hours.push(format!("(hour_ms >= {h} AND hour_ms < {d})"));
                    }
                    if let (Some(d), Some(h)) = (&last_day_p, &last_hour_p)
                        && last_day < last_hour
                    {
                        hours.push(format!("(hour_ms >= {d} AND hour_ms < {h})"));
                    }
                } else if let (Some(h1), Some(h2)) = (&first_hour_p, &last_hour_p)
                    && first_hour < last_hour
                {
                    hours.push(format!("(hour_ms >= {h1} AND hour_ms < {h2})"));
                }
            }
        }
        let mut texts = Vec::new();
        let mut keys = Vec::new();
        for (column, value) in [
            ("caller", filter.caller.map(Caller::as_str)),
            ("provider", filter.provider.as_deref()),
            ("model", filter.model.as_deref()),
        ] {
            if let Some(value) = value {
                texts.push(value);
                keys.push(format!("{column} = ${}", ints.len() + texts.len()));
            }
        }
        WindowSql {
            ints,
            texts,
            recent,
            days,
            hours,
            edges,
            keys,
        }
    }

    /// `SELECT group, sums ... GROUP BY group` over each part, joined by `UNION ALL`:
    /// `raw_sums` over `usage_events`, `rolled_sums` over `usage_daily` and `usage_hourly`
    /// (the same columns).
    pub fn union(&self, group: &str, raw_sums: &str, rolled_sums: &str) -> String {
        let clause = |mut conditions: Vec<String>| {
            conditions.extend(self.keys.iter().cloned());
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            }
        };
        let mut parts = vec![format!(
            "SELECT {group}, {raw_sums} FROM usage_events {} GROUP BY {group}",
            clause(self.recent.clone())
        )];
        if let Some(days) = &self.days {
            parts.push(format!(
                "SELECT {group}, {rolled_sums} FROM usage_daily {} GROUP BY {group}",
                clause(days.clone())
            ));
        }
        if !self.hours.is_empty() {
            parts.push(format!(
                "SELECT {group}, {rolled_sums} FROM usage_hourly {} GROUP BY {group}",
                clause(vec![format!("({})", self.hours.join(" OR "))])
            ));
        }
        if !self.edges.is_empty() {
            parts.push(format!(
                "SELECT {group}, {raw_sums} FROM usage_events {} GROUP BY {group}",
                clause(vec![format!("({})", self.edges.join(" OR "))])
            ));
        }
        parts.join(" UNION ALL ")
    }
}

/// Raw rows from `from` up to `to` or the watermark, whichever is first: each bound one
/// expression, so SQLite's index search is that range (given `at_ms < watermark` beside it,
/// it may search everything before the watermark).
fn edge(from: &str, to: &str) -> String {
    format!(
        "(at_ms >= {from} AND at_ms < (SELECT CASE WHEN rolled_until_ms < {to} \
         THEN rolled_until_ms ELSE {to} END FROM usage_rollup WHERE id = 1))"
    )
}

/// The start of the UTC day `at_ms` lies in.
pub(crate) fn day_start(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(DAY_MS)
}

/// The first UTC midnight at or after `at_ms`.
pub(crate) fn day_ceil(at_ms: i64) -> i64 {
    let start = day_start(at_ms);
    if start == at_ms {
        start
    } else {
        start.saturating_add(DAY_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_inside_one_hour_reads_raw_rows_only() {
        let filter = UsageFilter {
            since_ms: Some(10 * 3_600_000 + 5),
            until_ms: Some(10 * 3_600_000 + 900),
            ..UsageFilter::default()
        };
        let sql = WindowSql::new(&filter).union("day", "COUNT(*)", "SUM(calls)");
        assert!(
            !sql.contains("usage_hourly") && !sql.contains("usage_daily"),
            "{sql}"
        );
    }

    #[test]
    fn a_long_window_reads_whole_days_whole_hours_and_raw_edges() {
        let filter = UsageFilter {
            since_ms: Some(DAY_MS + 90 * 60_000),
            until_ms: Some(5 * DAY_MS + 30 * 60_000),
            ..UsageFilter::default()
        };
        let window = WindowSql::new(&filter);
        let sql = window.union("day", "COUNT(*)", "SUM(calls)");
        assert!(
            sql.contains("FROM usage_daily WHERE day_ms >= $5 AND day_ms < $6"),
            "{sql}"
        );
        // The hours from 02:00 to the next midnight; no whole hour after the last midnight.
        assert!(sql.contains("(hour_ms >= $3 AND hour_ms < $5)"), "{sql}");
        assert!(!sql.contains("hour_ms >= $6"), "{sql}");
        assert_eq!(
            window.ints,
            [
                DAY_MS + 90 * 60_000,
                5 * DAY_MS + 30 * 60_000,
                DAY_MS + 2 * 3_600_000,
                5 * DAY_MS,
                2 * DAY_MS,
                5 * DAY_MS
            ]
        );
    }

    #[test]
    fn day_bounds_round_to_utc_midnight() {
        assert_eq!(day_start(DAY_MS + 1), DAY_MS);
        assert_eq!(day_ceil(DAY_MS + 1), 2 * DAY_MS);
        assert_eq!(day_ceil(DAY_MS), DAY_MS);
    }
}
