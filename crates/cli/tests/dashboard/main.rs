//! The dashboard in a real browser against the real binary: headless Chromium driven over
//! WebDriver (`common::browser`) through pages served by `fusion serve`, with a mock-provider
//! model set and a council (`common::Harness`). Every test keeps its own data dir, checks the
//! console stayed free of errors and that no request left 127.0.0.1, and saves screenshots under
//! `$CARGO_TARGET_DIR/fusion-artifacts/dashboard/`. The harness is here; each flow has its
//! module (one test binary, linked once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod councils;
mod keyboard;
mod keys;
mod mcp;
mod pages;
mod tasks;

use std::path::PathBuf;
use std::time::Duration;

use common::browser::{Browser, PAGE_WAIT};
use common::{FusionServer, Harness, healthy_script, wait_until};
use fusion_mock_provider::{ModelScript, Script};
use serde_json::{Value, json};

/// The listed pages: path and the screenshot's name.
const PAGES: [(&str, &str); 6] = [
    ("/ui/tasks", "tasks"),
    ("/ui/councils", "councils"),
    ("/ui/models", "models"),
    ("/ui/usage", "usage"),
    ("/ui/mcp", "mcp"),
    ("/ui/bench", "bench"),
];

/// The standard council's models answer at once; `hang` takes a minute (it holds the local
/// slot, so a task behind it stays queued); `quick` answers at once on the local tier.
fn script() -> Script {
    healthy_script()
        .with_model("hang", ModelScript::echo().with_latency_ms(60_000))
        .with_model("quick", ModelScript::fixed("done quickly"))
}

/// The standard council config (five mock models, council `default`) plus a local provider
/// with `hang` and `quick`, tasks polled fast, and `server` (e.g. keys).
fn config(h: &Harness, server: &str) -> String {
    let council = h.standard_config("", "");
    format!(
        r#"{server}
[router]
discover = false

[tasks]
poll_interval = "200ms"

[[providers]]
name = "local"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "120s"

[[models]]
id = "hang"
provider = "local"

[[models]]
id = "quick"
provider = "local"

{council}"#,
        url = h.mock.base_url()
    )
}

/// A running dashboard: the mock, the server on its config file, and a browser.
struct Dashboard {
    h: Harness,
    server: FusionServer,
    browser: Browser,
    /// The server's config file (`fusion.toml` in the harness's dir).
    config_path: PathBuf,
    /// The bearer key the API calls of the test send, when keys are configured.
    key: Option<String>,
}

impl Dashboard {
    /// `fusion serve` on [`config`] with `server` added, and a fresh browser.
    async fn start(server: &str) -> Self {
        Self::start_with(server, &[], None).await
    }

    /// Like [`Dashboard::start`], with `env` added to the server's environment and `key` sent
    /// by the test's own API calls.
    async fn start_with(server: &str, env: &[(&str, &str)], key: Option<&str>) -> Self {
        let h = Harness::start(script()).await;
        let config_path = h.write_config("fusion.toml", &config(&h, server));
        let config_arg = config_path.to_str().unwrap().to_owned();
        let server = FusionServer::start(
            h.dir.path(),
            &["--config", &config_arg, "--listen", "127.0.0.1:0"],
            env,
        )
        .await;
        let browser = Browser::start().await;
        Self {
            h,
            server,
            browser,
            config_path,
            key: key.map(str::to_owned),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    /// Opens `path` and waits for its title.
    async fn open(&self, path: &str) {
        self.browser.goto(&self.url(path)).await;
        self.browser.find("#page-title").await;
    }

    /// Waits until the page follows the live event stream.
    async fn wait_live(&self) {
        self.browser
            .wait_text("#live-state", "Live", |t| t.trim() == "Live")
            .await;
    }

    /// Submits a completion task for `model` over the API: its id.
    async fn submit_completion(&self, model: &str, prompt: &str) -> String {
        let body = json!({"work": {
            "kind": "completion",
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
        }});
        let answer = self.post("/api/tasks", body).await;
        answer["id"].as_str().unwrap().to_owned()
    }

    /// The API answer of `POST path` with a JSON body, which must succeed.
    async fn post(&self, path: &str, body: Value) -> Value {
        let request = reqwest::Client::new().post(self.url(path)).json(&body);
        self.answer(&format!("POST {path}"), request).await
    }

    /// The API answer of `GET path`, which must succeed.
    async fn api(&self, path: &str) -> Value {
        let request = reqwest::Client::new().get(self.url(path));
        self.answer(&format!("GET {path}"), request).await
    }

    async fn answer(&self, what: &str, mut request: reqwest::RequestBuilder) -> Value {
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let body: Value = answer.json().await.unwrap();
        assert!(status.is_success(), "{what}: {status} {body}");
        body
    }

    /// Checks the whole session (console, requests), closes the browser and stops the server.
    async fn finish(self, context: &str) {
        let Self {
            browser, server, ..
        } = self;
        browser.finish(context).await;
        server.stop().await;
    }
}
