//! Anthropic's Messages API, spoken natively. This module owns the `AnthropicBackend` client:
//! construction, the `POST {base}/messages` HTTP call (headers, API key, status errors) and
//! wiring the translators together. The translations themselves live in `request`
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

/// One Anthropic Messages API upstream.
pub struct AnthropicBackend {
    config: ProviderConfig,
    url: String,
    models_url: String,
    client: reqwest::Client,
}

impl AnthropicBackend {
    pub fn new(config: &ProviderConfig) -> Result<Self> {
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        Ok(Self {
            config: config.clone(),
            url: format!("{}/messages", base.trim_end_matches('/')),
            models_url: format!("{}/models", base.trim_end_matches('/')),
            client: super::http_client(config)?,
        })
    }

    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let response = self.send(&messages_request(request, false)?).await?;
        let body = response.bytes().await.map_err(|e| self.transport(&e))?;
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
        Ok(translate_events(
            response.bytes_stream(),
            translator,
            move |e| Error::from_reqwest(&provider, &e, timeout),
        ))
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
        let mut request = self
            .client
            .post(&self.url)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(body);
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

#[cfg(test)]
mod tests {
    use fusion_types::{ChatChunk, Usage};
    use futures::StreamExt;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::stream::tests::TEXT_STREAM;
    use super::*;

    fn config(base_url: Option<String>) -> ProviderConfig {
        let mut config: ProviderConfig =
            serde_json::from_value(json!({"name": "claude", "kind": "anthropic"})).unwrap();
        config.base_url = base_url;
        config.api_key = Some("sk-test".into());
        config
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

    /// Answers one HTTP request with `response`; the handle yields the raw request.
    async fn serve_once(response: String) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
                let Some(end) = text.find("\r\n\r\n") else {
                    continue;
                };
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                if n == 0 || raw.len() >= end + 4 + length {
                    break;
                }
            }
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
            String::from_utf8_lossy(&raw).into_owned()
        });
        (url, handle)
    }

    fn http(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn chat_posts_to_messages_with_key_and_version_headers() {
        let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
            "content":[{"type":"text","text":"Paris."}],"stop_reason":"end_turn",
            "usage":{"input_tokens":12,"output_tokens":3}}"#;
        let (url, seen) = serve_once(http("200 OK", "", body)).await;
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
        let raw = seen.await.unwrap();
        let lower = raw.to_ascii_lowercase();
        assert!(raw.starts_with("POST /v1/messages HTTP/1.1"), "{raw}");
        assert!(lower.contains("x-api-key: sk-test"), "{raw}");
        assert!(lower.contains("anthropic-version: 2023-06-01"), "{raw}");
        assert!(lower.contains("content-type: application/json"), "{raw}");
        assert!(raw.contains(r#""system":"Terse.""#), "{raw}");
    }

    #[tokio::test]
    async fn error_status_carries_upstream_message_and_retry_after() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;
        let (url, _seen) =
            serve_once(http("429 Too Many Requests", "retry-after: 17\r\n", body)).await;
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
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{sse}"
        );
        let (url, seen) = serve_once(response).await;
        let backend = AnthropicBackend::new(&config(Some(url))).unwrap();
        let stream = backend
            .chat_stream(&ChatRequest::simple("m", None, "hi"))
            .await
            .unwrap();
        let chunks: Vec<ChatChunk> = stream.map(|c| c.unwrap()).collect().await;
        let text: String = chunks.iter().filter_map(ChatChunk::delta_text).collect();
        assert_eq!(text, "Hello!");
        assert!(seen.await.unwrap().contains(r#""stream":true"#));
    }
}
