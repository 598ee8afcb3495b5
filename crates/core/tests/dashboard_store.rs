//! The dashboard's history in the store (migration 0009) on SQLite and PostgreSQL: council runs
//! and routing decisions are listed newest first (with `limit` and `before_ms`), read back by
//! id and pruned to the newest rows; the history writer records every routing decision the
//! registry makes (not a preview) with its caller, and every council run with what it cost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, TestStore};
use fusion_core::config::Config;
use fusion_core::council;
use fusion_core::providers::{ProviderRegistry, as_caller};
use fusion_core::router::RouteInput;
use fusion_core::store::history::MAX_STORED_CANDIDATES;
use fusion_core::store::{Caller, CouncilRunRow, DecisionRow, Ledger};
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use serde_json::json;

const JUDGE: &str = r#"{"consensus":["c"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}"#;

fn council_row(id: &str, at_ms: i64, question: &str) -> CouncilRunRow {
    CouncilRunRow {
        id: id.into(),
        at_ms,
        council: "default".into(),
        caller: Caller::Http,
        question: question.into(),
        status: "ok".into(),
        degraded: (at_ms / 1000) % 2 == 0,
        total_ms: 1_234,
        cost_usd: 0.25,
        result: json!({"final_answer": format!("answer {id}")}),
    }
}

fn decision_row(id: &str, at_ms: i64, chosen: Option<&str>) -> DecisionRow {
    DecisionRow {
        id: id.into(),
        at_ms,
        caller: Caller::Mcp,
        chosen: chosen.map(str::to_owned),
        summary: format!("summary of {id}"),
        decision: json!({"chosen": chosen, "candidates": []}),
    }
}

async fn council_runs_are_listed_newest_first_read_by_id_and_pruned(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let long = "q".repeat(1_000);
    let rows: Vec<CouncilRunRow> = (1..=5)
        .map(|i| council_row(&format!("council_{i}"), 1_000 * i, &long))
        .collect();
    store.insert_council_runs(&rows).await.unwrap();
    assert!(
        store.insert_council_runs(&rows[..1]).await.is_err(),
        "ids are unique"
    );

    let listed = store.council_runs(3, None).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["council_5", "council_4", "council_3"]);
    assert_eq!(
        listed[0].question.chars().count(),
        300,
        "a listing shows the question's start"
    );
    assert_eq!(
        (listed[0].caller, listed[0].total_ms, listed[0].cost_usd),
        (Caller::Http, 1_234, 0.25)
    );
    assert_eq!(
        (listed[0].degraded, listed[1].degraded),
        (false, true),
        "degraded round-trips"
    );
    let older = store.council_runs(10, Some(3_000)).await.unwrap();
    let ids: Vec<&str> = older.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["council_2", "council_1"], "before_ms is exclusive");

    let one = store.council_run("council_2").await.unwrap().unwrap();
    assert_eq!(one.question, long, "the whole question is kept");
    assert_eq!(one.result["final_answer"], "answer council_2");
    assert!(store.council_run("council_9").await.unwrap().is_none());

    assert_eq!(store.prune_council_runs(2).await.unwrap(), 3);
    let kept: Vec<String> = store
        .council_runs(10, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(kept, ["council_5", "council_4"]);
    assert_eq!(
        store.prune_council_runs(2).await.unwrap(),
        0,
        "within the bound"
    );
}

async fn decisions_are_listed_newest_first_and_pruned_to_the_newest(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let rows: Vec<DecisionRow> = (1..=6)
        .map(|i| {
            let chosen = (i % 3 != 0).then_some("local-small");
            decision_row(&format!("decision_{i}"), 100 * i, chosen)
        })
        .collect();
    store.insert_decisions(&rows).await.unwrap();
    let listed = store.decisions(4, None).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["decision_6", "decision_5", "decision_4", "decision_3"]
    );
    assert_eq!(listed[0].chosen, None, "nothing chosen round-trips");
    assert_eq!(listed[1].chosen.as_deref(), Some("local-small"));
    assert_eq!(listed[1].caller, Caller::Mcp);
    assert_eq!(listed[1].summary, "summary of decision_5");
    assert_eq!(listed[1].decision["chosen"], "local-small");
    assert_eq!(store.decisions(10, Some(200)).await.unwrap().len(), 1);
    assert_eq!(
        store.decision("decision_2").await.unwrap().unwrap().at_ms,
        200
    );
    assert!(store.decision("decision_7").await.unwrap().is_none());

    assert_eq!(store.prune_decisions(4).await.unwrap(), 2);
    assert_eq!(store.decisions(10, None).await.unwrap().len(), 4);
    assert_eq!(store.prune_decisions(0).await.unwrap(), 4);
    assert!(store.decisions(10, None).await.unwrap().is_empty());
}

