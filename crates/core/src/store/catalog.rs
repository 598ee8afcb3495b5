//! Models synced from an OpenRouter-style catalog (`fusion models sync NAME`): one row per
//! upstream model of a provider, with context window and prices. A sync replaces every row of
//! its provider in one transaction, so readers see the old catalog or the new one, never a mix.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::usage::{MAX_BIND_PARAMS, insert_sql};
use crate::error::ErrorKind;

const CATALOG_COLUMNS: &str =
    "provider, model, context_window, input_per_mtok, output_per_mtok, free, synced_at_ms";
const CATALOG_COLUMN_COUNT: usize = 7;

/// One model of a provider's catalog.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SyncedModel {
    pub provider: String,
    /// The upstream id, e.g. "meta-llama/llama-3.3-70b-instruct:free".
    pub model: String,
    pub context_window: Option<u32>,
    /// USD per million input tokens.
    pub input_per_mtok: f64,
    /// USD per million output tokens.
    pub output_per_mtok: f64,
    pub free: bool,
    pub synced_at_ms: i64,
}

impl Store {
    /// Replaces every synced model of `provider` in one transaction. Each model's `provider`
    /// must be `provider`; a model listed twice keeps its last entry.
    pub async fn replace_synced_models(
        &self,
        provider: &str,
        models: &[SyncedModel],
    ) -> crate::Result<()> {
        if let Some(other) = models.iter().find(|m| m.provider != provider) {
            return Err(ErrorKind::Invalid(format!(
                "synced model `{}` belongs to provider `{}`, not `{provider}`",
                other.model, other.provider
            ))
            .into());
        }
        // The last entry of a model wins (the primary key allows one row per model).
        let mut unique: Vec<&SyncedModel> = Vec::with_capacity(models.len());
        let mut seen = std::collections::HashMap::new();
        for model in models {
            match seen.get(model.model.as_str()) {
                Some(&i) => unique[i] = model,
                None => {
                    seen.insert(model.model.as_str(), unique.len());
                    unique.push(model);
                }
            }
        }

        let doing = "replacing synced models";
        let err = |e: sqlx::Error| self.query_error(doing, e);
        let mut tx = self.pool().begin().await.map_err(err)?;
        sqlx::query("DELETE FROM synced_models WHERE provider = $1")
            .bind(provider)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        for chunk in unique.chunks(MAX_BIND_PARAMS / CATALOG_COLUMN_COUNT) {
            let sql = insert_sql(
                self.kind(),
                "synced_models",
                CATALOG_COLUMNS,
                CATALOG_COLUMN_COUNT,
                chunk.len(),
            );
            let mut query = sqlx::query(&sql).persistent(false);
            for model in chunk {
                query = query
                    .bind(provider)
                    .bind(model.model.as_str())
                    .bind(model.context_window.map(i64::from))
                    .bind(model.input_per_mtok)
                    .bind(model.output_per_mtok)
                    .bind(i64::from(model.free))
                    .bind(model.synced_at_ms);
            }
            query.execute(&mut *tx).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// Every synced model, ordered by provider, then model (byte order on both databases).
    pub async fn synced_models(&self) -> crate::Result<Vec<SyncedModel>> {
        let doing = "reading synced models";
        let rows = sqlx::query(&format!(
            "SELECT {CATALOG_COLUMNS} FROM synced_models ORDER BY provider, model"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        let mut models = rows
            .iter()
            .map(read_model)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.query_error(doing, e))?;
        // PostgreSQL orders text by the database's collation; keep one order everywhere.
        models.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        Ok(models)
    }
}

fn read_model(row: &AnyRow) -> Result<SyncedModel, sqlx::Error> {
    let context_window: Option<i64> = row.try_get("context_window")?;
    Ok(SyncedModel {
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        context_window: context_window.and_then(|c| u32::try_from(c).ok()),
        input_per_mtok: row.try_get("input_per_mtok")?,
        output_per_mtok: row.try_get("output_per_mtok")?,
        free: row.try_get::<i64, _>("free")? != 0,
        synced_at_ms: row.try_get("synced_at_ms")?,
    })
}
