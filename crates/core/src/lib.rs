//! Fusion's engine. Owns the configuration model, the provider registry (the one path for every
//! model call) with its backends, the council, the router, durable async tasks and the store
//! (the loop checker's runs included; its logic is the `fusion-looped` crate) — and the
//! `Runtime` that holds what runs (store, ledger, the live configuration and registry, health
//! probes, task engine, attached MCP hub) and reloads it.
//! Front doors (CLI, HTTP, MCP) are thin layers over this crate.

pub mod backoff;
pub mod config;
pub mod council;
pub mod cpu;
pub mod error;
pub mod prompting;
pub mod providers;
pub mod router;
pub mod runtime;
pub mod store;
pub mod strict_json;
pub mod tasks;
pub mod tokens;
pub mod transcript;

pub use error::{Error, ErrorKind, Result};
