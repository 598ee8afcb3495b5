//! Errors as OpenAI clients expect them: `{"error": {"message", "type", "param", "code"}}` with
//! the matching HTTP status. Engine errors are mapped here, in one place; their messages name
//! the provider and the upstream's reason but never a secret.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fusion_core::ErrorKind;
use serde_json::{Value, json};

/// An error response (boxed: it travels in `Result`s on every request path).
#[derive(Debug)]
pub struct ApiError(Box<Details>);

#[derive(Debug)]
struct Details {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<String>,
    code: Option<String>,
    /// A council trace attached to the error body as a top-level `fusion` field.
    trace: Option<Value>,
    /// Seconds for a `Retry-After` header: an upstream's, passed on with its 429.
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            trace: None,
            retry_after: None,
        }))
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    fn param(mut self, param: impl Into<String>) -> Self {
        self.0.param = Some(param.into());
        self
    }

    fn code(mut self, code: impl Into<String>) -> Self {
        self.0.code = Some(code.into());
        self
    }

    pub(crate) fn with_trace(mut self, trace: Value) -> Self {
        self.0.trace = Some(trace);
        self
    }

    /// 400: the body is not a valid request; `param` names the offending field when known.
    pub fn bad_request(message: impl Into<String>, param: Option<String>) -> Self {
        let mut err = Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message);
        err.0.param = param;
        err
    }

    /// 500: a failure inside Fusion itself.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message).code("internal_error")
    }

    /// 401: no bearer key, or not one of the accepted keys.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "missing or invalid API key: send `Authorization: Bearer <key>` with a key from \
             server.api_keys_env",
        )
        .code("invalid_api_key")
    }

    /// 503: a part of Fusion this request needs is not available.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message).code("unavailable")
    }

    /// 404 for a path.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message).code("not_found")
    }

    /// 404 for a model or council name.
    pub fn unknown_model(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
            .param("model")
            .code("model_not_found")
    }

    /// 413: the body is larger than `server.max_body_bytes`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!(
                "the request body is larger than the limit of {limit} bytes (server.max_body_bytes)"
            ),
        )
        .code("request_too_large")
    }

    /// 403: a browser page of another origin, or a `Host` this server does not answer to.
    pub fn forbidden(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "invalid_request_error", message).code(code)
    }

    /// 415: a body on a JSON route that is not declared `application/json`.
    pub fn unsupported_media_type(found: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            format!(
                "the request body must be JSON, sent with `Content-Type: application/json` \
                 (got `{found}`)"
            ),
        )
        .code("unsupported_media_type")
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("method {method} is not allowed on {path}"),
        )
        .code("method_not_allowed")
    }

    /// The JSON body, also used for `data:` error events inside a stream.
    pub fn body(&self) -> Value {
        let e = &self.0;
        let mut body = json!({
            "error": {
                "message": e.message,
                "type": e.kind,
                "param": e.param,
                "code": e.code,
            }
        });
        if let Some(trace) = &e.trace {
            body["fusion"] = trace.clone();
        }
        body
    }
}

impl From<fusion_core::Error> for ApiError {
    fn from(err: fusion_core::Error) -> Self {
        let status =
            StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = err.to_string();
        let mut api = Self::from_kind(&err, status, message);
        if status == StatusCode::TOO_MANY_REQUESTS {
            api.0.retry_after = err.retry_after();
        }
        api
    }
}

impl ApiError {
    fn from_kind(err: &fusion_core::Error, status: StatusCode, message: String) -> Self {
        match err.kind() {
            ErrorKind::UnknownModel { .. } => Self::unknown_model(message),
            ErrorKind::Invalid(_) => Self::bad_request(message, None),
            ErrorKind::QueueFull { .. } => {
                Self::new(status, "rate_limit_error", message).code("queue_full")
            }
            ErrorKind::UpstreamStatus { status: 429, .. } | ErrorKind::RateLimited { .. } => {
                Self::new(status, "rate_limit_error", message).code("rate_limit_exceeded")
            }
            ErrorKind::Timeout { .. } => {
                Self::new(status, "upstream_error", message).code("upstream_timeout")
            }
            ErrorKind::NoRoute { .. } => {
                Self::new(status, "server_error", message).code("no_route")
            }
            ErrorKind::TaskNotFound { .. } | ErrorKind::JobNotFound { .. } => {
                Self::new(status, "not_found_error", message).code(err.class())
            }
            ErrorKind::TaskFinished { .. } | ErrorKind::JobFinished { .. } => {
                Self::new(status, "invalid_request_error", message).code(err.class())
            }
            ErrorKind::Config(_) | ErrorKind::MissingApiKey { .. } | ErrorKind::Store(_) => {
                Self::new(status, "server_error", message).code(err.class())
            }
            _ => Self::new(status, "upstream_error", message).code(err.class()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.0;
        if e.status.is_server_error() {
            tracing::warn!(status = e.status.as_u16(), code = ?e.code, "{}", e.message);
        }
        let mut response = (e.status, axum::Json(self.body())).into_response();
        if let Some(secs) = e.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
