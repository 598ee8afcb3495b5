//! The council eval on scripted models (mock-provider): a terse checker that says done with
//! confidence 1.0 and finds nothing, a reviewer that finds some planted issues, council members
//! that find different ones (and one that over-flags the clean control). The table ranks the
//! council over the reviewer over the checker, the calibration lands in the bench tables, and
//! the loop gate then sends that checker's `done` to a council review. Same bodies on SQLite
//! and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::{Backend, TestStore};
use fusion_bench::eval::council::{self as eval, Arm, EvalChoice, EvalReport, EvalRun, render};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::Store;
use fusion_looped::{Calibrations, CheckStatus, LoopRuns, NewRun, Report, Route};
use fusion_mock_provider::{MockProvider, ModelScript, Script};

/// Each fixture's marker: a file only its report names.
const ORDERS: &str = "src/db/orders.rs";
const USERS: &str = "app/db/users.py";
const SETTINGS: &str = "src/settings.rs";
const METRICS: &str = "src/metrics.rs";
const RETRY: &str = "sender/retry_test.go";
const DAILY: &str = "jobs/daily_sales.py";
const CONTROL: &str = "tests/version.rs";

const FIND_ORDERS: &str =
    "- src/db/orders.rs: the offset is off by one, page 1 skips the first page";
const FIND_SQL: &str =
    "- app/db/users.py: q is concatenated into the SQL string, an injection hole";
const FIND_ASSERT: &str =
    "- sender/retry_test.go: TestBackoffSchedule asserts nothing, it only logs";
const FIND_RACE: &str = "- src/metrics.rs: load then store is not atomic; concurrent requests race";
const FIND_UNWRAP: &str =
    "- src/settings.rs: parse().unwrap() on the port flag panics on invalid input";
const FIND_TZ: &str =
    "- jobs/daily_sales.py: fromtimestamp uses the server's local time zone, not UTC";
const OVERFLAG: &str = "- src/cli.rs: the README does not mention --version";

const DONE: &str = r#"{"status": "done", "confidence": 1.0, "risk": "low",
  "missing_requirements": [], "likely_bugs": [], "verification_gaps": [],
  "exact_next_actions": [], "evidence_used": ["the test output"],
  "recommended_route": "stop", "handoff_reason": "every criterion is shown met"}"#;

const JUDGE: &str = r#"{"consensus": ["Response A and Response B agree the change is small"],
  "contradictions": [], "partial_coverage": [], "unique_insights": [{"model": "Response C",
  "insight": "Response C names one more defect"}], "blind_spots": [], "judge_notes": []}"#;

fn finds(pairs: &[(&str, &str)], nothing: &str) -> ModelScript {
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(needle, answer)| ((*needle).to_owned(), (*answer).to_owned()))
        .collect();
    // Every other prompt: nothing found (never the echo, which would repeat the evidence).
    pairs.push((nothing.to_owned(), "NO ISSUES".to_owned()));
    ModelScript::by_prompt_contains(pairs)
}

