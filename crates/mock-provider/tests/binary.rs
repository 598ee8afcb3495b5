//! The `mock-provider` binary: prints its URL, serves a script file, refuses remote binds, and
//! exits cleanly on SIGTERM.

// Helpers fail the test on error, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::{process::Stdio, time::Duration};

use common::chat;
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_mock-provider");

/// Starts the binary and returns it with the URL from its first stdout line.
async fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .unwrap()
    .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("MOCK_PROVIDER_URL=")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    (child, url)
}

async fn ask(url: &str, model: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}/chat/completions"))
        .json(&chat(model, "hi"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn binary_prints_url_and_echoes_any_model_by_default() {
    let (mut child, url) = spawn(&["--models", "a,b"]).await;
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
        "{url}"
    );
    let (status, body) = ask(&url, "whatever").await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hi");
    let models: Value = reqwest::get(format!("{url}/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "a");
    assert_eq!(models["data"][1]["id"], "b");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn binary_serves_a_script_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(
        &mut file,
        br#"{"models": {"fixed": {"reply": {"fixed": "from file"}}}}"#,
    )
    .unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    let (mut child, url) = spawn(&["--script", &path]).await;
    let (status, body) = ask(&url, "fixed").await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "from file");
    let (status, _) = ask(&url, "other").await;
    assert_eq!(status, 404);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn binary_rejects_a_script_with_unknown_keys() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, br#"{"modles": {}}"#).unwrap();
    let output = Command::new(BIN)
        .args(["--script", file.path().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("modles"));
}

#[tokio::test]
async fn binary_refuses_non_loopback_listen_without_allow_remote() {
    let output = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--allow-remote"));
}

#[cfg(unix)]
#[tokio::test]
async fn binary_exits_cleanly_on_sigterm() {
    let (mut child, url) = spawn(&[]).await;
    assert_eq!(ask(&url, "m").await.0, 200);
    let pid = child.id().unwrap().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
