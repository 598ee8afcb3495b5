//! Errors in Anthropic's shape: `{"type":"error","error":{"type","message"}}` with the HTTP
//! status, the error type named after it as Anthropic names its own (`invalid_request_error`,
//! `not_found_error`, `rate_limit_error`, `api_error`, ...). Fusion's own errors (`ApiError`)
//! keep their status, message, `Retry-After` and `x-request-id`; a passthrough upstream's 4xx
//! keeps the upstream's status and message. Inside a stream the same body is an `error` event.

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ApiError;

/// An error answered in Anthropic's shape.
#[derive(Debug)]
pub(crate) struct MessagesError {
    status: StatusCode,
    message: String,
    /// Fusion's own answer, when the error came from it: its headers are kept.
    api: Option<ApiError>,
}

impl MessagesError {
    /// 400 `invalid_request_error`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            api: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn set_message(&mut self, message: impl Into<String>) {
        self.message = message.into();
    }

    /// The body: also the data of an `error` event.
    pub(crate) fn body(&self) -> Value {
        json!({
            "type": "error",
            "error": { "type": error_type(self.status), "message": self.message },
        })
    }

    /// An engine error: a passthrough upstream's refusal (4xx) keeps its status and message;
    /// everything else answers as Fusion's API does.
    pub(crate) fn from_core(err: fusion_core::Error) -> Self {
        if let fusion_core::ErrorKind::UpstreamStatus {
            status, message, ..
        } = err.kind()
            && (400..500).contains(status)
            && *status != 429
            && let Ok(status) = StatusCode::from_u16(*status)
        {
            return Self {
                status,
                message: message.clone(),
                api: None,
            };
        }
        ApiError::from(err).into()
    }
}

impl From<ApiError> for MessagesError {
    fn from(api: ApiError) -> Self {
        let message = api.body()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Self {
            status: api.status(),
            message,
            api: Some(api),
        }
    }
}

impl IntoResponse for MessagesError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut response = match self.api {
            // Fusion's answer (its log line, `Retry-After`, `x-request-id`) with this body.
            Some(api) => api.into_response(),
            None => self.status.into_response(),
        };
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.remove(CONTENT_LENGTH);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        *response.body_mut() = Body::from(body);
        response
    }
}

/// Anthropic's error type for a status.
pub(crate) fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 405 | 409 | 415 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        // Not 503: Fusion's are "no model can take this" (a reason the user must read), and
        // clients show `overloaded_error` as "the API is at capacity", dropping the message.
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(err: MessagesError) -> (StatusCode, axum::http::HeaderMap, Value) {
        let (parts, body) = err.into_response().into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn fusion_errors_keep_status_message_and_headers_in_anthropic_shape() {
        let (status, _, body) = answer(ApiError::unknown_model("unknown model `x`").into()).await;
        assert_eq!(status, 404);
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "not_found_error");
        assert_eq!(body["error"]["message"], "unknown model `x`");
        let limited: fusion_core::Error = fusion_core::ErrorKind::UpstreamStatus {
            provider: "p".into(),
            status: 429,
            message: "slow down".into(),
            retry_after: Some(3),
        }
        .into();
        let (status, headers, body) = answer(MessagesError::from_core(limited)).await;
        assert_eq!(status, 429);
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(error_type(StatusCode::SERVICE_UNAVAILABLE), "api_error");
        assert_eq!(error_type(StatusCode::NOT_FOUND), "not_found_error");
        let (status, _, body) = answer(ApiError::too_large(10).into()).await;
        assert_eq!(status, 413);
        assert_eq!(body["error"]["type"], "request_too_large");
    }

    #[tokio::test]
    async fn a_passthrough_refusal_keeps_the_upstream_status_and_message() {
        let refused: fusion_core::Error = fusion_core::ErrorKind::UpstreamStatus {
            provider: "claude".into(),
            status: 400,
            message: "max_tokens: too large".into(),
            retry_after: None,
        }
        .into();
        let (status, _, body) = answer(MessagesError::from_core(refused)).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["message"], "max_tokens: too large");
        let failed: fusion_core::Error = fusion_core::ErrorKind::UpstreamStatus {
            provider: "claude".into(),
            status: 500,
            message: "boom".into(),
            retry_after: None,
        }
        .into();
        let (status, _, body) = answer(MessagesError::from_core(failed)).await;
        assert_eq!(status, 502);
        assert_eq!(body["error"]["type"], "api_error");
    }
}