fn script() -> Script {
    Script::new()
        .with_model("terse", ModelScript::fixed(DONE))
        .with_model(
            "reviewer",
            finds(
                &[
                    (ORDERS, FIND_ORDERS),
                    (USERS, FIND_SQL),
                    (RETRY, FIND_ASSERT),
                ],
                "Objective",
            ),
        )
        .with_model(
            "m-a",
            finds(&[(ORDERS, FIND_ORDERS), (USERS, FIND_SQL)], "Objective"),
        )
        .with_model(
            "m-b",
            finds(
                &[(METRICS, FIND_RACE), (SETTINGS, FIND_UNWRAP)],
                "Objective",
            ),
        )
        .with_model(
            "m-c",
            finds(
                &[(DAILY, FIND_TZ), (RETRY, FIND_ASSERT), (CONTROL, OVERFLAG)],
                "Objective",
            ),
        )
        .with_model("judge", ModelScript::fixed(JUDGE))
        .with_model(
            "synth",
            finds(
                &[
                    (ORDERS, FIND_ORDERS),
                    (USERS, FIND_SQL),
                    (METRICS, FIND_RACE),
                    (SETTINGS, FIND_UNWRAP),
                    (DAILY, FIND_TZ),
                    (RETRY, FIND_ASSERT),
                    (CONTROL, OVERFLAG),
                ],
                "Question",
            ),
        )
        .with_model(
            "grader",
            ModelScript::by_prompt_contains([
                // Disagrees with the keywords on the SQL fixture.
                (
                    "unbounded-results",
                    r#"{"sql-injection": "no", "unbounded-results": "yes"}"#,
                ),
                // Copies the form: unusable, twice.
                ("offset-skips-first-page", r#"{"<issue id>": "yes or no"}"#),
            ]),
        )
}

fn config(base_url: &str, store_url: &str) -> Config {
    let mut models = String::new();
    for id in [
        "terse", "reviewer", "m-a", "m-b", "m-c", "judge", "synth", "grader",
    ] {
        models.push_str(&format!(
            "[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n\n"
        ));
    }
    let config: Config = toml::from_str(&format!(
        r#"
        [storage]
        url = "{store_url}"

        [[providers]]
        name = "mock"
        kind = "openai"
        base_url = "{base_url}"
        retries = 0
        timeout = "10s"

        {models}

        [councils.default]
        panel = [{{ model = "m-a" }}, {{ model = "m-b" }}, {{ model = "m-c", system = "You are a skeptic." }}]
        judge = {{ model = "judge" }}
        synthesizer = {{ model = "synth" }}

        [loop]
        roles.checker = ["terse"]
        "#
    ))
    .unwrap();
    config.validate(std::path::Path::new("test.toml")).unwrap();
    config
}

async fn run_eval(
    config: &Config,
    registry: &ProviderRegistry,
    store: &Store,
    only: &[&str],
    grader: Option<&str>,
) -> EvalReport {
    let choice = EvalChoice {
        reviewer: Some("reviewer".into()),
        ..EvalChoice::default()
    };
    let setup = eval::setup(config, registry, &choice).unwrap();
    assert_eq!(setup.checker, "terse", "the loop's checker by default");
    let fixtures: Vec<_> = eval::fixtures::builtin()
        .unwrap()
        .into_iter()
        .filter(|f| only.is_empty() || only.contains(&f.id.as_str()))
        .collect();
    let run = EvalRun {
        registry,
        config,
        store: Some(store),
        setup: &setup,
        grader,
        parallel: 4,
    };
    run.run(&fixtures, &|_| {}).await.unwrap()
}

fn report() -> Report {
    Report {
        summary: "added --version".into(),
        changed_files: vec!["src/cli.rs".into()],
        tests: vec!["cargo test version".into()],
        test_output: "test version ... ok".into(),
        ..Report::default()
    }
}

async fn check_once(runs: &LoopRuns<'_>, id: &str) -> fusion_looped::Check {
    runs.start(NewRun {
        objective: "add --version".into(),
        acceptance_criteria: vec!["prints the version".into()],
        run_id: Some(id.into()),
    })
    .await
    .unwrap();
    runs.check(id, None, Some(report())).await.unwrap().record
}

async fn the_council_finds_more_than_the_reviewer_and_the_checker_and_the_gate_learns_it(
    backend: Backend,
) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script()).await.unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let runs = LoopRuns::new(&t.store, &registry, &config);

    // Before any eval, the terse checker's done completes a run.
    let before = check_once(&runs, "before").await;
    assert_eq!(
        before.recommended_route,
        Route::Stop,
        "{:?}",
        before.route_reasons
    );

    let report = run_eval(&config, &registry, &t.store, &[], None).await;
    assert_eq!(
        (report.fixtures, report.controls, report.issues),
        (9, 1, 12)
    );
    assert_eq!(report.graded_by, "keywords");
    let arm = |a: Arm| report.arms.iter().find(|s| s.arm == a).unwrap().clone();
    let found = |a: Arm| (arm(a).issues_found, arm(a).issues_total);
    assert_eq!(found(Arm::Checker), (0, 12));
    assert_eq!(found(Arm::Reviewer), (3, 12));
    assert_eq!(
        found(Arm::Council),
        (6, 12),
        "the members found different issues"
    );
    assert_eq!(
        found(Arm::UniformCouncil),
        (3, 12),
        "one model in every seat"
    );
    let rate = |a: Arm| arm(a).detection_rate.unwrap();
    assert!(rate(Arm::Council) >= rate(Arm::Reviewer));
    assert!(rate(Arm::Reviewer) >= rate(Arm::Checker));
    assert_eq!(
        arm(Arm::Council).control_findings,
        1,
        "the control over-flagged"
    );
    assert_eq!(arm(Arm::Reviewer).control_findings, 0);
    assert!(
        report.arms.iter().all(|a| a.failed == 0),
        "{:?}",
        report.arms
    );
    assert_eq!(
        arm(Arm::UniformCouncil).model,
        "council:uniform(reviewer×3)"
    );

    let orders = report
        .per_fixture
        .iter()
        .find(|f| f.fixture == "orders-pagination")
        .unwrap();
    assert_eq!(orders.by_arm[&Arm::Checker], Some(0));
    assert_eq!(orders.by_arm[&Arm::Reviewer], Some(1));
    let calibration = report.calibration.clone().unwrap();
    assert_eq!(calibration.model, "terse");
    assert_eq!(calibration.fixtures.len(), 9);
    assert_eq!(
        (calibration.mean_confidence, calibration.mean_detection),
        (1.0, 0.0)
    );

    let table = render::text(&report);
    assert!(table.contains("council:default"), "{table}");
    assert!(table.contains("1 flagged"), "{table}");
    assert!(
        table.contains("gap +100 points over 9 graded fixtures"),
        "{table}"
    );
    let markdown = render::markdown(&report);
    assert!(
        markdown.contains("| council | `council:default` | 50% | 6/12 | 1 | 0 |"),
        "{markdown}"
    );

    // Kept in the bench tables: one run, a row per arm × fixture.
    let run_id = report.run_id.clone().unwrap();
    let run = t.store.bench_run(&run_id).await.unwrap().unwrap();
    assert_eq!(
        (run.suites.as_str(), run.status.as_str()),
        ("eval:council", "completed")
    );
    let rows = t.store.bench_results(Some(&run_id)).await.unwrap();
    assert_eq!(rows.len(), 40);
    let row = rows
        .iter()
        .find(|r| r.task_id == "reviewer/user-search-sql")
        .unwrap();
    assert_eq!(
        (row.model.as_str(), row.category.as_str(), row.score),
        ("reviewer", "review", 0.5)
    );
    let calibrations = Calibrations::load(&t.store).await.unwrap();
    let terse = calibrations.get("terse").unwrap();
    assert_eq!((terse.fixtures, terse.gap()), (9, 1.0));

    // Now the same done goes to a council review, saying why.
    let after = check_once(&runs, "after").await;
    assert_eq!(after.status, CheckStatus::Done);
    assert_eq!(after.recommended_route, Route::FusionReview);
    let reasons = after.route_reasons.join("; ");
    assert!(
        reasons
            .contains("the checker's confidence has run 100 points above its detection in evals"),
        "{reasons}"
    );
    let next = runs.next("after").await.unwrap();
    assert!(
        next.steps_taken
            .iter()
            .any(|s| s.contains("looped_fuse_review")),
        "a council reviewed before the run could end: {:?}",
        next.steps_taken
    );
}

