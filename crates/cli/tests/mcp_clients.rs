//! Real MCP clients against the real binary: the official `mcp` Python SDK (driven by
//! `clients/mcp_client.py`) over stdio (`fusion mcp`) and Streamable HTTP (`/mcp` on
//! `fusion serve`), each in the newest protocol era (`server/discover`, 2026-07-28) and the
//! classic `initialize` one; the MCP Inspector CLI; and the official conformance suite's server
//! scenarios, held to the baseline recorded in `docs/conformance/`. Peers come from
//! `scripts/install-peers.sh`; a missing peer fails the test, it is never skipped. Every
//! `fusion mcp` a client starts is rooted at the test's temp dir (`common::peer_command`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{FUSION, FusionServer, Harness, healthy_script, peer_command, wait_until};
use fusion_mock_provider::ModelScript;
use serde_json::{Value, json};

/// The standard council plus `slow`: one member that answers at once, one that takes 30 s.
async fn harness() -> (Harness, PathBuf) {
    let script =
        healthy_script().with_model("sloth", ModelScript::fixed("late").with_latency_ms(30_000));
    let h = Harness::start(script).await;
    let config = format!(
        "{}\n[[models]]\nid = \"sloth\"\nprovider = \"mock\"\n\n[councils.slow]\n\
         panel = [{{ model = \"m-a\" }}, {{ model = \"sloth\" }}]\njudge = {{ model = \"judge\" }}\n",
        h.standard_config("", "")
            .replace("timeout = \"3s\"", "timeout = \"60s\"")
    );
    let path = h.write_config("fusion.toml", &config);
    (h, path)
}

/// Runs one scenario of the Python client (a `fusion mcp` it starts is rooted at the
/// harness's dir); its stdout is one JSON object.
async fn python(
    h: &Harness,
    target: &[String],
    mode: &str,
    scenario: &str,
    extra: &[&str],
) -> Value {
    let mut cmd = peer_command("FUSION_PEERS_PYTHON", h.dir.path());
    cmd.arg(common::test_client("mcp_client.py"))
        .args(target)
        .args(["--mode", mode, "--scenario", scenario, "--timeout", "60"])
        .args(extra);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the Python client finishes within 120 s")
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{scenario}/{mode}: the client failed ({}):\n{stderr}",
        out.status
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("{scenario}/{mode}: stdout is not JSON ({e}):\n{stdout}\n{stderr}")
    })
}

fn stdio_target(config: &std::path::Path) -> Vec<String> {
    ["--transport", "stdio", "--command", FUSION]
        .into_iter()
        .map(str::to_owned)
        .chain(
            ["mcp", "--config", config.to_str().unwrap()]
                .iter()
                .flat_map(|a| ["--arg".to_owned(), (*a).to_owned()]),
        )
        .collect()
}

fn http_target(server: &FusionServer) -> Vec<String> {
    vec![
        "--transport".into(),
        "http".into(),
        "--url".into(),
        format!("{}/mcp", server.url),
    ]
}

/// Every scenario through one transport in one protocol era.
async fn full_session(h: &Harness, target: &[String], mode: &str, expected_protocol: &str) {
    let listed = python(h, target, mode, "list", &[]).await;
    assert_eq!(listed["protocol_version"], expected_protocol, "{listed}");
    assert_eq!(listed["tools"][0]["name"], "fusion_ask", "{listed}");
    // `prompt`, or local-fusion's `question`.
    assert_eq!(
        listed["tools"][0]["inputSchema"]["anyOf"],
        json!([{"required": ["prompt"]}, {"required": ["question"]}])
    );
    // The council result, or with `async` the queued task.
    let schema = &listed["tools"][0]["outputSchema"];
    assert!(schema["$defs"]["CouncilResult"]["properties"]["analysis"].is_object());
    assert!(schema["anyOf"].is_array(), "{schema}");
    let uris: Vec<&str> = listed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        uris,
        [
            "fusion://status",
            "fusion://councils",
            "fusion://usage",
            "fusion://catalog",
            "fusion://catalog/free",
            "fusion://catalog/status",
            "fusion://jobs/active"
        ]
    );

    // The SDK checks structuredContent against the outputSchema before returning it.
    let asked = python(
        h,
        target,
        mode,
        "ask",
        &["--prompt", "What is the capital of France?"],
    )
    .await;
    assert_eq!(asked["is_error"], false, "{asked}");
    assert_eq!(asked["text"], "FINAL: Paris.");
    assert_eq!(asked["structured"]["status"], "ok");
    assert_eq!(
        asked["structured"]["analysis"]["consensus"][0],
        "Paris is the capital of France"
    );
    // Three members, the judge, the synthesizer.
    let progress = asked["progress"].as_array().unwrap();
    let steps: Vec<f64> = progress
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(steps, [1.0, 2.0, 3.0, 4.0, 5.0], "{asked}");
    assert!(progress.iter().all(|p| p["total"] == 5.0));
    assert!(
        progress[4]["message"]
            .as_str()
            .unwrap()
            .starts_with("synthesizer")
    );

    let read = python(h, target, mode, "read", &[]).await;
    assert_eq!(read["status"]["providers"][0]["reachable"], true, "{read}");
    assert_eq!(read["councils"]["councils"][0]["name"], "default", "{read}");

    // Cancel once the fast member answered; the 30 s member's upstream call must stop.
    let cancelled = python(
        h,
        target,
        mode,
        "cancel",
        &[
            "--council",
            "slow",
            "--prompt",
            "slow one",
            "--cancel-after-progress",
            "1",
            "--then-prompt",
            "again",
        ],
    )
    .await;
    assert_eq!(cancelled["cancelled"], true, "{cancelled}");
    assert_eq!(cancelled["after"]["text"], "FINAL: Paris.", "{cancelled}");
    wait_until(
        "the cancelled council's upstream calls stop",
        Duration::from_secs(5),
        || async { h.mock.in_flight() == 0 },
    )
    .await;

    let errors = python(h, target, mode, "errors", &["--prompt", "still there?"]).await;
    assert_eq!(errors["unknown_tool"]["error"]["code"], -32602, "{errors}");
    for bad in ["missing_prompt", "wrong_type", "unknown_council"] {
        assert_eq!(errors[bad]["is_error"], true, "{bad}: {errors}");
    }
    assert!(
        errors["unknown_council"]["text"]
            .as_str()
            .unwrap()
            .contains("no council named")
    );
    assert_eq!(
        errors["unknown_method"]["error"]["code"], -32601,
        "{errors}"
    );
    assert_eq!(errors["still_serving"]["text"], "FINAL: Paris.", "{errors}");
}

