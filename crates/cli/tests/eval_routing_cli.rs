//! `fusion eval routing` through the real binary: on the synthetic set (no config, no store,
//! no model calls) its JSON has every baseline with numbers in range and is the same run after
//! run; the table and `--out` reports; and the bench history in the store replayed with the
//! configured models' tiers and prices.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::run_fusion;
use fusion_core::store::{BenchResultRow, BenchRunRow, Store};
use serde_json::Value;

fn in_range(value: &Value, lo: f64, hi: f64) -> f64 {
    let v = value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"));
    assert!((lo..=hi).contains(&v), "{v} not in {lo}..={hi}");
    v
}

fn baseline<'a>(eval: &'a Value, name: &str) -> &'a Value {
    eval["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no baseline {name} in {}", eval["baselines"]))
}

#[tokio::test]
async fn json_on_the_synthetic_set_has_every_baseline_and_numbers_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_fusion(dir.path(), &["eval", "routing", "--json"], None, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let eval = run.json();
    assert_eq!(eval["source"], "synthetic");
    assert_eq!(eval["dataset_seed"], 17);
    assert!(eval["tasks"].as_u64().unwrap() >= 500);
    assert!(eval["models"].as_array().unwrap().len() >= 5);
    let test = eval["test_tasks"].as_u64().unwrap();
    assert_eq!(
        test + eval["train_tasks"].as_u64().unwrap(),
        eval["tasks"].as_u64().unwrap()
    );
    for name in [
        "always-cheapest",
        "always-strongest",
        "random",
        "oracle",
        "expected-oracle",
    ] {
        let b = baseline(&eval, name);
        in_range(&b["quality"], 0.0, 1.0);
        in_range(&b["cost_usd"], 0.0, f64::MAX);
    }
    assert_eq!(baseline(&eval, "always-cheapest")["apgr"], 0.0);
    in_range(&baseline(&eval, "always-strongest")["pgr"], 1.0, 1.0);
    in_range(&baseline(&eval, "always-strongest")["apgr"], 0.5, 0.5);
    let oracle = in_range(&baseline(&eval, "oracle")["apgr"], 0.0, 2.0);
    let router = in_range(&eval["router"]["apgr"], 0.0, oracle);
    let random = in_range(&baseline(&eval, "random")["apgr"], -1.0, 1.0);
    assert!(router > random, "router {router} vs random {random}");
    assert!(eval["aims"]["apgr_beats_baselines"].is_boolean());
    assert!(eval["aims"]["cost_at_95_within_25_pct"].is_boolean());
    let sweep = eval["sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 3 * 11 * 9);
    for p in sweep {
        in_range(&p["quality"], 0.0, 1.0);
        in_range(&p["cost_usd"], 0.0, f64::MAX);
        let routed: u64 = p["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert_eq!(routed + p["unrouted"].as_u64().unwrap(), test);
    }
    let front = eval["router"]["pareto"].as_array().unwrap();
    assert!(!front.is_empty() && front.len() <= sweep.len());
    if let Some(at) = eval["router"]["cost_at_95"].as_object() {
        in_range(&at["pct_of_strongest"], 0.0, 100.0);
    }
    assert!(eval.get("simulated").is_none(), "simulations are asked for");
}

#[tokio::test]
async fn table_and_out_dir_reports_are_the_same_run_after_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let out_arg = out.to_str().unwrap();
    let first = run_fusion(
        dir.path(),
        &["eval", "routing", "--out", out_arg],
        None,
        &[],
    )
    .await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    for needle in [
        "always-cheapest (free-70b)",
        "always-strongest (frontier)",
        "random",
        "oracle",
        "APGR",
        "router Pareto front",
        "cost of 95% of always-strongest's quality",
        "aims:",
    ] {
        assert!(
            first.stdout.contains(needle),
            "{needle} missing:\n{}",
            first.stdout
        );
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("routing-eval.json")).unwrap())
            .unwrap();
    assert_eq!(json["source"], "synthetic");
    let md = std::fs::read_to_string(out.join("routing-eval.md")).unwrap();
    assert!(md.starts_with("# Routing eval"), "{md}");
    assert!(md.contains("| always-strongest (frontier) |"), "{md}");
    // Every Markdown table has as many cells in each row as in its header.
    let mut columns = None;
    for line in md.lines() {
        if line.starts_with('|') {
            let cells = line.matches('|').count();
            assert_eq!(*columns.get_or_insert(cells), cells, "{line}");
        } else {
            columns = None;
        }
    }
    assert!(first.stderr.contains("routing-eval.md"), "{}", first.stderr);

    let again = run_fusion(
        dir.path(),
        &["eval", "routing", "--out", out_arg],
        None,
        &[],
    )
    .await;
    assert_eq!(again.stdout, first.stdout);
    assert_eq!(
        std::fs::read_to_string(out.join("routing-eval.md")).unwrap(),
        md
    );

    let other = run_fusion(
        dir.path(),
        &["eval", "routing", "--seed", "5", "--simulate"],
        None,
        &[],
    )
    .await;
    assert_eq!(other.code, 0, "{}", other.stderr);
    assert_ne!(other.stdout, first.stdout);
    assert!(
        other.stdout.contains("simulated policy changes"),
        "{}",
        other.stdout
    );
    assert!(!first.stdout.contains("simulated policy changes"));
}

