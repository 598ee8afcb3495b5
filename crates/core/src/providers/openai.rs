//! The `openai` backend: any OpenAI-compatible `/chat/completions` server (Ollama, LM Studio,
//! llama.cpp, vLLM, OpenRouter, OpenAI). The request is forwarded as is (tools,
//! `response_format` and unknown fields included); streams are parsed as SSE chunk by chunk.

use eventsource_stream::EventStreamError;
use fusion_types::{ChatChunk, ChatRequest, ChatResponse};
use futures::{Stream, StreamExt};
use serde_json::Value;

use super::ChunkStream;
use super::listing::{self, ListedModel};
use crate::config::ProviderConfig;
use crate::{Error, ErrorKind, Result};

/// A pooled HTTP client bound to one OpenAI-compatible server.
pub struct OpenAiBackend {
    config: ProviderConfig,
    client: reqwest::Client,
    /// Parsed once: reqwest would otherwise parse (and IDNA-check) the URL on every call.
    endpoint: reqwest::Url,
    models_url: reqwest::Url,
    /// Ollama's native listing (`/api/tags` beside `/v1`), tried when `/models` is missing.
    tags_url: Option<reqwest::Url>,
    /// The server root when `base_url` ends in `/v1`: where local servers keep their metadata
    /// endpoints (llama.cpp `/props`, Ollama `/api/show`, LM Studio `/api/v0/models`).
    root: Option<String>,
}

impl OpenAiBackend {
    pub fn new(config: &ProviderConfig) -> Result<Self> {
        let base = config.base_url.as_deref().ok_or_else(|| {
            ErrorKind::Invalid(format!("provider `{}`: base_url is required", config.name))
        })?;
        let url = |path: &str| {
            reqwest::Url::parse(&format!("{}/{path}", base.trim_end_matches('/'))).map_err(|e| {
                ErrorKind::Invalid(format!(
                    "provider `{}`: base_url `{base}`: {e}",
                    config.name
                ))
            })
        };
        let root = base.trim_end_matches('/').strip_suffix("/v1");
        let tags_url = root.and_then(|root| reqwest::Url::parse(&format!("{root}/api/tags")).ok());
        Ok(Self {
            config: config.clone(),
            client: super::http_client(config)?,
            endpoint: url("chat/completions")?,
            models_url: url("models")?,
            tags_url,
            root: root.map(str::to_owned),
        })
    }

    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let mut body = request.clone();
        body.stream = None;
        body.stream_options = None;
        let response = self.send(&body).await?;
        let bytes =
            super::body::read_capped(&self.config, response, self.config.response_limit()).await?;
        let parsed: ChatResponse =
            serde_json::from_slice(&bytes).map_err(|e| ErrorKind::InvalidResponse {
                provider: self.config.name.clone(),
                message: format!("{e}; body starts with: {}", super::snippet(&bytes)),
            })?;
        if parsed.choices.is_empty() {
            return Err(ErrorKind::InvalidResponse {
                provider: self.config.name.clone(),
                message: "the response has no choices".into(),
            }
            .into());
        }
        Ok(parsed)
    }

    pub async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream> {
        let mut body = request.clone();
        body.stream = Some(true);
        let response = self.send(&body).await?;
        let capped = super::body::CappedLines::new(
            Box::pin(response.bytes_stream()),
            self.config.response_limit(),
        );
        Ok(decode_sse(capped, self.config.name.clone()))
    }

    /// Whether the server answers: `GET {base}/models`.
    pub async fn probe(&self) -> Result<()> {
        self.execute(self.client.get(self.models_url.clone()))
            .await
            .map(drop)
    }

    /// The models the server lists: `GET {base}/models` (OpenAI and OpenRouter shape), else
    /// Ollama's `GET /api/tags` when `/models` answers 404.
    pub async fn list_models(&self) -> Result<Vec<ListedModel>> {
        match listing::fetch(&self.client, &self.config, &self.models_url).await {
            Err(err) => match (&self.tags_url, err.kind()) {
                (Some(tags), ErrorKind::UpstreamStatus { status: 404, .. }) => {
                    listing::fetch(&self.client, &self.config, tags).await
                }
                _ => Err(err),
            },
            listed => listed,
        }
    }

    /// `GET` (or `POST body`) `{server root}/{path}` as JSON within `timeout`: the metadata
    /// endpoints local servers keep beside `/v1`. An `Invalid` error when `base_url` does not end
    /// in `/v1`.
    pub(super) async fn root_json(
        &self,
        path: &str,
        body: Option<&Value>,
        timeout: std::time::Duration,
    ) -> Result<Value> {
        let Some(root) = &self.root else {
            return Err(ErrorKind::Invalid("base_url does not end in /v1".into()).into());
        };
        let url = format!("{root}/{path}");
        let builder = match body {
            Some(body) => self.client.post(url).json(body),
            None => self.client.get(url),
        };
        let request = async {
            let response = self.execute(builder.timeout(timeout)).await?;
            let body =
                super::body::read_capped(&self.config, response, self.config.response_limit())
                    .await?;
            serde_json::from_slice::<Value>(&body).map_err(|e| -> Error {
                ErrorKind::InvalidResponse {
                    provider: self.config.name.clone(),
                    message: format!("{path}: {e}"),
                }
                .into()
            })
        };
        match tokio::time::timeout(timeout, request).await {
            Ok(result) => result,
            Err(_) => Err(ErrorKind::Timeout {
                provider: self.config.name.clone(),
                after: timeout,
            }
            .into()),
        }
    }

    /// `POST {base_url}/{path}` with a body as a client wrote it (the raw passthroughs:
    /// `responses`, `embeddings`, `completions`); a non-2xx answer is `UpstreamStatus`.
    pub(crate) async fn send_raw(&self, path: &str, body: &Value) -> Result<reqwest::Response> {
        let base = self.config.base_url.as_deref().unwrap_or_default();
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        self.execute(self.client.post(url).json(body)).await
    }

    async fn send(&self, body: &ChatRequest) -> Result<reqwest::Response> {
        self.execute(self.client.post(self.endpoint.clone()).json(body))
            .await
    }

    /// Adds the key, sends, and turns a non-2xx answer into `UpstreamStatus`.
    async fn execute(&self, mut builder: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        if let Some(key) = super::api_key(&self.config)? {
            builder = builder.bearer_auth(key);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| Error::from_reqwest(&self.config.name, &e, self.config.timeout))?;
        super::limits::observe(response.headers());
        if response.status().is_success() {
            return Ok(response);
        }
        Err(super::status_error(&self.config.name, response).await)
    }
}

