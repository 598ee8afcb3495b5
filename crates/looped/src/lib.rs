//! The loop checker ("looped"), a crate of its own over `fusion-core`: Fusion as the checker and
//! council of an executor agent's long build loop. Two halves share the roles, prompts and parsers:
//!
//! - a deliberation round (`fusion loop`): four role views — Explorer, Builder, Critic,
//!   Performance Sentinel — asked in parallel, then a Loop Conductor that returns a strict-JSON
//!   decision (`continue | split | pause_for_human | possibly_stuck | complete`) and the next
//!   prompt (`round`);
//! - the build/check gate over durable runs (`runs`, the MCP `looped_*` tools): a run freezes
//!   its objective and acceptance criteria; the executor reports; a checker judges the report
//!   (`checker`, with the evidence rule); the gate routes it (`gate`) — complete, direct retry,
//!   council review then conductor (`conductor`), or a pause for a human; a `done` from a
//!   checker whose evals show it over-confident is reviewed (`calibration`).
//!
//! The client may supply a step's report, check and council review with the call instead
//! (`client`); they are recorded as the server's would be and the gate reads them alike.
//!
//! Every model call goes through the provider registry (`roles`). Output that is not valid
//! JSON is asked for once more, then degrades to a safe decision; nothing here fails a loop
//! because a model misbehaved. Runs and their trails live in the store (`store::looped`) and
//! export as files (`export`).

mod calibration;
mod checker;
mod client;
mod conductor;
mod export;
mod gate;
mod json;
mod next;
pub mod prompts;
mod record;
mod roles;
mod round;
mod runs;
mod sentinel;
mod state;

pub use calibration::{
    CHECKER_ARM, Calibrations, CheckerCalibration, EVAL_COUNCIL_SUITE, REVIEW_CATEGORY,
    ReviewDetail, check_report,
};
pub use checker::{EvidenceBase, Finding, ParsedCheck, build_check, parse_check};
pub use client::{CLIENT, ClientCheck, SUPPLIED_NOTE, Supplied, client_council};
pub use conductor::{ParsedDecision, fallback_decision, parse_decision};
pub use export::{Exported, Layout, export_run, export_run_as};
pub use gate::{CheckFacts, NextMove, TrailFacts, distrust_done, next_move, route_check};
pub use next::Next;
pub use record::{
    Check, CheckStatus, Decision, DecisionSource, DecisionStatus, Report, Review, Risk, Route,
    RunStatus, View,
};
pub use roles::{LoopRole, Target, targets};
pub use round::Round;
pub use runs::{LoopRun, LoopRuns, NewRun, Recorded, ReviewSummary, RunView};
pub use sentinel::{Health, HealthReport, RepeatedCommand, assess};
pub use state::{Heartbeat, RunState};
