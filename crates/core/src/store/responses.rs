//! Stored responses of `/v1/responses` (table `stored_responses`, migration 0010): a response
//! object with the whole conversation it answered (its input items, a previous response's
//! included), so a later request's `previous_response_id` continues it and
//! `GET /v1/responses/{id}` returns it. Bounded: a row larger than [`MAX_STORED_BYTES`] is not
//! stored, and each insert prunes the table to the newest [`MAX_STORED_RESPONSES`].

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::councils::prune;
use super::history::next_seq;

/// Responses kept; older ones are pruned as new ones are stored.
pub const MAX_STORED_RESPONSES: u32 = 1000;
/// Bytes of one stored response (its input and the response object, as JSON).
pub const MAX_STORED_BYTES: usize = 16 * 1024 * 1024;

/// One stored response.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredResponse {
    /// `resp_` and hex digits.
    pub id: String,
    /// When it was stored (Unix ms).
    pub at_ms: i64,
    /// The model the client asked for.
    pub model: String,
    /// The conversation's input items, oldest first (JSON array).
    pub input: serde_json::Value,
    /// The response object as the client received it.
    pub response: serde_json::Value,
}

impl Store {
    /// Stores `row` (replacing one with the same id) and prunes the table to the newest
    /// [`MAX_STORED_RESPONSES`]. A row whose JSON passes [`MAX_STORED_BYTES`] is refused.
    pub async fn insert_response(&self, row: &StoredResponse) -> crate::Result<()> {
        let input = row.input.to_string();
        let response = row.response.to_string();
        if input.len() + response.len() > MAX_STORED_BYTES {
            return Err(crate::ErrorKind::Invalid(format!(
                "response `{}` is {} bytes with its conversation, more than the {} a stored \
                 response may take",
                row.id,
                input.len() + response.len(),
                MAX_STORED_BYTES
            ))
            .into());
        }
        let doing = "storing a response";
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(|e| self.query_error(doing, e))?;
        sqlx::query("DELETE FROM stored_responses WHERE id = $1")
            .bind(row.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.query_error(doing, e))?;
        sqlx::query(
            "INSERT INTO stored_responses (id, seq, at_ms, model, input, response) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.id.as_str())
        .bind(next_seq(row.at_ms))
        .bind(row.at_ms)
        .bind(row.model.as_str())
        .bind(input)
        .bind(response)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.query_error(doing, e))?;
        tx.commit().await.map_err(|e| self.query_error(doing, e))?;
        prune(self, "stored_responses", MAX_STORED_RESPONSES).await?;
        Ok(())
    }

    /// The stored response with this id, if there is one.
    pub async fn stored_response(&self, id: &str) -> crate::Result<Option<StoredResponse>> {
        let doing = "reading a stored response";
        let row = sqlx::query(
            "SELECT id, at_ms, model, input, response FROM stored_responses WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        row.as_ref()
            .map(read_row)
            .transpose()
            .map_err(|e| self.query_error(doing, e))
    }

    /// How many responses are stored.
    pub async fn stored_response_count(&self) -> crate::Result<u64> {
        let doing = "counting stored responses";
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM stored_responses")
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(|e| self.query_error(doing, e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Deletes every stored response but the newest `keep`; how many went.
    pub async fn prune_stored_responses(&self, keep: u32) -> crate::Result<u64> {
        prune(self, "stored_responses", keep).await
    }
}

fn read_row(row: &AnyRow) -> Result<StoredResponse, sqlx::Error> {
    let json = |column: &str| -> Result<serde_json::Value, sqlx::Error> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(StoredResponse {
        id: row.try_get("id")?,
        at_ms: row.try_get("at_ms")?,
        model: row.try_get("model")?,
        input: json("input")?,
        response: json("response")?,
    })
}
