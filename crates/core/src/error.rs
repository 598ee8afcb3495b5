//! The engine's one error type: an `ErrorKind` of classified details wrapped in a small `Error`,
//! with `status_code()` for front doors and `is_retryable()` for the registry's retry loop.
//! Upstream failures are classified by walking the `source()` chain, not by matching strings;
//! store failures keep the driver's error as their source (see [`crate::store::StoreError`]).
//! Every mapping here names each kind: a new kind does not compile until it has a status.
//! [`Error::for_client`] is what a front door may show: internal failures answer a fixed text
//! and a request id, their detail only in the log.

use std::error::Error as StdError;
use std::time::Duration;

use crate::config::ConfigError;
use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An engine error. Cheap to move (boxed details).
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    kind: Box<ErrorKind>,
}

/// What went wrong, classified.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("unknown model `{model}`; configured models: {known}")]
    UnknownModel { model: String, known: String },
    #[error("provider `{provider}`: environment variable {env} (api_key_env) is not set")]
    MissingApiKey { provider: String, env: String },
    #[error("provider `{provider}`: cannot connect: {message}")]
    Connect { provider: String, message: String },
    #[error("provider `{provider}`: connection reset: {message}")]
    ConnectionReset { provider: String, message: String },
    #[error("provider `{provider}`: no answer within {}", humantime::format_duration(*after))]
    Timeout { provider: String, after: Duration },
    #[error("provider `{provider}`: upstream returned HTTP {status}: {message}")]
    UpstreamStatus {
        provider: String,
        status: u16,
        message: String,
        /// Seconds from a `Retry-After` header, when the upstream sent one.
        retry_after: Option<u64>,
    },
    #[error("provider `{provider}`: too many calls waiting ({limit} queued); try again shortly")]
    QueueFull { provider: String, limit: usize },
    #[error("provider `{provider}`: invalid response: {message}")]
    InvalidResponse { provider: String, message: String },
    #[error(
        "provider `{provider}`: the answer is larger than {limit} bytes \
         (providers[].max_response_bytes); it was not read"
    )]
    ResponseTooLarge { provider: String, limit: u64 },
    #[error("provider `{provider}`: stream ended early: {message}")]
    StreamCut { provider: String, message: String },
    #[error("provider `{provider}`: command failed: {message}")]
    Exec { provider: String, message: String },
    #[error("provider `{provider}`: request failed: {message}")]
    Request { provider: String, message: String },
    #[error("no model server answered; probed {probed}. {hint}")]
    NoModelServer { probed: String, hint: String },
    /// Routing found no model to send the task to.
    #[error("no model can take this request: {reason}")]
    NoRoute { reason: String },
    /// Routing found no model now, only because providers limit the ones that fit (HTTP 429
    /// cooldowns, used-up daily caps); `retry_after` is when the soonest may be called again.
    #[error("no model can take this request now: {reason}; retry in {retry_after} s")]
    RateLimited { reason: String, retry_after: u64 },
    /// Every routed candidate failed: `attempts` are the models tried (or passed over) before
    /// the last, in order, each with its error; `last` is the final call's failure, which sets
    /// the status (and a 429's `Retry-After`).
    #[error(
        "every routed model failed: {}",
        attempt_list(attempts, last_model, last)
    )]
    RouteExhausted {
        attempts: Vec<RouteAttempt>,
        last_model: String,
        last: Box<Error>,
    },
    #[error("{0}")]
    Invalid(String),
    /// The store failed; the driver's error is kept as the source and classifies it.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// No task has this id.
    #[error("no task with id `{id}`")]
    TaskNotFound { id: String },
    /// No job has this id.
    #[error("no job with id `{id}`")]
    JobNotFound { id: String },
    /// The task already ended (`completed`, `failed` or `cancelled`); it cannot be cancelled.
    #[error("task `{id}` is already {state}; only queued or running tasks can be cancelled")]
    TaskFinished { id: String, state: String },
    /// The job already ended; it cannot be cancelled.
    #[error("job `{id}` is already {state}; only queued or running jobs can be cancelled")]
    JobFinished { id: String, state: String },
    /// The work was cancelled on purpose (`reason` says by what, e.g. "cancelled by cancel_job").
    #[error("{reason}")]
    Cancelled { reason: String },
    /// No loop run has this id.
    #[error("no loop run with id `{id}`; start one with looped_start")]
    LoopRunNotFound { id: String },
    /// The loop run has ended (`complete`); it takes no more reports, checks or reviews.
    #[error("loop run `{id}` is already {status}; start a new run with looped_start")]
    LoopRunClosed { id: String, status: String },
}

/// A model a routed call tried, or passed over, before it gave up.
#[derive(Debug)]
pub struct RouteAttempt {
    pub model: String,
    pub failure: AttemptFailure,
}

