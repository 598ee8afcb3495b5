//! Anthropic's Messages API, spoken natively. This module owns the `AnthropicBackend` client:
//! construction (a `base_url` without a path, as `ANTHROPIC_BASE_URL` is written, gets `/v1`
//! like the official SDKs add it), the `POST {base}/messages` HTTP call (headers, API key,
//! status errors; also raw, for the `/v1/messages` passthrough) and wiring the translators
//! together. The translations themselves live in `request`
//! (`ChatRequest` → Messages body), `response` (Messages JSON → `ChatResponse`) and `stream`
//! (SSE events → `ChatChunk`s).

mod request;
mod response;
mod stream;

use fusion_types::{ChatRequest, ChatResponse};
use serde_json::Value;

use self::request::messages_request;
use self::response::parse_response;
use self::stream::{StreamTranslator, translate_events};
use super::ChunkStream;
use crate::config::ProviderConfig;
use crate::{Error, ErrorKind, Result};

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Translates Anthropic SSE bytes, given in the pieces they arrived in, into chunks exactly as
/// `chat_stream` does (the entry point of the `sse_anthropic` fuzz target).
pub fn translate_sse(pieces: Vec<Vec<u8>>, provider: &str, model: &str) -> ChunkStream {
    let bytes = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::convert::Infallible>));
    translate_events(
        bytes,
        StreamTranslator::new(provider, model),
        |never| match never {},
    )
}

/// One Anthropic Messages API upstream.
pub struct AnthropicBackend {
    config: ProviderConfig,
    url: String,
    models_url: String,
    client: reqwest::Client,
}

