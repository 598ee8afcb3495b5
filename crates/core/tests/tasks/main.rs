//! Durable tasks end to end: the task engine against the mock provider, on SQLite (a file in a
//! tempdir) and on PostgreSQL (a fresh database per test on the server in
//! `FUSION_TEST_POSTGRES_URL`, from scripts/postgres.sh; without it the PostgreSQL variants
//! fail, never pass silently). The bodies live in `queue` (slots, positions, replicas,
//! fallback, councils, lists, errors), `cancel` and `recovery` (leases, crashes, shutdown);
//! this file holds the harness and runs each body on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cancel;
mod queue;
mod recovery;

#[path = "../common/mod.rs"]
mod common;

use common::{Backend, TestStore};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fusion_core::ErrorKind;
use fusion_core::config::{Config, OnInterrupt, TasksConfig};
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{
    Caller, Ledger, NewJob, NewTask, Store, TaskFilter, TaskKind, TaskState, UsageFilter, now_ms,
};
use fusion_core::tasks::{
    CancelOutcome, TaskEngine, TaskEventKind, TaskSpec, TaskView, TaskWork, fixed_source,
};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
use fusion_types::{ChatMessage, Role};

const JUDGE: &str = r#"{"consensus":["c"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}"#;

/// One provider `mock` of `tier` with models a, b, c, slow, m1, m2, judge, synth; councils
/// `default` (a, b, c), `slow` (a, slow, c) and `quorum` (a, slow, c; quorum = 2).
fn config(base_url: &str, tier: &str, tasks: TasksConfig) -> Arc<Config> {
    let mut config: Config = toml::from_str(&format!(
        r#"
        [router]
        discover = false

        [[providers]]
        name = "mock"
        kind = "openai"
        base_url = "{base_url}"
        tier = "{tier}"
        retries = 0
        timeout = "120s"
        max_concurrency = 64

        [[models]]
        id = "a"
        provider = "mock"
        [[models]]
        id = "b"
        provider = "mock"
        [[models]]
        id = "c"
        provider = "mock"
        [[models]]
        id = "slow"
        provider = "mock"
        [[models]]
        id = "m1"
        provider = "mock"
        quality = {{ default = 0.9 }}
        [[models]]
        id = "m2"
        provider = "mock"
        quality = {{ default = 0.8 }}
        [[models]]
        id = "judge"
        provider = "mock"
        [[models]]
        id = "synth"
        provider = "mock"

        [councils.default]
        panel = [{{ model = "a" }}, {{ model = "b" }}, {{ model = "c" }}]
        judge = {{ model = "judge" }}
        synthesizer = {{ model = "synth" }}

        [councils.slow]
        panel = [{{ model = "a" }}, {{ model = "slow" }}, {{ model = "c" }}]
        judge = {{ model = "judge" }}
        synthesizer = {{ model = "synth" }}

        [councils.quorum]
        quorum = 2
        panel = [{{ model = "a" }}, {{ model = "slow" }}, {{ model = "c" }}]
        judge = {{ model = "judge" }}
        synthesizer = {{ model = "synth" }}
        "#
    ))
    .unwrap();
    config.tasks = tasks;
    config.validate(std::path::Path::new("test.toml")).unwrap();
    Arc::new(config)
}

/// Every model answers after `latency_ms`; `slow` hangs a minute; the judge answers JSON.
fn script(latency_ms: u64) -> Script {
    Script::new()
        .with_default(ModelScript::echo().with_latency_ms(latency_ms))
        .with_model("slow", ModelScript::echo().with_latency_ms(60_000))
        .with_model("judge", ModelScript::fixed(JUDGE))
        .with_model("synth", ModelScript::fixed("the final answer"))
}

fn tasks_config(local_slots: usize) -> TasksConfig {
    TasksConfig {
        local_slots,
        poll_interval: Duration::from_millis(100),
        ..TasksConfig::default()
    }
}

/// An engine over its own registry (as a separate process would have).
fn engine(store: &Store, config: &Arc<Config>) -> TaskEngine {
    let registry = Arc::new(ProviderRegistry::from_config(config).unwrap());
    let source = fixed_source(Arc::clone(config), registry);
    TaskEngine::start(store.clone(), source, config.tasks.clone())
}

fn ask(text: &str) -> TaskSpec {
    TaskSpec::completion(vec![ChatMessage::text(Role::User, text)])
}

/// Polls `check` until it holds; fails after a minute, naming `what`.
async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    fusion_test_support::wait_until(what, Duration::from_secs(60), check).await
}

/// The id of the task's running job labelled `label`.
fn running_job(view: &TaskView, label: &str) -> Option<String> {
    view.jobs
        .iter()
        .find(|j| j.label == label && j.state == TaskState::Running)
        .map(|j| j.id.clone())
}

async fn wait_final(engine: &TaskEngine, id: &str) -> TaskView {
    wait_until(&format!("task {id} ends"), || async {
        engine.get(id).await.unwrap().task.state.is_final()
    })
    .await;
    engine.get(id).await.unwrap()
}

fusion_test_support::on_both_backends!(
    worker_threads = 4;
    queue::local_tasks_never_exceed_the_local_slot_and_positions_count_down,
    queue::two_replicas_on_one_store_run_each_of_100_tasks_exactly_once,
    queue::a_routed_completion_falls_back_in_ranked_order_with_one_job_per_attempt,
    queue::a_council_task_makes_one_job_per_seat_and_reports_progress_as_the_task_caller,
    queue::lists_filter_by_state_model_and_text_and_page_with_a_total,
    queue::unknown_ids_invalid_specs_and_ended_tasks_are_clear_errors,
    cancel::cancelling_a_queued_task_skips_it_and_cancelling_a_running_one_aborts_its_call,
    cancel::cancelling_one_council_member_lets_the_council_finish_without_it,
    cancel::a_quorum_council_task_ends_the_cut_members_job_as_cancelled,
    cancel::a_cancel_asked_on_another_replica_stops_the_task_at_its_next_lease_renewal,
    recovery::expired_leases_are_recovered_per_on_interrupt,
    recovery::every_task_of_a_crashed_process_ends_after_a_restart,
    recovery::shutdown_requeues_running_tasks_or_fails_them_per_on_interrupt,
);
