//! Helpers shared by the integration tests of every Fusion crate (a dev-dependency only, never
//! published): a PostgreSQL database of its own per test ([`PgDatabase`]), each store test on
//! both backends ([`on_both_backends!`]), polls with a deadline instead of fixed sleeps
//! ([`wait_until`], [`wait_for`]), the peers `scripts/install-peers.sh` installs ([`peer`]),
//! the isolated environment every `fusion` process a test starts runs in ([`isolate`]), and a small
//! TCP balancer in front of several `fusion serve` replicas ([`Balancer`]; also the
//! `fusion-balancer` binary for `bench/replicas.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backends;
mod balancer;
mod env;
mod pg;
mod wait;

pub use backends::Backend;
pub use balancer::{BackendStats, Balancer};
pub use env::{isolate, isolated_env, peer};
pub use pg::PgDatabase;
pub use wait::{POLL_INTERVAL, wait_for, wait_until};