/// A registry over `models` models `m0`, `m1`, ... of a paid provider at `url`, priced 1 $/Mtok
/// in and 2 $/Mtok out, with a council of `m0` and `m1` judged by `m2`.
fn registry(url: &str, models: usize, ledger: &Ledger) -> (ProviderRegistry, Config) {
    let mut text = format!(
        "[[providers]]\nname = \"mock\"\nkind = \"openai\"\nbase_url = \"{url}\"\ntier = \
         \"paid\"\nretries = 0\ntimeout = \"5s\"\n"
    );
    for i in 0..models {
        text.push_str(&format!(
            "[[models]]\nid = \"m{i}\"\nprovider = \"mock\"\nprice = {{ input_per_mtok = 1.0, \
             output_per_mtok = 2.0 }}\n"
        ));
    }
    text.push_str(
        "[councils.default]\npanel = [{ model = \"m0\" }, { model = \"m1\" }]\njudge = { model \
         = \"m2\" }\n",
    );
    let config: Config = toml::from_str(&text).unwrap();
    let registry = ProviderRegistry::from_config(&config)
        .unwrap()
        .with_ledger(ledger.clone());
    (registry, config)
}

async fn the_history_records_routing_decisions_with_their_caller_but_not_previews(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let ledger = Ledger::start(t.store.clone());
    let models = MAX_STORED_CANDIDATES + 8;
    let (registry, _) = registry("http://127.0.0.1:9/v1", models, &ledger);
    let input = RouteInput {
        text: "Say hello".into(),
        ..RouteInput::default()
    };
    let decision = registry.route(&input);
    assert!(decision.chosen.is_some(), "{}", decision.summary);
    as_caller(Caller::Mcp, async { registry.route(&input) }).await;
    registry.route_preview(&input);
    ledger.history().flush().await.unwrap();

    let stored = t.store.decisions(10, None).await.unwrap();
    let callers: Vec<Caller> = stored.iter().map(|d| d.caller).collect();
    assert_eq!(
        callers,
        [Caller::Mcp, Caller::Cli],
        "newest first, the preview is not there"
    );
    let newest = &stored[0];
    assert_eq!(newest.chosen, decision.chosen);
    assert_eq!(newest.summary, decision.summary);
    assert_eq!(newest.decision["summary"], decision.summary.as_str());
    assert_eq!(
        newest.decision["candidates"].as_array().unwrap().len(),
        MAX_STORED_CANDIDATES,
        "a stored decision keeps a bounded number of candidates"
    );
    assert_eq!(
        newest.decision["candidates_omitted"],
        models - MAX_STORED_CANDIDATES
    );
    assert_eq!(ledger.history().dropped(), 0);
    ledger.shutdown().await.unwrap();
}

async fn the_history_records_a_council_run_once_with_its_caller_and_cost(backend: Backend) {
    let t = TestStore::new(backend).await;
    let ledger = Ledger::start(t.store.clone());
    let script = Script::new()
        .with_model("m0", ModelScript::fixed("Answer zero."))
        .with_model("m1", ModelScript::fixed("Answer one."))
        .with_model("m2", ModelScript::sequence([JUDGE, "The final answer."]));
    let mock = MockProvider::start(script).await.unwrap();
    let (registry, config) = registry(&mock.base_url(), 3, &ledger);
    let council_config = &config.councils["default"];
    let result = as_caller(
        Caller::Task,
        council::run(&registry, "default", council_config, "What is 2+2?", None),
    )
    .await;
    assert_eq!(result.final_answer, "The final answer.");
    // Shutting the ledger down flushes the history.
    ledger.shutdown().await.unwrap();

    let listed = t.store.council_runs(10, None).await.unwrap();
    assert_eq!(listed.len(), 1, "one run, one row: {listed:?}");
    let run = t.store.council_run(&listed[0].id).await.unwrap().unwrap();
    assert!(run.id.starts_with("council_"), "{}", run.id);
    assert_eq!(
        (run.council.as_str(), run.caller, run.question.as_str()),
        ("default", Caller::Task, "What is 2+2?")
    );
    assert_eq!((run.status.as_str(), run.degraded), ("ok", false));
    assert_eq!(run.total_ms, result.timings.total_ms);
    assert_eq!(run.result["final_answer"], "The final answer.");
    assert_eq!(run.result["labels"].as_array().unwrap().len(), 2);
    // Every seat is priced alike: the cost is the run's tokens at that price.
    let expected = (result.usage.prompt_tokens as f64 * 1.0
        + result.usage.completion_tokens as f64 * 2.0)
        / 1e6;
    assert!(expected > 0.0);
    assert!(
        (run.cost_usd - expected).abs() < 1e-12,
        "{} vs {expected}",
        run.cost_usd
    );
}

fusion_test_support::on_both_backends!(
    council_runs_are_listed_newest_first_read_by_id_and_pruned,
    decisions_are_listed_newest_first_and_pruned_to_the_newest,
    the_history_records_routing_decisions_with_their_caller_but_not_previews,
    the_history_records_a_council_run_once_with_its_caller_and_cost,
);