#[tokio::test]
async fn python_sdk_over_stdio_newest_protocol_lists_asks_reads_cancels_and_survives_errors() {
    let (h, config) = harness().await;
    full_session(&h, &stdio_target(&config), "default", "2026-07-28").await;
}

#[tokio::test]
async fn python_sdk_over_stdio_initialize_handshake_lists_asks_reads_cancels_and_survives_errors() {
    let (h, config) = harness().await;
    full_session(&h, &stdio_target(&config), "legacy", "2025-11-25").await;
}

async fn serve(h: &Harness, config: &std::path::Path) -> FusionServer {
    FusionServer::with_config(h.dir.path(), config).await
}

#[tokio::test]
async fn python_sdk_over_http_newest_protocol_lists_asks_reads_cancels_and_survives_errors() {
    let (h, config) = harness().await;
    let server = serve(&h, &config).await;
    full_session(&h, &http_target(&server), "default", "2026-07-28").await;
    server.stop().await;
}

#[tokio::test]
async fn python_sdk_over_http_initialize_handshake_lists_asks_reads_cancels_and_survives_errors() {
    let (h, config) = harness().await;
    let server = serve(&h, &config).await;
    full_session(&h, &http_target(&server), "legacy", "2025-11-25").await;
    server.stop().await;
}

/// The MCP Inspector CLI; a `fusion mcp` it starts is rooted at the harness's dir (its
/// environment, and `-e` for each variable, as the inspector passes the server only a few).
async fn inspector(h: &Harness, args: &[&str]) -> Value {
    let mut cmd = peer_command("FUSION_MCP_INSPECTOR", h.dir.path());
    cmd.arg("--cli");
    for (name, value) in fusion_test_support::isolated_env(h.dir.path()) {
        cmd.arg("-e").arg(format!(
            "{name}={}",
            value.to_str().expect("utf-8 temp path")
        ));
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.args(args).output())
        .await
        .expect("the inspector finishes within 120 s")
        .expect("run the MCP Inspector CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "inspector {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("inspector output is not JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn mcp_inspector_cli_lists_and_calls_fusion_ask_over_stdio_and_http() {
    let (h, config) = harness().await;
    let config = config.to_str().unwrap();
    let fusion = FUSION;
    // The server command goes after `--`: the inspector has a `--config` option of its own.
    let listed = inspector(
        &h,
        &[
            "--method",
            "tools/list",
            "--",
            fusion,
            "mcp",
            "--config",
            config,
        ],
    )
    .await;
    assert_eq!(listed["tools"][0]["name"], "fusion_ask", "{listed}");
    let called = inspector(
        &h,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "fusion_ask",
            "--tool-arg",
            "prompt=Capital of France?",
            "--",
            fusion,
            "mcp",
            "--config",
            config,
        ],
    )
    .await;
    assert_eq!(called["content"][0]["text"], "FINAL: Paris.", "{called}");
    assert_eq!(called["structuredContent"]["status"], "ok");

    let server = serve(&h, std::path::Path::new(config)).await;
    let url = format!("{}/mcp", server.url);
    let listed = inspector(&h, &[&url, "--transport", "http", "--method", "tools/list"]).await;
    assert_eq!(listed["tools"][0]["name"], "fusion_ask", "{listed}");
    let called = inspector(
        &h,
        &[
            &url,
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "fusion_ask",
            "--tool-arg",
            "prompt=Capital of France?",
        ],
    )
    .await;
    assert_eq!(called["content"][0]["text"], "FINAL: Paris.", "{called}");
    server.stop().await;
}

#[tokio::test]
async fn conformance_suite_server_scenarios_match_the_recorded_baseline() {
    let (h, config) = harness().await;
    let server = serve(&h, &config).await;
    let root = common::repo_root();
    let out_dir = h.dir.path().join("conformance");
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(root.join("scripts/mcp-conformance.sh"))
            .arg(format!("{}/mcp", server.url))
            .arg(&out_dir)
            .args([
                "--",
                "--expected-failures",
                &format!("{}", root.join("docs/conformance/baseline.yml").display()),
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the conformance suite finishes within 300 s")
    .expect("run scripts/mcp-conformance.sh");
    // Exit 0: exactly the baseline's scenarios fail (a newly failing or newly passing one is not).
    assert!(
        out.status.success(),
        "conformance differs from docs/conformance/baseline.yml:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop().await;
}