async fn a_model_grader_counts_where_it_answers_and_keywords_where_it_cannot(backend: Backend) {
    let t = TestStore::new(backend).await;
    let mock = MockProvider::start(script()).await.unwrap();
    let config = config(&mock.base_url(), &t.url);
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let report = run_eval(
        &config,
        &registry,
        &t.store,
        &["orders-pagination", "user-search-sql"],
        Some("grader"),
    )
    .await;
    assert!(
        report.graded_by.starts_with("model:grader"),
        "{}",
        report.graded_by
    );
    let result = |arm: Arm, fixture: &str| {
        report
            .results
            .iter()
            .find(|r| r.arm == arm && r.fixture == fixture)
            .unwrap()
            .clone()
    };
    let sql = result(Arm::Reviewer, "user-search-sql");
    assert_eq!(sql.keyword_found, vec!["sql-injection"]);
    assert_eq!(sql.grader_found, Some(vec!["unbounded-results".to_owned()]));
    assert_eq!(
        sql.found,
        vec!["unbounded-results"],
        "the grader's verdict counts"
    );
    let orders = result(Arm::Reviewer, "orders-pagination");
    assert!(orders.grader_found.is_none());
    assert!(
        orders
            .grader_error
            .as_deref()
            .unwrap()
            .contains("offset-skips-first-page"),
        "{:?}",
        orders.grader_error
    );
    assert_eq!(
        orders.found,
        vec!["offset-skips-first-page"],
        "keywords stand in"
    );
    let checker = result(Arm::Checker, "orders-pagination");
    assert_eq!(
        checker.grader_found,
        Some(vec![]),
        "nothing said: no grader call"
    );
}

fusion_test_support::on_both_backends!(
    the_council_finds_more_than_the_reviewer_and_the_checker_and_the_gate_learns_it,
    a_model_grader_counts_where_it_answers_and_keywords_where_it_cannot,
);
