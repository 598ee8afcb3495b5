//! Per-model daily request caps stated by providers (table `model_daily_usage`, migration 0005):
//! the cap, what the provider last said remains, when the window resets, and the calls Fusion
//! made in it. The registry writes a model's row as its count moves and reads the live ones back
//! at start.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;

const COLUMNS: &str =
    "provider, model, requests, daily_limit, remaining, reset_at_ms, exhausted, updated_ms";

/// One model's daily window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelDailyUsage {
    pub provider: String,
    /// The upstream's model name.
    pub model: String,
    /// Calls Fusion made in this window.
    pub requests: u64,
    /// Requests per day, when the provider stated it.
    pub daily_limit: Option<u64>,
    /// What the provider last said remains.
    pub remaining: Option<u64>,
    /// When the window ends, Unix milliseconds.
    pub reset_at_ms: i64,
    /// The provider answered that the day's cap is reached.
    pub exhausted: bool,
    pub updated_ms: i64,
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Writes (inserts or replaces) the row of `usage.provider` / `usage.model`.
    pub async fn put_model_daily_usage(&self, usage: &ModelDailyUsage) -> crate::Result<()> {
        let sql = format!(
            "INSERT INTO model_daily_usage ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (provider, model) DO UPDATE SET requests = excluded.requests, \
             daily_limit = excluded.daily_limit, remaining = excluded.remaining, \
             reset_at_ms = excluded.reset_at_ms, exhausted = excluded.exhausted, \
             updated_ms = excluded.updated_ms"
        );
        sqlx::query(&sql)
            .bind(usage.provider.as_str())
            .bind(usage.model.as_str())
            .bind(as_i64(usage.requests))
            .bind(usage.daily_limit.map(as_i64))
            .bind(usage.remaining.map(as_i64))
            .bind(usage.reset_at_ms)
            .bind(i64::from(usage.exhausted))
            .bind(usage.updated_ms)
            .execute(self.pool())
            .await
            .map_err(|e| self.query_error("writing a model's daily usage", e))?;
        Ok(())
    }

    /// The rows whose window has not ended at `now_ms`, by provider and model.
    pub async fn model_daily_usage(&self, now_ms: i64) -> crate::Result<Vec<ModelDailyUsage>> {
        let doing = "reading models' daily usage";
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM model_daily_usage WHERE reset_at_ms > $1"
        ))
        .bind(now_ms)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        let mut usage = rows
            .iter()
            .map(read_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.query_error(doing, e))?;
        usage.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        Ok(usage)
    }
}

fn read_row(row: &AnyRow) -> Result<ModelDailyUsage, sqlx::Error> {
    let count = |name: &str| -> Result<Option<u64>, sqlx::Error> {
        let value: Option<i64> = row.try_get(name)?;
        Ok(value.and_then(|v| u64::try_from(v).ok()))
    };
    Ok(ModelDailyUsage {
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        requests: count("requests")?.unwrap_or(0),
        daily_limit: count("daily_limit")?,
        remaining: count("remaining")?,
        reset_at_ms: row.try_get("reset_at_ms")?,
        exhausted: row.try_get::<i64, _>("exhausted")? != 0,
        updated_ms: row.try_get("updated_ms")?,
    })
}
