//! A small TCP balancer for the replica tests and `bench/replicas.sh`: it listens on one
//! address and hands each accepted connection, round-robin, to one of N backends, copying bytes
//! both ways (`tokio::io::copy_bidirectional`) until either side closes. A backend whose connect
//! fails is taken out for [`RETRY_AFTER`] and the connection tries the next one, so a replica
//! killed mid-run stops receiving new connections; connections already open to it fail with it.
//! It knows nothing of HTTP: a keep-alive client stays on the backend its connection reached.
//! Open connections are bounded ([`MAX_CONNECTIONS`]); beyond that, accepting waits.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Connections open through the balancer at once, at most.
pub const MAX_CONNECTIONS: usize = 4096;
/// How long a backend whose connect failed stays out before it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long one connect to a backend may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the balancer saw of one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStats {
    pub addr: SocketAddr,
    /// Connections handed to it.
    pub connections: u64,
    /// Connects to it that failed.
    pub failed_connects: u64,
    /// Out of the rotation now (its last connect failed, less than [`RETRY_AFTER`] ago, or
    /// taken out by [`Balancer::take_out`]).
    pub out: bool,
}

struct Backend {
    addr: SocketAddr,
    connections: AtomicU64,
    failed_connects: AtomicU64,
    /// Taken out by hand: never tried until put back.
    held_out: AtomicBool,
    /// Out after a failed connect, until then.
    out_until: Mutex<Option<Instant>>,
}

impl Backend {
    fn is_out(&self) -> bool {
        self.held_out.load(Ordering::Relaxed)
            || self.out_until().is_some_and(|until| Instant::now() < until)
    }

    fn out_until(&self) -> Option<Instant> {
        *self
            .out_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_out_until(&self, until: Option<Instant>) {
        *self
            .out_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = until;
    }
}

struct Shared {
    backends: Vec<Backend>,
    next: AtomicUsize,
}

/// A running balancer; stopped when dropped.
pub struct Balancer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Balancer {
    /// Listens on `listen` (port 0 picks one) and balances across `backends`.
    pub async fn start(listen: SocketAddr, backends: &[SocketAddr]) -> io::Result<Balancer> {
        if backends.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the balancer needs at least one backend address",
            ));
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            backends: backends
                .iter()
                .map(|&addr| Backend {
                    addr,
                    connections: AtomicU64::new(0),
                    failed_connects: AtomicU64::new(0),
                    held_out: AtomicBool::new(false),
                    out_until: Mutex::new(None),
                })
                .collect(),
            next: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Balancer {
            addr,
            shared,
            accept,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Takes `backend` out of the rotation (new connections go to the others) until
    /// [`put_back`](Self::put_back); false when it is not one of the backends.
    pub fn take_out(&self, backend: SocketAddr) -> bool {
        self.hold(backend, true)
    }

    /// Puts a backend taken out by hand back in the rotation.
    pub fn put_back(&self, backend: SocketAddr) -> bool {
        self.hold(backend, false)
    }

    fn hold(&self, backend: SocketAddr, out: bool) -> bool {
        let found = self.shared.backends.iter().find(|b| b.addr == backend);
        if let Some(b) = found {
            b.held_out.store(out, Ordering::Relaxed);
        }
        found.is_some()
    }

    /// Per backend, in the order given to [`start`](Self::start).
    pub fn stats(&self) -> Vec<BackendStats> {
        self.shared
            .backends
            .iter()
            .map(|b| BackendStats {
                addr: b.addr,
                connections: b.connections.load(Ordering::Relaxed),
                failed_connects: b.failed_connects.load(Ordering::Relaxed),
                out: b.is_out(),
            })
            .collect()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
            return;
        };
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(err) => {
                // Out of descriptors and the like: wait a little rather than spin.
                eprintln!("balancer: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = client.set_nodelay(true);
            if let Some(mut upstream) = connect(&shared).await {
                let mut client = client;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
            // No backend answered: dropping the client closes it.
        });
    }
}

/// A connection to the next backend in the rotation that accepts one, taking out those that
/// refuse; when every backend is out, each is tried once anyway (one may be back).
async fn connect(shared: &Shared) -> Option<TcpStream> {
    let n = shared.backends.len();
    let start = shared.next.fetch_add(1, Ordering::Relaxed);
    let mut skipped = Vec::new();
    for i in 0..n {
        let backend = &shared.backends[(start + i) % n];
        if backend.is_out() {
            if !backend.held_out.load(Ordering::Relaxed) {
                skipped.push(backend);
            }
            continue;
        }
        if let Some(stream) = try_backend(backend).await {
            return Some(stream);
        }
    }
    for backend in skipped {
        if let Some(stream) = try_backend(backend).await {
            return Some(stream);
        }
    }
    None
}

async fn try_backend(backend: &Backend) -> Option<TcpStream> {
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend.addr)).await;
    match connected {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            backend.connections.fetch_add(1, Ordering::Relaxed);
            backend.set_out_until(None);
            Some(stream)
        }
        Ok(Err(_)) | Err(_) => {
            backend.failed_connects.fetch_add(1, Ordering::Relaxed);
            backend.set_out_until(Some(Instant::now() + RETRY_AFTER));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A backend that answers each connection with its name, then closes.
    async fn named_backend(name: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(name.as_bytes()).await;
            }
        });
        addr
    }

    async fn read_name(addr: SocketAddr) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    /// An address nothing listens on.
    async fn dead_addr() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }

    #[tokio::test]
    async fn connections_alternate_between_the_backends() {
        let a = named_backend("a").await;
        let b = named_backend("b").await;
        let balancer = Balancer::start("127.0.0.1:0".parse().unwrap(), &[a, b])
            .await
            .unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(read_name(balancer.addr()).await);
        }
        seen.sort();
        assert_eq!(seen, ["a", "a", "b", "b"]);
        let stats = balancer.stats();
        assert_eq!(stats[0].connections, 2);
        assert_eq!(stats[1].connections, 2);
    }

    #[tokio::test]
    async fn a_backend_that_refuses_is_taken_out_and_the_connection_goes_to_another() {
        let dead = dead_addr().await;
        let b = named_backend("b").await;
        let balancer = Balancer::start("127.0.0.1:0".parse().unwrap(), &[dead, b])
            .await
            .unwrap();
        for _ in 0..4 {
            assert_eq!(read_name(balancer.addr()).await, "b");
        }
        let stats = balancer.stats();
        assert_eq!(stats[0].failed_connects, 1, "tried once, then out");
        assert!(stats[0].out);
        assert_eq!(stats[1].connections, 4);
    }

    #[tokio::test]
    async fn a_backend_taken_out_by_hand_gets_no_connections_until_put_back() {
        let a = named_backend("a").await;
        let b = named_backend("b").await;
        let balancer = Balancer::start("127.0.0.1:0".parse().unwrap(), &[a, b])
            .await
            .unwrap();
        assert!(balancer.take_out(a));
        for _ in 0..3 {
            assert_eq!(read_name(balancer.addr()).await, "b");
        }
        assert!(balancer.put_back(a));
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(read_name(balancer.addr()).await);
        }
        assert!(seen.contains(&"a".to_owned()), "{seen:?}");
    }

    #[tokio::test]
    async fn no_backends_is_a_clear_error() {
        let err = Balancer::start("127.0.0.1:0".parse().unwrap(), &[])
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("at least one backend"), "{err}");
    }
}