impl AnthropicBackend {
    pub fn new(config: &ProviderConfig) -> Result<Self> {
        let base = api_base(config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL));
        Ok(Self {
            config: config.clone(),
            url: format!("{base}/messages"),
            models_url: format!("{base}/models"),
            client: super::http_client(config)?,
        })
    }

    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let response = self.send(&messages_request(request, false)?).await?;
        let body =
            super::body::read_capped(&self.config, response, self.config.response_limit()).await?;
        parse_response(&body).map_err(|message| {
            ErrorKind::InvalidResponse {
                provider: self.config.name.clone(),
                message,
            }
            .into()
        })
    }

    pub async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream> {
        let response = self.send(&messages_request(request, true)?).await?;
        let translator = StreamTranslator::new(&self.config.name, &request.model);
        let (provider, timeout) = (self.config.name.clone(), self.config.timeout);
        let limit = self.config.response_limit();
        let capped = super::body::CappedLines::new(Box::pin(response.bytes_stream()), limit);
        Ok(translate_events(capped, translator, move |e| match e {
            super::body::CappedError::Upstream(e) => Error::from_reqwest(&provider, &e, timeout),
            super::body::CappedError::LineTooLong(too_long) => ErrorKind::ResponseTooLarge {
                provider: provider.clone(),
                limit: too_long.0,
            }
            .into(),
        }))
    }

    /// Whether the API answers with this key: `GET {base}/models`.
    pub async fn probe(&self) -> Result<()> {
        let mut request = self
            .client
            .get(&self.models_url)
            .header("anthropic-version", ANTHROPIC_VERSION);
        if let Some(key) = super::api_key(&self.config)? {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(super::status_error(&self.config.name, response).await)
    }

    /// Sends one request; a non-2xx answer becomes `UpstreamStatus`.
    async fn send(&self, body: &Value) -> Result<reqwest::Response> {
        self.send_raw(body, &[]).await
    }

    /// Sends a Messages body as a client wrote it (its `model` already the upstream's), with
    /// the client's `anthropic-version` / `anthropic-beta` headers in `forward` (they replace
    /// Fusion's own version header); a non-2xx answer becomes `UpstreamStatus`.
    pub(crate) async fn send_raw(
        &self,
        body: &Value,
        forward: &[(String, String)],
    ) -> Result<reqwest::Response> {
        let mut request = self.client.post(&self.url).json(body);
        if !forward.iter().any(|(name, _)| name == "anthropic-version") {
            request = request.header("anthropic-version", ANTHROPIC_VERSION);
        }
        for (name, value) in forward {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(key) = super::api_key(&self.config)? {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(super::status_error(&self.config.name, response).await)
    }

    fn transport(&self, err: &reqwest::Error) -> Error {
        Error::from_reqwest(&self.config.name, err, self.config.timeout)
    }
}

/// The API root for `base_url`: as given, or with `/v1` added when it has no path
/// (`http://host:port`, how `ANTHROPIC_BASE_URL` is written), as the official SDKs read it.
fn api_base(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    match reqwest::Url::parse(base) {
        Ok(url) if url.path().trim_matches('/').is_empty() => format!("{base}/v1"),
        _ => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use fusion_types::{ChatChunk, Usage};
    use futures::StreamExt;
    use serde_json::json;

    use super::stream::tests::TEXT_STREAM;
    use super::*;

    fn config(base_url: Option<String>) -> ProviderConfig {
        let mut config: ProviderConfig =
            serde_json::from_value(json!({"name": "claude", "kind": "anthropic"})).unwrap();
        config.base_url = base_url;
        config.api_key = Some("sk-test".into());
        config
    }

    #[test]
    fn a_base_url_without_a_path_gets_v1_as_the_official_sdk_adds_it() {
        for (base, root) in [
            ("http://127.0.0.1:8787", "http://127.0.0.1:8787/v1"),
            ("http://127.0.0.1:8787/", "http://127.0.0.1:8787/v1"),
            ("http://127.0.0.1:8787/v1", "http://127.0.0.1:8787/v1"),
            ("http://127.0.0.1:8787/v1/", "http://127.0.0.1:8787/v1"),
            (
                "https://gateway.example/anthropic",
                "https://gateway.example/anthropic",
            ),
        ] {
            assert_eq!(api_base(base), root, "{base}");
        }
    }

    #[tokio::test]
    async fn a_base_url_without_v1_posts_to_v1_messages() {
        let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
            "content":[{"type":"text","text":"Hi."}],"stop_reason":"end_turn",
            "usage":{"input_tokens":2,"output_tokens":1}}"#;
        let json = [("content-type", "application/json")];
        let (url, seen) = fake_anthropic(200, &json, body.to_owned()).await;
        let root = url.trim_end_matches("/v1").to_owned();
        let backend = AnthropicBackend::new(&config(Some(root))).unwrap();
        let response = backend
            .chat(&ChatRequest::simple("claude-x", None, "hi"))
            .await
            .unwrap();
        assert_eq!(response.first_text(), "Hi.");
        assert_eq!(seen.await.unwrap().path, "/v1/messages");
    }

    #[tokio::test]
    async fn missing_api_key_env_is_reported_before_any_request() {
        let mut config = config(Some("http://127.0.0.1:9/v1".into()));
        config.api_key = None;
        config.api_key_env = Some("FUSION_TEST_SURELY_UNSET_ANTHROPIC_KEY".into());
        let backend = AnthropicBackend::new(&config).unwrap();
        let err = backend
            .chat(&ChatRequest::simple("m", None, "hi"))
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::MissingApiKey { .. }),
            "{err}"
        );
    }

    /// What the stand-in server received.
    struct Seen {
        path: String,
        headers: axum::http::HeaderMap,
        body: String,
    }

    /// A stand-in Anthropic API on axum: answers `POST /v1/messages` with `status`, `headers`
    /// and `body`, and hands back the request it received.
    async fn fake_anthropic(
        status: u16,
        headers: &[(&'static str, &str)],
        body: String,
    ) -> (String, tokio::sync::oneshot::Receiver<Seen>) {
        use axum::http::{HeaderName, HeaderValue, StatusCode};
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
        let mut reply = axum::http::HeaderMap::new();
        for (name, value) in headers {
            reply.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let app = axum::Router::new().route(
            "/v1/messages",
            axum::routing::post(
                move |uri: axum::http::Uri,
                      request_headers: axum::http::HeaderMap,
                      request: String| {
                    let (tx, reply, body) = (tx.clone(), reply.clone(), body.clone());
                    async move {
                        if let Some(tx) = tx.lock().unwrap().take() {
                            let _ = tx.send(Seen {
                                path: uri.path().to_owned(),
                                headers: request_headers,
                                body: request,
                            });
                        }
                        (StatusCode::from_u16(status).unwrap(), reply, body)
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, rx)
    }

    fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
        seen.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn chat_posts_to_messages_with_key_and_version_headers() {
        let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
            "content":[{"type":"text","text":"Paris."}],"stop_reason":"end_turn",
            "usage":{"input_tokens":12,"output_tokens":3}}"#;
        let json = [("content-type", "application/json")];
        let (url, seen) = fake_anthropic(200, &json, body.to_owned()).await;
        let backend = AnthropicBackend::new(&config(Some(url))).unwrap();
        let response = backend
            .chat(&ChatRequest::simple(
                "claude-x",
                Some("Terse."),
                "Capital of France?",
            ))
            .await
            .unwrap();
        assert_eq!(response.first_text(), "Paris.");
        assert_eq!(response.usage, Some(Usage::new(12, 3, false)));
        let seen = seen.await.unwrap();
        assert_eq!(seen.path, "/v1/messages");
        assert_eq!(header(&seen, "x-api-key"), "sk-test");
        assert_eq!(header(&seen, "anthropic-version"), "2023-06-01");
        assert_eq!(header(&seen, "content-type"), "application/json");
        assert!(seen.body.contains(r#""system":"Terse.""#), "{}", seen.body);
    }

    #[tokio::test]
    async fn error_status_carries_upstream_message_and_retry_after() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;
        let headers = [("content-type", "application/json"), ("retry-after", "17")];
        let (url, _seen) = fake_anthropic(429, &headers, body.to_owned()).await;
        let backend = AnthropicBackend::new(&config(Some(url))).unwrap();
        let err = backend
            .chat(&ChatRequest::simple("m", None, "hi"))
            .await
            .unwrap_err();
        match err.kind() {
            ErrorKind::UpstreamStatus {
                status,
                message,
                retry_after,
                ..
            } => {
                assert_eq!(*status, 429);
                assert!(message.starts_with("Number of request tokens"), "{message}");
                assert_eq!(*retry_after, Some(17));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn chat_stream_reads_sse_over_http() {
        let sse =
            format!("{TEXT_STREAM}event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n");
        let (url, seen) = fake_anthropic(200, &[("content-type", "text/event-stream")], sse).await;
        let backend = AnthropicBackend::new(&config(Some(url))).unwrap();
        let stream = backend
            .chat_stream(&ChatRequest::simple("m", None, "hi"))
            .await
            .unwrap();
        let chunks: Vec<ChatChunk> = stream.map(|c| c.unwrap()).collect().await;
        let text: String = chunks.iter().filter_map(ChatChunk::delta_text).collect();
        assert_eq!(text, "Hello!");
        assert!(seen.await.unwrap().body.contains(r#""stream":true"#));
    }
}
