//! The usage ledger: `/api/usage` and `fusion usage` count every call (by front door, model
//! and day), lose none at shutdown, refuse bad queries, and work the same on PostgreSQL.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_counts_every_call_and_loses_none_at_shutdown() {
    let h = Harness::start(script()).await;
    let config_text = config(&h, "", "");
    let server = serve(&h, &config_text).await;
    for i in 0..10 {
        let (status, _, _) = chat(&server, ask("small", &format!("call {i}"))).await;
        assert_eq!(status, 200);
    }
    for _ in 0..5 {
        let (status, _, _) = chat(&server, ask("router/quality", "one two three")).await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = chat(&server, ask("broken", "x")).await;
    assert_eq!(status, 502);
    let report: Value = reqwest::get(format!("{}/api/usage", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["total"]["calls"], 16, "{report}");
    assert_eq!(report["total"]["failed_calls"], 1, "{report}");
    // Each call is attributed to the front door that made it.
    for (caller, calls) in [("http", 16), ("cli", 0), ("mcp", 0)] {
        let report: Value = reqwest::get(format!("{}/api/usage?caller={caller}", server.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(report["total"]["calls"], calls, "{caller}: {report}");
    }
    // SIGTERM right after a burst: every row is written before the process exits.
    for i in 0..20 {
        chat(&server, ask("small", &format!("late {i}"))).await;
    }
    server.stop().await;
    let path = h.dir.path().join("fusion.toml");
    let run = h
        .fusion(&["usage", "--json", "--config", path.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["total"]["calls"], 36, "{report}");
    let by_model = |id: &str| {
        report["by_model"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {report}"))
    };
    assert_eq!(by_model("small")["calls"], 30);
    assert_eq!(by_model("small")["cost_usd"], 0.0);
    assert_eq!(by_model("big")["calls"], 5);
    assert!(
        by_model("big")["cost_usd"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert_eq!(by_model("broken")["failed_calls"], 1);
    assert_eq!(report["by_day"].as_array().unwrap().len(), 1);
    let text = h
        .fusion(&["usage", "--config", path.to_str().unwrap()])
        .await;
    assert!(
        text.stdout.contains("36 calls (1 failed)"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_usage_queries_are_400_naming_the_parameter() {
    let h = Harness::start(script()).await;
    let server = serve(&h, &config(&h, "", "")).await;
    for (query, param) in [("since=soon", "since"), ("caller=robot", "caller")] {
        let response = reqwest::get(format!("{}/api/usage?{query}", server.url))
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    let response = reqwest::get(format!("{}/api/usage?colour=red", server.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_the_ledger_counts_every_call_and_synced_models_persist() {
    let h = Harness::start(script()).await;
    let db = common::PgDatabase::create().await;
    let url = &db.url;
    let text = format!("[storage]\nurl = \"{url}\"\n\n{}", config(&h, "", ""));
    let server = serve(&h, &text).await;
    for i in 0..12 {
        let (status, _, _) = chat(&server, ask("router/auto", &format!("call {i}"))).await;
        assert_eq!(status, 200);
    }
    server.stop().await;
    let path = h.dir.path().join("fusion.toml");
    let report = h
        .fusion(&["usage", "--json", "--config", path.to_str().unwrap()])
        .await
        .json();
    assert_eq!(report["total"]["calls"], 12, "{report}");
    assert_eq!(report["by_model"][0]["key"], "small", "{report}");
    // Nothing went to the SQLite default: the store is the configured one.
    assert!(!h.dir.path().join("xdg-data/fusion/fusion.db").exists());
}
