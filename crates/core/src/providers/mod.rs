//! Model backends and the registry that fronts them. `ProviderRegistry` is the one path for
//! every model call; the backends (`openai`, `anthropic`, `exec`) only translate one request
//! into one upstream call and classify what comes back.

mod accounting;
pub mod anthropic;
pub(crate) mod body;
mod catalog;
mod escalated;
pub mod exec;
pub mod health;
mod limits;
pub(crate) mod listing;
mod local_context;
mod measured;
mod models;
pub mod openai;
mod passthrough;
mod prompting;
mod raw;
mod registry;
mod retry;
mod routed;
mod sse;
mod sse_lines;
mod tracking;

use std::pin::Pin;

use fusion_types::{ChatChunk, ChatRequest, ChatResponse};
use futures::Stream;
use serde_json::Value;

use crate::config::{ProviderConfig, ProviderKind};
use crate::{Error, ErrorKind, Result};

pub use accounting::{as_caller, call_cost, current_caller};
pub(crate) use accounting::{caller_in_scope, within_caller};
pub use catalog::{CatalogSync, listed_price, priced_tier};
pub use listing::{ListedModel, ListedPricing};
pub use models::{ModelStatus, ProviderStatus};
pub use passthrough::{ByteStream, RawAnswer, RawBody};
pub use raw::RawPath;
pub use registry::{Completion, ModelEntry, ModelSource, ProviderRegistry};
pub use routed::{FailedAttempt, Routed};
pub use tracking::{CatalogRefetch, CatalogStatus, FreeModel, ModelState, rfc3339};

/// A stream of parsed chunks from an upstream; ends after the last chunk (`[DONE]`).
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk>> + Send>>;

/// One configured upstream, speaking its own protocol.
pub(crate) enum Backend {
    OpenAi(Box<openai::OpenAiBackend>),
    Anthropic(Box<anthropic::AnthropicBackend>),
    Exec(exec::ExecBackend),
}

impl Backend {
    pub(crate) fn new(config: &ProviderConfig) -> Result<Self> {
        Ok(match config.kind {
            ProviderKind::Openai => Self::OpenAi(Box::new(openai::OpenAiBackend::new(config)?)),
            ProviderKind::Anthropic => {
                Self::Anthropic(Box::new(anthropic::AnthropicBackend::new(config)?))
            }
            ProviderKind::Exec => Self::Exec(exec::ExecBackend::new(config)?),
        })
    }

    /// One non-streamed call. `request.model` is already the upstream's model name.
    pub(crate) async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        match self {
            Self::OpenAi(b) => b.chat(request).await,
            Self::Anthropic(b) => b.chat(request).await,
            Self::Exec(b) => b.chat(request).await,
        }
    }

    /// Whether the upstream is reachable (a cheap request, or the command exists).
    pub(crate) async fn probe(&self) -> Result<()> {
        match self {
            Self::OpenAi(b) => b.probe().await,
            Self::Anthropic(b) => b.probe().await,
            Self::Exec(b) => b.probe().await,
        }
    }

    /// The models the upstream lists (only OpenAI-compatible servers list theirs).
    pub(crate) async fn list_models(&self) -> Result<Vec<ListedModel>> {
        match self {
            Self::OpenAi(b) => b.list_models().await,
            Self::Anthropic(_) | Self::Exec(_) => Ok(Vec::new()),
        }
    }

    /// One streamed call; the future resolves once the upstream accepted the request.
    pub(crate) async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream> {
        match self {
            Self::OpenAi(b) => b.chat_stream(request).await,
            Self::Anthropic(b) => b.chat_stream(request).await,
            Self::Exec(b) => b.chat_stream(request).await,
        }
    }
}

/// The provider's API key: from `api_key_env` (read at call time, so a key exported after
/// start-up is picked up) or the legacy inline key.
pub(crate) fn api_key(config: &ProviderConfig) -> Result<Option<String>> {
    if let Some(env) = &config.api_key_env {
        return match std::env::var(env) {
            Ok(key) if !key.is_empty() => Ok(Some(key)),
            _ => Err(ErrorKind::MissingApiKey {
                provider: config.name.clone(),
                env: env.clone(),
            }
            .into()),
        };
    }
    Ok(config.api_key.clone())
}

/// A reqwest client for one provider: pooled, TCP_NODELAY, rustls, extra headers.
pub(crate) fn http_client(config: &ProviderConfig) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &config.headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            ErrorKind::Invalid(format!("provider `{}`: header `{name}`: {e}", config.name))
        })?;
        let value = reqwest::header::HeaderValue::from_str(value).map_err(|e| {
            ErrorKind::Invalid(format!("provider `{}`: header `{name}`: {e}", config.name))
        })?;
        headers.insert(name, value);
    }
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(config.timeout.min(std::time::Duration::from_secs(10)))
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .default_headers(headers)
        .user_agent(concat!("fusion/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ErrorKind::Invalid(format!("provider `{}`: http client: {e}", config.name)).into()
        })
}

/// Builds an `UpstreamStatus` error from a non-2xx response, keeping the upstream's message.
pub(crate) async fn status_error(provider: &str, response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after_secs(v, std::time::SystemTime::now()));
    let bytes = body::read_prefix(response, body::ERROR_BODY_BYTES).await;
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| {
            let err = v.get("error")?;
            err.get("message")
                .and_then(Value::as_str)
                .or_else(|| err.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| snippet(&bytes));
    ErrorKind::UpstreamStatus {
        provider: provider.to_owned(),
        status,
        message,
        retry_after,
    }
    .into()
}

/// `Retry-After` as seconds to wait: delay-seconds, or an HTTP date (rounded up; 0 when past).
pub(crate) fn retry_after_secs(value: &str, now: std::time::SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or_default();
    Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

/// The first ~300 characters of a body, for error messages.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after_secs("120", now), Some(120));
        assert_eq!(
            retry_after_secs("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(30)
        );
        assert_eq!(
            retry_after_secs("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_secs("soon", now), None);
    }

    #[test]
    fn snippet_truncates_long_bodies_on_a_char_boundary() {
        let long = "é".repeat(400);
        let s = snippet(long.as_bytes());
        assert!(s.ends_with('…'));
        assert_eq!(s.chars().count(), 301);
    }
}
