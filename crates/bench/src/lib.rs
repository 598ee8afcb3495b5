//! Fusion's measurements. `suite` (tasks with a category and a validator that needs no model;
//! the built-in suites and user suites in TOML or JSONL), `validate` (code run against the
//! task's tests, JSON Schema, exact or normalised answers, required facts), `run` (models ×
//! tasks × runs through the provider registry, resumable, results in the store), `stats`
//! (quality with its interval, p50 latency, tokens per second, cost per model and category),
//! `report` (Markdown, JSON and SVG charts), `task` (benchmarks run as tasks of the engine's
//! queue: the runner the front doors register, and the suites MCP clients send), and `eval`
//! (what the council and the router are worth on fixed evidence).

pub mod eval;
pub mod report;
pub mod run;
pub mod stats;
pub mod suite;
pub mod task;
pub mod validate;
