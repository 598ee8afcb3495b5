//! Prompting strategies set through MCP (table `prompting_strategies`, migration 0006): one row
//! per Fusion model id, overwritten when set again. The provider registry reads them all at
//! start (and on reload) and holds them in memory; a call never reads the store.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::prompting::{PromptingStrategy, StoredStrategy};

const COLUMNS: &str = "model, system_prompt, user_prompt, use_chat, assistant_prompt, \
                       success_rate, quality_score, updated_ms";

impl Store {
    /// Writes (inserts or replaces) the strategy of `row.model`.
    pub async fn put_prompting_strategy(&self, row: &StoredStrategy) -> crate::Result<()> {
        let sql = format!(
            "INSERT INTO prompting_strategies ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, \
             CAST($6 AS DOUBLE PRECISION), CAST($7 AS DOUBLE PRECISION), $8) \
             ON CONFLICT (model) DO UPDATE SET system_prompt = excluded.system_prompt, \
             user_prompt = excluded.user_prompt, use_chat = excluded.use_chat, \
             assistant_prompt = excluded.assistant_prompt, success_rate = excluded.success_rate, \
             quality_score = excluded.quality_score, updated_ms = excluded.updated_ms"
        );
        let s = &row.strategy;
        sqlx::query(&sql)
            .bind(row.model.as_str())
            .bind(s.system_prompt.as_str())
            .bind(s.user_prompt.as_str())
            .bind(i64::from(s.use_chat))
            .bind(s.assistant_prompt.clone())
            // Optional floats go as text: sqlx 0.8's Any driver binds a NULL f64 as a float4
            // on PostgreSQL, and a connection that prepared the statement with it then refuses
            // the next non-NULL f64 ("incorrect binary data format in bind parameter").
            .bind(s.success_rate.map(|v| v.to_string()))
            .bind(s.quality_score.map(|v| v.to_string()))
            .bind(row.updated_ms)
            .execute(self.pool())
            .await
            .map_err(|e| self.query_error("writing a prompting strategy", e))?;
        Ok(())
    }

    /// Every stored strategy, by model id (byte order on both databases).
    pub async fn prompting_strategies(&self) -> crate::Result<Vec<StoredStrategy>> {
        let doing = "reading prompting strategies";
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM prompting_strategies"))
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?;
        let mut strategies = rows
            .iter()
            .map(read_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.query_error(doing, e))?;
        strategies.sort_by(|a, b| a.model.cmp(&b.model));
        Ok(strategies)
    }
}

fn read_row(row: &AnyRow) -> Result<StoredStrategy, sqlx::Error> {
    Ok(StoredStrategy {
        model: row.try_get("model")?,
        strategy: PromptingStrategy {
            system_prompt: row.try_get("system_prompt")?,
            user_prompt: row.try_get("user_prompt")?,
            use_chat: row.try_get::<i64, _>("use_chat")? != 0,
            assistant_prompt: row.try_get("assistant_prompt")?,
            success_rate: row.try_get("success_rate")?,
            quality_score: row.try_get("quality_score")?,
        },
        updated_ms: row.try_get("updated_ms")?,
    })
}
