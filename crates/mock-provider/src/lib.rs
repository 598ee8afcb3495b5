//! A scriptable fake OpenAI-compatible model server for Fusion's end-to-end tests and
//! benchmarks: [`MockProvider`] runs it on a local port, a [`Script`] says how each model
//! answers (reply text, latency, failures, stream pacing and cuts), and every chat request is
//! recorded for assertions. It can also impersonate the model-metadata endpoints of local
//! servers (llama.cpp, Ollama, LM Studio, vLLM) and state OpenRouter-style rate limits, and
//! answers `/v1/embeddings`, `/v1/completions` and `/v1/responses` minimally (see `raw`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
//!
//! let script = Script::new()
//!     .with_model("fast", ModelScript::fixed("hi").with_latency_ms(20))
//!     .with_model("flaky", ModelScript::echo().failing_first(1, Failure::status(503, "busy")));
//! let mock = MockProvider::start(script).await?;
//! let base_url = mock.base_url(); // http://127.0.0.1:PORT/v1
//! # let _ = base_url;
//! # Ok(())
//! # }
//! ```

mod conn;
mod metadata;
mod raw;
mod reply;
mod script;
mod server;
mod state;
mod stream;
mod wire;

use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{net::TcpListener, task::JoinHandle};

pub use script::{
    Failure, ModelScript, Pricing, RateLimit, Reply, Script, ScriptError, ServerFlavor, ToolCall,
};

use conn::{ConnHandle, ResettableListener};
use state::Shared;

/// How long [`MockProvider::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One chat request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The body's `model` ("" when absent or when the body is not JSON).
    pub model: String,
    /// The parsed body; a JSON string holding the raw text when the body is not JSON.
    pub body: serde_json::Value,
    /// Request headers, names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// When the request reached the handler.
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A running mock provider. It stops when dropped or through [`MockProvider::shutdown`]:
/// the listener closes, idle connections close, and hung or paused requests are released.
pub struct MockProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl MockProvider {
    /// Starts a mock on `127.0.0.1` with an OS-assigned port.
    pub async fn start(script: Script) -> io::Result<MockProvider> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), script).await
    }

    /// Starts a mock on `addr`. The library binds what it is given; callers that take the
    /// address from users should keep it on loopback (the binary does).
    pub async fn start_on(addr: SocketAddr, script: Script) -> io::Result<MockProvider> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(script));
        let app =
            server::router(Arc::clone(&shared)).into_make_service_with_connect_info::<ConnHandle>();
        let stop = shared.shutdown.clone().cancelled_owned();
        let serve =
            axum::serve(ResettableListener::new(listener), app).with_graceful_shutdown(stop);
        let task = tokio::spawn(async move {
            if let Err(err) = serve.await {
                tracing::error!(%err, "mock provider stopped with an error");
            }
        });
        tracing::debug!(%addr, "mock provider listening");
        Ok(MockProvider {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI base URL: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every chat request received so far, in order (including failed and rejected ones).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorded()
    }

    /// The recorded chat requests whose body named `model`.
    pub fn requests_for(&self, model: &str) -> Vec<RecordedRequest> {
        self.shared.recorded_for(model)
    }

    /// Chat requests being served right now: a handler still running or a stream body still
    /// open. A client that disconnects ends its request, so this shows upstream cancellation.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// The most chat requests that were in flight at the same time, since start or the last
    /// [`MockProvider::reset_max_in_flight`]: shows whether a client kept to a concurrency limit.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight()
    }

    /// Starts [`MockProvider::max_in_flight`] again from the requests in flight now.
    pub fn reset_max_in_flight(&self) {
        self.shared.reset_max_in_flight();
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.clear_recorded();
    }

    /// Turns request recording on (the default) or off; long benchmarks turn it off so memory
    /// stays flat.
    pub fn set_recording(&self, on: bool) {
        self.shared.set_recording(on);
    }

    /// Replaces the behaviour for requests that arrive from now on. Per-model call counters
    /// (for `Reply::Sequence` and `fail_first`) restart from zero.
    pub fn set_script(&self, script: Script) {
        self.shared.set_script(script);
    }

    /// The script in force.
    pub fn script(&self) -> Script {
        self.shared.active().script.clone()
    }

    /// Stops the server and waits (up to a few seconds) until its connections have closed.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            tracing::warn!("mock provider connections still open after shutdown grace");
            task.abort();
        }
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        // Graceful stop in the background: aborting the accept loop alone would leave
        // keep-alive connections answering from a provider the test considers gone.
        self.shared.shutdown.cancel();
    }
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