fn row(task: &str, model: &str, score: f64) -> BenchResultRow {
    BenchResultRow {
        run_id: "run-1".into(),
        task_id: task.into(),
        model: model.into(),
        attempt: 1,
        suite: "builtin".into(),
        category: task.split('-').next().unwrap().into(),
        score,
        latency_ms: 50,
        output_tokens: 200,
        cost_usd: if model == "strong" { 0.002 } else { 0.0 },
        error: None,
        detail: None,
        created_ms: 1,
    }
}

#[tokio::test]
async fn history_replays_the_bench_results_with_the_configured_models() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::open(Some(&url)).await.unwrap();
    store
        .insert_bench_run(&BenchRunRow {
            id: "run-1".into(),
            suites: "builtin".into(),
            spec: serde_json::json!({}),
            status: "completed".into(),
            created_ms: 1,
            finished_ms: Some(2),
        })
        .await
        .unwrap();
    // The local model answers chat right and code wrong; the paid one answers everything.
    for i in 0..6 {
        for (task, weak) in [(format!("code-{i}"), 0.0), (format!("chat-{i}"), 1.0)] {
            assert!(
                store
                    .put_bench_result(&row(&task, "weak", weak))
                    .await
                    .unwrap()
            );
            assert!(
                store
                    .put_bench_result(&row(&task, "strong", 1.0))
                    .await
                    .unwrap()
            );
        }
    }
    store.close().await;
    let config = format!(
        r#"[storage]
url = "{url}"

[[providers]]
name = "here"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
tier = "local"

[[providers]]
name = "there"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
tier = "paid"

[[models]]
id = "weak"
provider = "here"

[[models]]
id = "strong"
provider = "there"
price = {{ input_per_mtok = 1.0, output_per_mtok = 10.0 }}
"#
    );
    std::fs::write(dir.path().join("fusion.toml"), config).unwrap();
    let run = run_fusion(
        dir.path(),
        &[
            "--config",
            "fusion.toml",
            "eval",
            "routing",
            "--from",
            "history",
            "--json",
        ],
        None,
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let eval = run.json();
    assert_eq!(eval["source"], "history");
    assert_eq!(eval["test_tasks"], 6);
    assert_eq!(eval["cheapest"], "weak");
    assert_eq!(eval["strongest"], "strong");
    assert!(
        eval["baselines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["name"] != "expected-oracle")
    );
    // Told what the training half measured, the router sends chat to the local model and code
    // to the paid one: the strongest's quality at half its cost.
    let at = &eval["router"]["cost_at_95"];
    assert_eq!(at["quality"], 1.0, "{}", eval["router"]);
    in_range(&at["pct_of_strongest"], 50.0, 50.0);
    let notes = eval["notes"].to_string();
    assert!(notes.contains("no input size or complexity"), "{notes}");

    let table = run_fusion(
        dir.path(),
        &[
            "--config",
            "fusion.toml",
            "eval",
            "routing",
            "--from",
            "history",
        ],
        None,
        &[],
    )
    .await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("on the history set"),
        "{}",
        table.stdout
    );
}

