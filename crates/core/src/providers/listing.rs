//! The model listing of an OpenAI-compatible server (`GET {base}/models`, also Ollama's
//! `/api/tags` shape): the entry type and the one request that fetches and reads it, bounded in
//! size and time. The `openai` backend and zero-config discovery both list models through it.

use serde::Deserialize;
use serde_json::Value;

use crate::config::ProviderConfig;
use crate::{Error, ErrorKind, Result};

/// One entry of a provider's model listing. OpenRouter-style catalogs add the context length
/// and prices (USD per token, as strings), vLLM its `max_model_len`; plain servers give only the
/// id.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
#[serde(from = "Entry")]
pub struct ListedModel {
    /// `id`, or Ollama's `name` when there is no `id` (OpenRouter sends both; `name` is then
    /// a display name).
    pub id: String,
    pub context_length: Option<u32>,
    /// vLLM's name for the context length.
    pub max_model_len: Option<u32>,
    pub pricing: Option<ListedPricing>,
}

/// A listing entry as written.
#[derive(serde::Deserialize)]
struct Entry {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    context_length: Option<u32>,
    #[serde(default)]
    max_model_len: Option<u32>,
    #[serde(default)]
    pricing: Option<ListedPricing>,
}

impl From<Entry> for ListedModel {
    fn from(entry: Entry) -> Self {
        ListedModel {
            id: entry.id.or(entry.name).unwrap_or_default(),
            context_length: entry.context_length,
            max_model_len: entry.max_model_len,
            pricing: entry.pricing,
        }
    }
}

impl ListedModel {
    /// The context window the listing states, under either name.
    pub fn context_window(&self) -> Option<u32> {
        self.context_length.or(self.max_model_len)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ListedPricing {
    #[serde(default, deserialize_with = "per_token")]
    pub prompt: Option<f64>,
    #[serde(default, deserialize_with = "per_token")]
    pub completion: Option<f64>,
}

/// A price per token given as a string (`"0.0000025"`) or a number.
fn per_token<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(match value {
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    })
}

/// Both shapes at once: llama.cpp's `llama-server` sends `data` (OpenAI) beside `models`
/// (Ollama-like entries of its own); `data` wins, `models` is read only without it.
#[derive(serde::Deserialize)]
struct Listing {
    #[serde(default)]
    data: Option<Vec<ListedModel>>,
    #[serde(default)]
    models: Option<Value>,
}

/// `GET url` on `client` for the models a server lists, as `config`'s provider: its bearer key
/// when it has one, its `timeout` over the whole exchange, its `max_response_bytes` over the
/// body. A non-2xx answer is `UpstreamStatus`; entries without an id are left out.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    config: &ProviderConfig,
    url: &reqwest::Url,
) -> Result<Vec<ListedModel>> {
    let exchange = async {
        let mut request = client.get(url.clone());
        if let Some(key) = super::api_key(config)? {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::from_reqwest(&config.name, &e, config.timeout))?;
        super::limits::observe(response.headers());
        if !response.status().is_success() {
            return Err(super::status_error(&config.name, response).await);
        }
        let body = super::body::read_capped(config, response, config.response_limit()).await?;
        parse(&config.name, &body)
    };
    match tokio::time::timeout(config.timeout, exchange).await {
        Ok(listed) => listed,
        Err(_) => Err(ErrorKind::Timeout {
            provider: config.name.clone(),
            after: config.timeout,
        }
        .into()),
    }
}

/// Reads a listing body: `{"data": [...]}` (OpenAI) or `{"models": [...]}` (Ollama).
pub(crate) fn parse(provider: &str, body: &[u8]) -> Result<Vec<ListedModel>> {
    let invalid = |e: serde_json::Error| ErrorKind::InvalidResponse {
        provider: provider.to_owned(),
        message: format!(
            "model listing: {e}; body starts with: {}",
            super::snippet(body)
        ),
    };
    let listing: Listing = serde_json::from_slice(body).map_err(invalid)?;
    let listed = match (listing.data, listing.models) {
        (Some(data), _) => data,
        (None, Some(models)) => serde_json::from_value(models).map_err(invalid)?,
        (None, None) => Vec::new(),
    };
    Ok(listed
        .into_iter()
        .filter(|m| !m.id.trim().is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_of_openai_openrouter_and_ollama_shapes_parse() {
        let openai = parse(
            "p",
            br#"{"object":"list","data":[{"id":"gpt-x","object":"model"}]}"#,
        )
        .unwrap();
        assert_eq!(openai[0].id, "gpt-x");
        let router = parse(
            "p",
            br#"{"data":[{"id":"a/b:free","context_length":131072,
                "pricing":{"prompt":"0","completion":"0"}},
               {"id":"c/d","context_length":8192,"pricing":{"prompt":"0.000003","completion":0.000015}}]}"#,
        )
        .unwrap();
        assert_eq!(router[0].context_length, Some(131_072));
        let paid = router[1].pricing.as_ref().unwrap();
        assert_eq!(paid.prompt, Some(0.000003));
        assert_eq!(paid.completion, Some(0.000015));
        // llama.cpp's llama-server: both keys, its `models` entries in a shape of their own.
        let llama = parse(
            "p",
            br#"{"models":[{"name":"SmolLM2","model":"SmolLM2","type":"model"}],"object":"list",
                 "data":[{"id":"SmolLM2","object":"model","owned_by":"llamacpp"}]}"#,
        )
        .unwrap();
        assert_eq!(llama.len(), 1);
        assert_eq!(llama[0].id, "SmolLM2");
        let ollama = parse("p", br#"{"models":[{"name":"qwen2.5:7b","size":1}]}"#).unwrap();
        assert_eq!(ollama[0].id, "qwen2.5:7b");
    }

    #[test]
    fn an_entry_with_an_id_and_a_display_name_is_known_by_its_id() {
        let listed = parse(
            "p",
            br#"{"data":[{"id":"openai/gpt-x","name":"OpenAI: GPT-X"}]}"#,
        )
        .unwrap();
        assert_eq!(listed[0].id, "openai/gpt-x");
    }

    #[test]
    fn entries_without_an_id_are_left_out() {
        let listed = parse(
            "p",
            br#"{"data":[{"id":" "},{"object":"model"},{"id":"m"}]}"#,
        )
        .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, "m");
    }

    #[test]
    fn a_body_that_is_not_a_listing_is_an_invalid_response_naming_the_provider() {
        let err = parse("local", b"<html>hello</html>").unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidResponse { provider, .. } if provider == "local"),
            "{err:?}"
        );
    }
}
