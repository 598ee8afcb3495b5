//! Usage rows (one per model call: who called, which model, tokens, cost, latency, outcome) and
//! the usage report over them: totals and groups by model, provider and UTC day, under a filter.
//! Inserts are multi-row statements in one transaction; the report is one grouped query over
//! the hourly rollups (`rollup`) and the raw rows they do not cover, folded in Rust, so the SQL
//! stays portable between SQLite and PostgreSQL.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::usage_window::WindowSql;
use super::{Store, StoreKind};

/// Columns of `usage_events`, in insert order.
const USAGE_COLUMNS: &str = "at_ms, day, caller, provider, model, tokens_in, tokens_out, \
                             estimated, cost_usd, latency_ms, outcome";
const USAGE_COLUMN_COUNT: usize = 11;

/// Bound parameters per statement: well under SQLite's limit (32766) and PostgreSQL's (65535).
pub(crate) const MAX_BIND_PARAMS: usize = 16_000;

/// Which front door made a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Caller {
    Cli,
    Http,
    Mcp,
    Task,
}

impl Caller {
    pub fn as_str(self) -> &'static str {
        match self {
            Caller::Cli => "cli",
            Caller::Http => "http",
            Caller::Mcp => "mcp",
            Caller::Task => "task",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "cli" => Some(Caller::Cli),
            "http" => Some(Caller::Http),
            "mcp" => Some(Caller::Mcp),
            "task" => Some(Caller::Task),
            _ => None,
        }
    }
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One model call.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UsageRecord {
    /// Unix epoch milliseconds.
    pub at_ms: i64,
    pub caller: Caller,
    pub provider: String,
    /// Fusion's model id.
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// The token counts are estimates (the upstream reported none).
    pub estimated: bool,
    pub cost_usd: f64,
    pub latency_ms: u64,
    /// "ok", or the error class ("timeout", "refused", "status", ...).
    pub outcome: String,
}

/// Which rows a report covers. Every field narrows; `since_ms` is inclusive, `until_ms` exclusive.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub caller: Option<Caller>,
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// Sums over a set of calls. `failed_calls` counts outcomes other than "ok".
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct UsageTotals {
    pub calls: u64,
    pub failed_calls: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub estimated_calls: u64,
    pub cost_usd: f64,
    pub avg_latency_ms: f64,
}

/// The totals of one model, provider or day.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UsageGroup {
    pub key: String,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// Totals and groups. Model and provider groups are sorted by cost (highest first), then key;
/// day groups (`YYYY-MM-DD`, UTC) oldest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UsageReport {
    pub total: UsageTotals,
    pub by_model: Vec<UsageGroup>,
    pub by_provider: Vec<UsageGroup>,
    pub by_day: Vec<UsageGroup>,
}

/// Unix epoch milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Inserts the rows in one transaction (multi-row statements, chunked under the databases'
    /// bound-parameter limits).
    pub async fn insert_usage(&self, rows: &[UsageRecord]) -> crate::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let doing = "inserting usage rows";
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(|e| self.query_error(doing, e))?;
        for chunk in rows.chunks(MAX_BIND_PARAMS / USAGE_COLUMN_COUNT) {
            let sql = insert_sql(
                self.kind(),
                "usage_events",
                USAGE_COLUMNS,
                USAGE_COLUMN_COUNT,
                chunk.len(),
            );
            // Not cached: batch sizes vary, and each size would be its own prepared statement.
            let mut query = sqlx::query(&sql).persistent(false);
            for row in chunk {
                query = query
                    .bind(row.at_ms)
                    .bind(utc_day(row.at_ms))
                    .bind(row.caller.as_str())
                    .bind(row.provider.as_str())
                    .bind(row.model.as_str())
                    .bind(to_i64(row.tokens_in))
                    .bind(to_i64(row.tokens_out))
                    .bind(i64::from(row.estimated))
                    .bind(row.cost_usd)
                    .bind(to_i64(row.latency_ms))
                    .bind(row.outcome.as_str());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(|e| self.query_error(doing, e))?;
        }
        tx.commit().await.map_err(|e| self.query_error(doing, e))
    }

    /// Totals and groups by model, provider and day of the calls the filter selects: the
    /// daily and hourly sums of the whole days and hours inside the window (`rollup`), the raw
    /// rows of the rest (after the rollup's watermark, and in the window's partial first and
    /// last hours; see `usage_window`) — one statement, so a rollup running meanwhile neither
    /// hides nor doubles a call. The figures
    /// are those of the raw rows while they are kept (`storage.ledger_retention`); past it, a
    /// window counts the whole hours inside it.
    pub async fn usage_report(&self, filter: &UsageFilter) -> crate::Result<UsageReport> {
        let window = WindowSql::new(filter);
        let raw_sums = "COUNT(*) AS calls, \
             CAST(COALESCE(SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END), 0) AS BIGINT) AS failed, \
             CAST(COALESCE(SUM(tokens_in), 0) AS BIGINT) AS tokens_in, \
             CAST(COALESCE(SUM(tokens_out), 0) AS BIGINT) AS tokens_out, \
             CAST(COALESCE(SUM(estimated), 0) AS BIGINT) AS estimated, \
             CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS cost_usd, \
             CAST(COALESCE(SUM(latency_ms), 0) AS BIGINT) AS latency_ms";
        let rolled_sums = "CAST(COALESCE(SUM(calls), 0) AS BIGINT) AS calls, \
             CAST(COALESCE(SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE calls END), 0) AS BIGINT) AS failed, \
             CAST(COALESCE(SUM(tokens_in), 0) AS BIGINT) AS tokens_in, \
             CAST(COALESCE(SUM(tokens_out), 0) AS BIGINT) AS tokens_out, \
             CAST(COALESCE(SUM(estimated_calls), 0) AS BIGINT) AS estimated, \
             CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS cost_usd, \
             CAST(COALESCE(SUM(latency_ms), 0) AS BIGINT) AS latency_ms";
        // Sums are cast back to BIGINT / DOUBLE PRECISION: PostgreSQL widens SUM(BIGINT) and
        // AVG to NUMERIC, which the Any driver cannot decode. A (day, provider, model) may come
        // from several parts: the fold below sums them.
        let sql = window.union("day, provider, model", raw_sums, rolled_sums);
        let mut query = sqlx::query(&sql);
        for value in &window.ints {
            query = query.bind(*value);
        }
        for value in &window.texts {
            query = query.bind(*value);
        }
        let doing = "reading the usage report";
        let rows = query
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?;

        let mut total = Sums::default();
        let mut by_model: HashMap<String, Sums> = HashMap::new();
        let mut by_provider: HashMap<String, Sums> = HashMap::new();
        let mut by_day: HashMap<String, Sums> = HashMap::new();
        for row in &rows {
            let (day, provider, model, sums) =
                read_group(row).map_err(|e| self.query_error(doing, e))?;
            total.add(&sums);
            by_model.entry(model).or_default().add(&sums);
            by_provider.entry(provider).or_default().add(&sums);
            by_day.entry(day).or_default().add(&sums);
        }
        let mut by_day = groups(by_day);
        by_day.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(UsageReport {
            total: total.totals(),
            by_model: by_cost(groups(by_model)),
            by_provider: by_cost(groups(by_provider)),
            by_day,
        })
    }
}