/// Why a routed attempt did not answer.
#[derive(Debug)]
pub enum AttemptFailure {
    /// The model was called and failed with this error.
    Failed(Error),
    /// The model was not called: its provider's limits or its open circuit kept it out.
    Skipped(String),
}

impl std::fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(err) => err.fmt(f),
            Self::Skipped(reason) => write!(f, "skipped: {reason}"),
        }
    }
}

/// `a: <error>; b: skipped: <why>; c: <last error>`.
fn attempt_list(attempts: &[RouteAttempt], last_model: &str, last: &Error) -> String {
    attempts
        .iter()
        .map(|a| format!("{}: {}", a.model, a.failure))
        .chain(std::iter::once(format!("{last_model}: {last}")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a client may be told about an error (see [`Error::for_client`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// The text to answer with.
    pub message: String,
    /// Set when the detail was withheld: the id it is logged under.
    pub request_id: Option<String>,
}

impl ClientError {
    /// A failure whose detail stays in the log: logs `detail` at error level under a fresh
    /// request id and answers only that id.
    pub fn internal(detail: &str) -> Self {
        let request_id = new_request_id();
        tracing::error!(request_id = %request_id, "internal error: {detail}");
        Self {
            message: format!("internal error in Fusion (request id {request_id})"),
            request_id: Some(request_id),
        }
    }
}

/// A fresh id for one answered failure: 16 random hex digits.
pub fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Error {
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Whether the same call may succeed if tried again: refused or reset connections,
    /// timeouts, HTTP 429 and 5xx, cut streams. Never other 4xx or local mistakes.
    /// A busy store or a pool timeout may clear too.
    pub fn is_retryable(&self) -> bool {
        match &*self.kind {
            ErrorKind::Connect { .. }
            | ErrorKind::ConnectionReset { .. }
            | ErrorKind::Timeout { .. }
            | ErrorKind::StreamCut { .. } => true,
            ErrorKind::UpstreamStatus { status, .. } => *status == 429 || *status >= 500,
            ErrorKind::Store(store) => store.failure().is_retryable(),
            ErrorKind::Config(_)
            | ErrorKind::UnknownModel { .. }
            | ErrorKind::MissingApiKey { .. }
            | ErrorKind::QueueFull { .. }
            | ErrorKind::InvalidResponse { .. }
            | ErrorKind::ResponseTooLarge { .. }
            | ErrorKind::Exec { .. }
            | ErrorKind::Request { .. }
            | ErrorKind::NoModelServer { .. }
            | ErrorKind::NoRoute { .. }
            | ErrorKind::RateLimited { .. }
            | ErrorKind::RouteExhausted { .. }
            | ErrorKind::Invalid(_)
            | ErrorKind::TaskNotFound { .. }
            | ErrorKind::JobNotFound { .. }
            | ErrorKind::TaskFinished { .. }
            | ErrorKind::JobFinished { .. }
            | ErrorKind::Cancelled { .. }
            | ErrorKind::LoopRunNotFound { .. }
            | ErrorKind::LoopRunClosed { .. } => false,
        }
    }

    /// The HTTP status a front door should answer with.
    pub fn status_code(&self) -> u16 {
        match &*self.kind {
            ErrorKind::Config(_) | ErrorKind::MissingApiKey { .. } => 500,
            ErrorKind::Store(store) => store.failure().status_code(),
            ErrorKind::UnknownModel { .. }
            | ErrorKind::TaskNotFound { .. }
            | ErrorKind::JobNotFound { .. }
            | ErrorKind::LoopRunNotFound { .. } => 404,
            ErrorKind::TaskFinished { .. }
            | ErrorKind::JobFinished { .. }
            | ErrorKind::Cancelled { .. }
            | ErrorKind::LoopRunClosed { .. } => 409,
            ErrorKind::Invalid(_) => 400,
            ErrorKind::Timeout { .. } => 504,
            ErrorKind::UpstreamStatus { status: 429, .. }
            | ErrorKind::QueueFull { .. }
            | ErrorKind::RateLimited { .. } => 429,
            ErrorKind::NoModelServer { .. } | ErrorKind::NoRoute { .. } => 503,
            ErrorKind::RouteExhausted { last, .. } => last.status_code(),
            ErrorKind::Connect { .. }
            | ErrorKind::ConnectionReset { .. }
            | ErrorKind::UpstreamStatus { .. }
            | ErrorKind::InvalidResponse { .. }
            | ErrorKind::ResponseTooLarge { .. }
            | ErrorKind::StreamCut { .. }
            | ErrorKind::Exec { .. }
            | ErrorKind::Request { .. } => 502,
        }
    }

    /// A short class name for logs, metrics and traces.
    pub fn class(&self) -> &'static str {
        match &*self.kind {
            ErrorKind::Config(_) => "config",
            ErrorKind::UnknownModel { .. } => "unknown_model",
            ErrorKind::MissingApiKey { .. } => "missing_api_key",
            ErrorKind::Connect { .. } => "connect",
            ErrorKind::ConnectionReset { .. } => "connection_reset",
            ErrorKind::Timeout { .. } => "timeout",
            ErrorKind::UpstreamStatus { status: 429, .. } | ErrorKind::RateLimited { .. } => {
                "rate_limited"
            }
            ErrorKind::UpstreamStatus { status, .. } if *status >= 500 => "upstream_5xx",
            ErrorKind::UpstreamStatus { .. } => "upstream_4xx",
            ErrorKind::QueueFull { .. } => "queue_full",
            ErrorKind::InvalidResponse { .. } => "invalid_response",
            ErrorKind::ResponseTooLarge { .. } => "upstream_response_too_large",
            ErrorKind::StreamCut { .. } => "stream_cut",
            ErrorKind::Exec { .. } => "exec",
            ErrorKind::Request { .. } => "request",
            ErrorKind::NoModelServer { .. } => "no_model_server",
            ErrorKind::NoRoute { .. } => "no_route",
            ErrorKind::RouteExhausted { last, .. } => last.class(),
            ErrorKind::Invalid(_) => "invalid",
            ErrorKind::Store(store) => store.failure().class(),
            ErrorKind::TaskNotFound { .. } => "task_not_found",
            ErrorKind::JobNotFound { .. } => "job_not_found",
            ErrorKind::TaskFinished { .. } => "task_finished",
            ErrorKind::JobFinished { .. } => "job_finished",
            ErrorKind::Cancelled { .. } => "cancelled",
            ErrorKind::LoopRunNotFound { .. } => "loop_run_not_found",
            ErrorKind::LoopRunClosed { .. } => "loop_run_closed",
        }
    }

    /// Seconds the upstream asked us to wait before retrying, if it said (for a routed call
    /// that failed on every model, what the last one said).
    pub fn retry_after(&self) -> Option<u64> {
        match &*self.kind {
            ErrorKind::UpstreamStatus { retry_after, .. } => *retry_after,
            ErrorKind::RouteExhausted { last, .. } => last.retry_after(),
            ErrorKind::RateLimited { retry_after, .. } => Some(*retry_after),
            ErrorKind::Config(_)
            | ErrorKind::UnknownModel { .. }
            | ErrorKind::MissingApiKey { .. }
            | ErrorKind::Connect { .. }
            | ErrorKind::ConnectionReset { .. }
            | ErrorKind::Timeout { .. }
            | ErrorKind::QueueFull { .. }
            | ErrorKind::InvalidResponse { .. }
            | ErrorKind::ResponseTooLarge { .. }
            | ErrorKind::StreamCut { .. }
            | ErrorKind::Exec { .. }
            | ErrorKind::Request { .. }
            | ErrorKind::NoModelServer { .. }
            | ErrorKind::NoRoute { .. }
            | ErrorKind::Invalid(_)
            | ErrorKind::Store(_)
            | ErrorKind::TaskNotFound { .. }
            | ErrorKind::JobNotFound { .. }
            | ErrorKind::TaskFinished { .. }
            | ErrorKind::JobFinished { .. }
            | ErrorKind::Cancelled { .. }
            | ErrorKind::LoopRunNotFound { .. }
            | ErrorKind::LoopRunClosed { .. } => None,
        }
    }

    /// What a client may be told. An internal failure (HTTP 500: the store, the config, a
    /// missing key) is logged with its whole source chain under a fresh request id, and the
    /// client gets a fixed text with that id; a busy or conflicting store answers a fixed text
    /// too (never the database URL or the driver's words). Other errors answer their message.
    pub fn for_client(&self) -> ClientError {
        if self.status_code() == 500 {
            return ClientError::internal(&chain_message(self));
        }
        if let ErrorKind::Store(store) = &*self.kind {
            let Some(text) = store.failure().public_message() else {
                return ClientError::internal(&chain_message(self));
            };
            let request_id = new_request_id();
            tracing::warn!(request_id = %request_id, "{}", chain_message(self));
            return ClientError {
                message: format!("{text} (request id {request_id})"),
                request_id: Some(request_id),
            };
        }
        ClientError {
            message: self.to_string(),
            request_id: None,
        }
    }

    /// Classifies a transport error from reqwest by walking its `source()` chain.
    pub fn from_reqwest(provider: &str, err: &reqwest::Error, timeout: Duration) -> Self {
        let provider = provider.to_owned();
        let message = chain_message(err);
        if err.is_timeout() {
            return ErrorKind::Timeout {
                provider,
                after: timeout,
            }
            .into();
        }
        if let Some(io) = find_io_error(err) {
            use std::io::ErrorKind as Io;
            match io.kind() {
                Io::ConnectionRefused | Io::NotFound | Io::AddrNotAvailable => {
                    return ErrorKind::Connect { provider, message }.into();
                }
                Io::ConnectionReset
                | Io::ConnectionAborted
                | Io::BrokenPipe
                | Io::UnexpectedEof => {
                    return ErrorKind::ConnectionReset { provider, message }.into();
                }
                Io::TimedOut => {
                    return ErrorKind::Timeout {
                        provider,
                        after: timeout,
                    }
                    .into();
                }
                _ => {}
            }
        }
        if err.is_connect() {
            ErrorKind::Connect { provider, message }.into()
        } else if err.is_decode() {
            ErrorKind::InvalidResponse { provider, message }.into()
        } else if err.is_body() || err.is_request() {
            // A body that stopped mid-way, or a connection closed before the response:
            // the same call may well work on a fresh connection.
            ErrorKind::ConnectionReset { provider, message }.into()
        } else {
            ErrorKind::Request { provider, message }.into()
        }
    }
}

impl<E: Into<ErrorKind>> From<E> for Error {
    fn from(kind: E) -> Self {
        Self {
            kind: Box::new(kind.into()),
        }
    }
}

/// The error and its causes joined with ": " (reqwest's Display alone hides the cause).
pub fn chain_message(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

fn find_io_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a std::io::Error> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Error {
        ErrorKind::UpstreamStatus {
            provider: "p".into(),
            status,
            message: "m".into(),
            retry_after: None,
        }
        .into()
    }

    #[test]
    fn only_429_and_5xx_statuses_are_retryable() {
        assert!(status(429).is_retryable());
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(401).is_retryable());
        assert!(!status(404).is_retryable());
    }

    #[test]
    fn timeouts_map_to_504_and_rate_limits_to_429() {
        let timeout: Error = ErrorKind::Timeout {
            provider: "p".into(),
            after: Duration::from_secs(1),
        }
        .into();
        assert_eq!(timeout.status_code(), 504);
        assert!(timeout.is_retryable());
        assert_eq!(status(429).status_code(), 429);
        assert_eq!(status(500).status_code(), 502);
    }

    #[test]
    fn a_missing_loop_run_is_404_and_a_cancelled_task_409() {
        let missing: Error = ErrorKind::LoopRunNotFound { id: "r1".into() }.into();
        assert_eq!(missing.status_code(), 404);
        assert_eq!(missing.class(), "loop_run_not_found");
        let cancelled: Error = ErrorKind::Cancelled {
            reason: "cancelled by cancel_job".into(),
        }
        .into();
        assert_eq!(cancelled.status_code(), 409);
        assert!(!cancelled.is_retryable());
        assert_eq!(cancelled.for_client().message, "cancelled by cancel_job");
    }

    #[test]
    fn store_failures_keep_their_class_and_status() {
        let busy: Error = StoreError::sqlx("writing", sqlx::Error::PoolTimedOut).into();
        assert_eq!(busy.class(), "store_pool_timeout");
        assert_eq!(busy.status_code(), 503);
        assert!(busy.is_retryable());
        let ErrorKind::Store(store) = busy.kind() else {
            panic!("not a store error");
        };
        assert!(store.sqlx_error().is_some(), "the sqlx error is the source");
        let other: Error = StoreError::other("gone").into();
        assert_eq!((other.class(), other.status_code()), ("store", 500));
    }

    #[test]
    fn a_500_tells_the_client_a_request_id_and_no_driver_text() {
        let err: Error = StoreError::sqlx(
            "reading tasks (postgres://fusion:***@db/fusion): pool closed",
            sqlx::Error::PoolClosed,
        )
        .into();
        let client = err.for_client();
        let id = client.request_id.unwrap();
        assert_eq!(id.len(), 16);
        assert_eq!(
            client.message,
            format!("internal error in Fusion (request id {id})")
        );
        // A busy store answers a fixed text too: no URL, no driver words.
        let busy: Error =
            StoreError::sqlx("writing (sqlite:///x.db)", sqlx::Error::PoolTimedOut).into();
        let client = busy.for_client();
        assert!(client.request_id.is_some());
        assert!(!client.message.contains("sqlite"), "{}", client.message);
        assert!(client.message.contains("try again"), "{}", client.message);
        // Other errors answer their own message.
        assert_eq!(status(502).for_client().request_id, None);
    }

    #[tokio::test]
    async fn refused_connection_is_classified_as_connect_and_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = reqwest::get(format!("http://{addr}/")).await.unwrap_err();
        let err = Error::from_reqwest("p", &err, Duration::from_secs(1));
        assert_eq!(err.class(), "connect", "{err}");
        assert!(err.is_retryable());
    }
}