#[tokio::test]
async fn history_without_bench_results_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("empty.db").display());
    std::fs::write(
        dir.path().join("fusion.toml"),
        format!(
            "[storage]\nurl = \"{url}\"\n\n[[providers]]\nname = \"here\"\nkind = \"openai\"\n\
             base_url = \"http://127.0.0.1:9/v1\"\n\n[[models]]\nid = \"weak\"\nprovider = \"here\"\n"
        ),
    )
    .unwrap();
    let run = run_fusion(
        dir.path(),
        &[
            "--config",
            "fusion.toml",
            "eval",
            "routing",
            "--from",
            "history",
        ],
        None,
        &[],
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("fusion bench"), "{}", run.stderr);
}

#[tokio::test]
async fn history_after_a_real_bench_on_scripted_models_routes_code_to_the_model_that_passed() {
    use fusion_bench::suite::{self, TaskKind};
    use fusion_mock_provider::{ModelScript, Script};

    let suites = suite::builtin(Some(TaskKind::Code)).unwrap();
    let right = ModelScript::by_prompt_contains(
        suites
            .iter()
            .flat_map(|s| &s.tasks)
            .map(|t| (t.prompt.clone(), t.reference.clone().unwrap())),
    );
    let script = Script::new()
        .with_model("wrong-local", ModelScript::fixed("```python\npass\n```"))
        .with_model("right-free", right);
    let h = common::Harness::start(script).await;
    let config = format!(
        r#"[router]
discover = false

[[providers]]
name = "box"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0

[[providers]]
name = "cloud"
kind = "openai"
base_url = "{url}"
tier = "free"
retries = 0

[[models]]
id = "wrong-local"
provider = "box"

[[models]]
id = "right-free"
provider = "cloud"
"#,
        url = h.mock.base_url()
    );
    let path = h.write_config("fusion.toml", &config);
    let config = path.to_str().unwrap();
    let bench = h
        .fusion(&[
            "--config",
            config,
            "bench",
            "--models",
            "wrong-local,right-free",
            "--suite",
            "builtin:code",
            "--json",
        ])
        .await;
    assert_eq!(bench.code, 0, "{}", bench.stderr);

    let run = h
        .fusion(&[
            "--config", config, "eval", "routing", "--from", "history", "--json",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let eval = run.json();
    assert_eq!(eval["source"], "history");
    let tasks = eval["tasks"].as_u64().unwrap();
    assert_eq!(
        tasks,
        suites.iter().map(|s| s.tasks.len() as u64).sum::<u64>()
    );
    assert_eq!(eval["strongest"], "right-free");
    let models = eval["models"].as_array().unwrap();
    let trained = |id: &str| {
        models.iter().find(|m| m["id"] == id).unwrap()["trained"]["code"]["quality"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(trained("wrong-local"), 0.0);
    assert_eq!(trained("right-free"), 1.0);
    // Told what the bench measured, the router sends every code task to the model that passed.
    assert_eq!(eval["router"]["best_quality"], 1.0, "{}", eval["router"]);
    assert_eq!(baseline(&eval, "always wrong-local")["quality"], 0.0);

    let table = h
        .fusion(&["--config", config, "eval", "routing", "--from", "history"])
        .await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("always right-free"),
        "{}",
        table.stdout
    );
}
