//! The engine's one error type: an `ErrorKind` of classified details wrapped in a small `Error`,
//! with `status_code()` for front doors and `is_retryable()` for the registry's retry loop.
//! Upstream failures are classified by walking the `source()` chain, not by matching strings.

use std::error::Error as StdError;
use std::time::Duration;

use crate::config::ConfigError;

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
    /// Every routed candidate failed; `last` is the final failure.
    #[error("every routed model failed (tried {tried}); last error: {last}")]
    RouteExhausted { tried: String, last: Box<Error> },
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Store(String),
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

impl Error {
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Whether the same call may succeed if tried again: refused or reset connections,
    /// timeouts, HTTP 429 and 5xx, cut streams. Never other 4xx or local mistakes.
    pub fn is_retryable(&self) -> bool {
        match &*self.kind {
            ErrorKind::Connect { .. }
            | ErrorKind::ConnectionReset { .. }
            | ErrorKind::Timeout { .. }
            | ErrorKind::StreamCut { .. } => true,
            ErrorKind::UpstreamStatus { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status a front door should answer with.
    pub fn status_code(&self) -> u16 {
        match &*self.kind {
            ErrorKind::Config(_) | ErrorKind::MissingApiKey { .. } | ErrorKind::Store(_) => 500,
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
            _ => 502,
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
            ErrorKind::Store(_) => "store",
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
            _ => None,
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
