//! Hot reload of `fusion serve`: a changed config file is picked up without a restart, SIGHUP
//! reloads at once, and an invalid file is rejected with its error while the running
//! configuration keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{FusionServer, Harness};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::Value;

fn config(h: &Harness, models: &[&str]) -> String {
    let mut text = format!(
        "[router]\ndiscover = false\n\n[[providers]]\nname = \"mock\"\nkind = \"openai\"\nbase_url = \"{}\"\nretries = 0\n",
        h.mock.base_url()
    );
    for id in models {
        text.push_str(&format!(
            "\n[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n"
        ));
    }
    text
}

async fn model_ids(server: &FusionServer) -> Vec<String> {
    let body: Value = reqwest::get(format!("{}/v1/models", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls until `ids` satisfies `done` (the watcher looks once a second).
async fn wait_for(server: &FusionServer, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..100 {
        ids = model_ids(server).await;
        if done(&ids) {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the reload was not seen; models: {ids:?}; log:\n{}",
        server.log()
    );
}

fn script() -> Script {
    Script::new()
        .with_model("one", ModelScript::fixed("one"))
        .with_model("two", ModelScript::fixed("two"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_config_file_is_reloaded_and_an_invalid_one_rejected_keeping_the_old() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h, &["one"]));
    let server = FusionServer::with_config(h.dir.path(), &path).await;
    assert!(model_ids(&server).await.contains(&"one".to_owned()));

    std::fs::write(&path, config(&h, &["one", "two"])).unwrap();
    wait_for(&server, |ids| ids.iter().any(|id| id == "two")).await;
    assert!(
        server.log().contains("configuration reloaded"),
        "{}",
        server.log()
    );

    // A model naming an unknown provider: the whole file is refused, the old one serves on.
    std::fs::write(
        &path,
        format!(
            "{}\n[[models]]\nid = \"three\"\nprovider = \"nowhere\"\n",
            config(&h, &["one"])
        ),
    )
    .unwrap();
    for _ in 0..100 {
        if server.log().contains("rejected") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server.log();
    assert!(log.contains("rejected"), "{log}");
    assert!(
        log.contains("models[1].provider"),
        "the error names the key: {log}"
    );
    let ids = model_ids(&server).await;
    assert!(
        ids.contains(&"two".to_owned()) && !ids.contains(&"three".to_owned()),
        "{ids:?}"
    );
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&serde_json::json!({"model": "two", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"], "two",
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_config() {
    let h = Harness::start(script()).await;
    let path = h.write_config("fusion.toml", &config(&h, &["one"]));
    let server = FusionServer::with_config(h.dir.path(), &path).await;
    // Written and signalled at once: whichever comes first, the new model appears.
    std::fs::write(&path, config(&h, &["two"])).unwrap();
    let pid = server.child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let ids = wait_for(&server, |ids| ids.iter().any(|id| id == "two")).await;
    assert!(!ids.contains(&"one".to_owned()), "{ids:?}");
    // However the watcher's poll and the signal interleave, the signal reloads once itself.
    for _ in 0..100 {
        if server.log().contains("configuration reloaded (SIGHUP") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.log().contains("configuration reloaded (SIGHUP"),
        "{}",
        server.log()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reloading_an_unchanged_file_changes_nothing_though_context_windows_were_learned() {
    let h = Harness::start(
        Script::new().with_model("smol", ModelScript::fixed("hi").with_context_length(4096)),
    )
    .await;
    // Discovery on: the local server is asked for the window the config leaves out.
    let text = format!(
        "[[providers]]\nname = \"mock\"\nkind = \"openai\"\nbase_url = \"{}\"\ntier = \"local\"\nretries = 0\n\n[[models]]\nid = \"smol\"\nprovider = \"mock\"\n",
        h.mock.base_url()
    );
    let path = h.write_config("fusion.toml", &text);
    let server = FusionServer::with_config(h.dir.path(), &path).await;
    let client = reqwest::Client::new();
    let mut learned = false;
    for _ in 0..100 {
        let models: Value = client
            .get(format!("{}/api/models", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        learned = models.to_string().contains("4096");
        if learned {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(learned, "the window was learned; log:\n{}", server.log());
    for _ in 0..2 {
        let report: Value = client
            .post(format!("{}/api/config/reload", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(report["changed"], false, "{report}");
        assert!(
            report["models"]["changed"].as_array().unwrap().is_empty(),
            "{report}"
        );
    }
    server.stop().await;
}