/// Raw sums of one group; `latency_ms` is the sum, averaged at the end.
#[derive(Debug, Default)]
struct Sums {
    calls: u64,
    failed: u64,
    tokens_in: u64,
    tokens_out: u64,
    estimated: u64,
    cost_usd: f64,
    latency_ms: u64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.calls = self.calls.saturating_add(other.calls);
        self.failed = self.failed.saturating_add(other.failed);
        self.tokens_in = self.tokens_in.saturating_add(other.tokens_in);
        self.tokens_out = self.tokens_out.saturating_add(other.tokens_out);
        self.estimated = self.estimated.saturating_add(other.estimated);
        self.cost_usd += other.cost_usd;
        self.latency_ms = self.latency_ms.saturating_add(other.latency_ms);
    }

    fn totals(&self) -> UsageTotals {
        UsageTotals {
            calls: self.calls,
            failed_calls: self.failed,
            tokens_in: self.tokens_in,
            tokens_out: self.tokens_out,
            estimated_calls: self.estimated,
            cost_usd: self.cost_usd,
            avg_latency_ms: if self.calls == 0 {
                0.0
            } else {
                self.latency_ms as f64 / self.calls as f64
            },
        }
    }
}

fn read_group(row: &AnyRow) -> Result<(String, String, String, Sums), sqlx::Error> {
    let count = |name: &str| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
    };
    let sums = Sums {
        calls: count("calls")?,
        failed: count("failed")?,
        tokens_in: count("tokens_in")?,
        tokens_out: count("tokens_out")?,
        estimated: count("estimated")?,
        cost_usd: row.try_get::<f64, _>("cost_usd")?,
        latency_ms: count("latency_ms")?,
    };
    Ok((
        row.try_get("day")?,
        row.try_get("provider")?,
        row.try_get("model")?,
        sums,
    ))
}

fn groups(map: HashMap<String, Sums>) -> Vec<UsageGroup> {
    map.into_iter()
        .map(|(key, sums)| UsageGroup {
            key,
            totals: sums.totals(),
        })
        .collect()
}

fn by_cost(mut groups: Vec<UsageGroup>) -> Vec<UsageGroup> {
    groups.sort_by(|a, b| {
        b.totals
            .cost_usd
            .total_cmp(&a.totals.cost_usd)
            .then_with(|| a.key.cmp(&b.key))
    });
    groups
}

/// `INSERT INTO table (columns) VALUES ($1, ..), (..)` for `rows` rows. SQLite gets anonymous
/// `?` placeholders: it resolves numbered ones by a linear search per parameter, which makes a
/// statement with thousands of them quadratic (a 512-row insert took 0.3 s in a debug build).
pub(crate) fn insert_sql(
    kind: StoreKind,
    table: &str,
    columns: &str,
    width: usize,
    rows: usize,
) -> String {
    let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..width {
            if col > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match kind {
                StoreKind::Sqlite => sql.push('?'),
                StoreKind::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The UTC calendar day (`YYYY-MM-DD`) of a Unix time in milliseconds.
pub(crate) fn utc_day(at_ms: i64) -> String {
    // Howard Hinnant's civil-from-days.
    let days = at_ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_day_matches_known_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(-1), "1969-12-31");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_709_251_199_999), "2024-02-29");
        assert_eq!(utc_day(1_709_251_200_000), "2024-03-01");
        assert_eq!(utc_day(1_767_225_599_999), "2025-12-31");
    }

    #[test]
    fn insert_sql_numbers_placeholders_across_rows() {
        assert_eq!(
            insert_sql(StoreKind::Postgres, "t", "a, b", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_sql(StoreKind::Sqlite, "t", "a", 1, 2),
            "INSERT INTO t (a) VALUES (?), (?)"
        );
    }

    #[test]
    fn callers_round_trip_through_their_names() {
        for caller in [Caller::Cli, Caller::Http, Caller::Mcp, Caller::Task] {
            assert_eq!(Caller::parse(caller.as_str()), Some(caller));
        }
        assert_eq!(Caller::parse("HTTP"), Some(Caller::Http));
        assert_eq!(Caller::parse("web"), None);
    }
}
