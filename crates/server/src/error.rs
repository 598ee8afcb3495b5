//! Errors as OpenAI clients expect them: `{"error": {"message", "type", "param", "code"}}` with
//! the matching HTTP status. Engine errors are mapped here, in one place, naming every kind;
//! their messages name the provider and the upstream's reason but never a secret. A 500 (and a
//! store failure of any status) answers a fixed text and a `request_id` (also in the
//! `x-request-id` header); the detail, database URL and driver text included, is only logged
//! under that id.

use axum::http::StatusCode;
use axum::http::header::HeaderValue;
use axum::response::{IntoResponse, Response};
use fusion_core::ErrorKind;
use fusion_core::error::ClientError;
use fusion_core::store::StoreFailure;
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
    /// Seconds for a `Retry-After` header: an upstream's, passed on with its 429, or a busy
    /// store's.
    retry_after: Option<u64>,
    /// The id the withheld detail is logged under (also the `x-request-id` header).
    request_id: Option<String>,
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
            request_id: None,
        }))
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    fn param(mut self, param: impl Into<String>) -> Self {
        self.0.param = Some(param.into());
        self
    }

    pub(crate) fn code(mut self, code: impl Into<String>) -> Self {
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

    /// 500: a failure inside Fusion itself. `detail` is logged under a fresh request id; the
    /// client gets a fixed text and that id.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::withheld(ClientError::internal(&detail.into()))
    }

    /// The 500 for an answer whose detail stayed in the log.
    fn withheld(client: ClientError) -> Self {
        let mut err = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            client.message,
        )
        .code("internal_error");
        err.0.request_id = client.request_id;
        err
    }

    /// The id the detail of this answer is logged under, when it was withheld.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
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
    /// 422: a configuration file that was rejected (`param` is its dotted key; the file, key
    /// and reason also travel in the body's `fusion` field).
    pub fn invalid_config(rejected: &fusion_core::runtime::ReloadError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_error",
            format!("the configuration was not reloaded; the running one stays: {rejected}"),
        )
        .param(rejected.key.clone())
        .code("invalid_config")
        .with_trace(json!({
            "file": rejected.file,
            "key": rejected.key,
            "reason": rejected.reason,
        }))
    }

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
        if let Some(id) = &e.request_id {
            body["error"]["request_id"] = json!(id);
        }
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
        let client = err.for_client();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Whatever the kind, a 500 answers only the fixed text and its request id.
            return Self::withheld(client);
        }
        let mut api = Self::from_kind(err.kind(), err.class(), status, client.message);
        api.0.request_id = client.request_id;
        if status == StatusCode::TOO_MANY_REQUESTS {
            api.0.retry_after = err.retry_after();
        }
        if let ErrorKind::Store(store) = err.kind()
            && store.failure().is_retryable()
        {
            api.0.retry_after = Some(1);
        }
        api
    }
}