/// An OpenAI-style SSE byte stream → `ChatChunk`s, ending at `data: [DONE]`. Closing before
/// `[DONE]` ends it with `StreamCut`; bad framing, a bad chunk or an in-stream error event ends
/// it with that error. Pure over its input: the `sse_openai` fuzz target feeds it arbitrary
/// bytes in arbitrary pieces.
pub fn decode_sse<S, B, E>(bytes: S, provider: String) -> ChunkStream
where
    S: Stream<Item = std::result::Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let events = super::sse::events(bytes);
    let stream = futures::stream::unfold(
        (Box::pin(events), provider, false),
        |(mut events, provider, done)| async move {
            if done {
                return None;
            }
            loop {
                match events.next().await {
                    None => {
                        let err = ErrorKind::StreamCut {
                            provider: provider.clone(),
                            message: "the stream closed before `data: [DONE]`".into(),
                        };
                        return Some((Err(err.into()), (events, provider, true)));
                    }
                    Some(Err(EventStreamError::Transport(e))) => {
                        let err = match super::body::line_too_long(&e) {
                            Some(limit) => ErrorKind::ResponseTooLarge {
                                provider: provider.clone(),
                                limit,
                            },
                            None => ErrorKind::StreamCut {
                                provider: provider.clone(),
                                message: crate::error::chain_message(&e),
                            },
                        };
                        return Some((Err(err.into()), (events, provider, true)));
                    }
                    Some(Err(e)) => {
                        let err = ErrorKind::InvalidResponse {
                            provider: provider.clone(),
                            message: format!("bad SSE framing: {e}"),
                        };
                        return Some((Err(err.into()), (events, provider, true)));
                    }
                    Some(Ok(event)) => {
                        let data = event.data.trim();
                        if data.is_empty() {
                            continue;
                        }
                        if data == "[DONE]" {
                            return None;
                        }
                        let item = parse_chunk(&provider, data);
                        let failed = item.is_err();
                        return Some((item, (events, provider, failed)));
                    }
                }
            }
        },
    );
    Box::pin(stream)
}

fn parse_chunk(provider: &str, data: &str) -> Result<ChatChunk> {
    if let Ok(value) = serde_json::from_str::<Value>(data)
        && let Some(err) = value.get("error")
    {
        // Some servers report a mid-stream failure as a data event carrying an error object.
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("error event in stream")
            .to_owned();
        return Err(ErrorKind::UpstreamStatus {
            provider: provider.to_owned(),
            status: err.get("code").and_then(Value::as_u64).unwrap_or(500) as u16,
            message,
            retry_after: None,
        }
        .into());
    }
    serde_json::from_str(data).map_err(|e| {
        ErrorKind::InvalidResponse {
            provider: provider.to_owned(),
            message: format!(
                "bad stream chunk ({e}): {}",
                super::snippet(data.as_bytes())
            ),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_events_inside_a_stream_become_upstream_errors() {
        let err = parse_chunk("p", r#"{"error":{"message":"overloaded","code":503}}"#).unwrap_err();
        assert_eq!(err.class(), "upstream_5xx");
        assert!(err.to_string().contains("overloaded"));
    }
}