impl ApiError {
    /// The OpenAI error type and code for each kind (`class` is the engine's class name). A
    /// routed call that failed on every model answers as its last failure did.
    fn from_kind(kind: &ErrorKind, class: &str, status: StatusCode, message: String) -> Self {
        match kind {
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
            ErrorKind::NoModelServer { .. } => {
                Self::new(status, "server_error", message).code(class)
            }
            ErrorKind::TaskNotFound { .. }
            | ErrorKind::JobNotFound { .. }
            | ErrorKind::LoopRunNotFound { .. } => {
                Self::new(status, "not_found_error", message).code(class)
            }
            ErrorKind::TaskFinished { .. }
            | ErrorKind::JobFinished { .. }
            | ErrorKind::LoopRunClosed { .. }
            | ErrorKind::Cancelled { .. } => {
                Self::new(status, "invalid_request_error", message).code(class)
            }
            ErrorKind::Store(store) => {
                let code = match store.failure() {
                    StoreFailure::Other => "internal_error",
                    failure @ (StoreFailure::Busy
                    | StoreFailure::UniqueViolation
                    | StoreFailure::PoolTimedOut) => failure.class(),
                };
                Self::new(status, "server_error", message).code(code)
            }
            ErrorKind::Config(_) | ErrorKind::MissingApiKey { .. } => {
                Self::new(status, "server_error", message).code("internal_error")
            }
            ErrorKind::RouteExhausted { last, .. } => {
                Self::from_kind(last.kind(), class, status, message)
            }
            ErrorKind::Connect { .. }
            | ErrorKind::ConnectionReset { .. }
            | ErrorKind::UpstreamStatus { .. }
            | ErrorKind::InvalidResponse { .. }
            | ErrorKind::ResponseTooLarge { .. }
            | ErrorKind::StreamCut { .. }
            | ErrorKind::Exec { .. }
            | ErrorKind::Request { .. } => Self::new(status, "upstream_error", message).code(class),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.0;
        if e.status.is_server_error() {
            tracing::warn!(
                status = e.status.as_u16(),
                code = ?e.code,
                request_id = ?e.request_id,
                "{}",
                e.message
            );
        }
        let mut response = (e.status, axum::Json(self.body())).into_response();
        if let Some(secs) = e.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if let Some(id) = e.request_id.as_deref()
            && let Ok(value) = HeaderValue::from_str(id)
        {
            response.headers_mut().insert("x-request-id", value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fusion_core::error::{AttemptFailure, RouteAttempt};
    use fusion_core::store::StoreError;

    use super::*;

    fn api(kind: ErrorKind) -> ApiError {
        fusion_core::Error::from(kind).into()
    }

    async fn answer(err: ApiError) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = err.into_response();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[test]
    fn a_missing_loop_run_is_404_not_found() {
        let err = api(ErrorKind::LoopRunNotFound { id: "r9".into() });
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        let body = err.body();
        assert_eq!(body["error"]["type"], "not_found_error");
        assert_eq!(body["error"]["code"], "loop_run_not_found");
    }

    #[test]
    fn a_cancelled_task_is_409() {
        let err = api(ErrorKind::Cancelled {
            reason: "cancelled by cancel_task".into(),
        });
        assert_eq!(err.status(), StatusCode::CONFLICT);
        let body = err.body();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "cancelled");
        assert_eq!(body["error"]["message"], "cancelled by cancel_task");
        let closed = api(ErrorKind::LoopRunClosed {
            id: "r1".into(),
            status: "complete".into(),
        });
        assert_eq!(closed.status(), StatusCode::CONFLICT);
        assert_eq!(closed.body()["error"]["type"], "invalid_request_error");
    }

    #[tokio::test]
    async fn a_500_answers_a_request_id_and_no_driver_text() {
        let store = StoreError::other(
            "reading tasks (postgres://fusion:***@db:5432/fusion): error returned from \
             database: relation \"tasks\" does not exist",
        );
        let (status, headers, body) = answer(api(ErrorKind::Store(store))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let id = body["error"]["request_id"].as_str().unwrap().to_owned();
        assert_eq!(headers["x-request-id"], id.as_str());
        assert_eq!(
            body["error"]["message"],
            format!("internal error in Fusion (request id {id})")
        );
        assert_eq!(body["error"]["type"], "server_error");
        assert_eq!(body["error"]["code"], "internal_error");
        let text = body.to_string();
        for leak in ["postgres", "relation", "database", "tasks"] {
            assert!(!text.contains(leak), "{leak} leaked: {text}");
        }
        // Any 500, not only the store's: a missing key names no variable to the client.
        let (_, _, body) = answer(api(ErrorKind::MissingApiKey {
            provider: "p".into(),
            env: "SECRET_ENV".into(),
        }))
        .await;
        assert!(!body.to_string().contains("SECRET_ENV"), "{body}");
        assert_eq!(body["error"]["code"], "internal_error");
        // A bug caught by the panic layer answers the same way.
        let (_, headers, body) = answer(ApiError::internal("a handler panicked")).await;
        assert!(headers.contains_key("x-request-id"));
        assert!(!body.to_string().contains("panicked"), "{body}");
    }

    #[tokio::test]
    async fn exhausted_fallbacks_answer_as_the_last_failure_naming_every_attempt() {
        let first: fusion_core::Error = ErrorKind::Timeout {
            provider: "p".into(),
            after: Duration::from_secs(2),
        }
        .into();
        let last: fusion_core::Error = ErrorKind::UpstreamStatus {
            provider: "p".into(),
            status: 429,
            message: "slow down".into(),
            retry_after: Some(4),
        }
        .into();
        let err = api(ErrorKind::RouteExhausted {
            attempts: vec![RouteAttempt {
                model: "m1".into(),
                failure: AttemptFailure::Failed(first),
            }],
            last_model: "m2".into(),
            last: Box::new(last),
        });
        let (status, headers, body) = answer(err).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[axum::http::header::RETRY_AFTER], "4");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("m1: provider `p`: no answer"), "{message}");
        assert!(
            message.contains("m2: provider `p`: upstream returned HTTP 429"),
            "{message}"
        );
    }

    #[test]
    fn upstream_failures_stay_upstream_errors_with_their_reason() {
        let err = api(ErrorKind::UpstreamStatus {
            provider: "p".into(),
            status: 500,
            message: "boom".into(),
            retry_after: None,
        });
        assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
        let body = err.body();
        assert_eq!(body["error"]["type"], "upstream_error");
        assert_eq!(body["error"]["code"], "upstream_5xx");
        assert!(body["error"]["message"].as_str().unwrap().contains("boom"));
        assert!(body["error"].get("request_id").is_none());
    }
}
