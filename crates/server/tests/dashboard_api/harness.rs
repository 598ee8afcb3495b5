//! The harness: an app over a real store (SQLite in a temp dir) and a task engine that runs
//! benchmarks, against mock-provider; requests through `oneshot`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{Ledger, Store};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
use fusion_server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const JUDGE: &str = r#"{"consensus":["c"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}"#;

pub(crate) struct Dash {
    state: AppState,
    _mock: MockProvider,
    _dir: tempfile::TempDir,
}

impl Dash {
    pub(crate) async fn start() -> Self {
        let script = Script::new()
            .with_model("cheap", ModelScript::fixed("Hello there friend"))
            .with_model("dear", ModelScript::fixed("A dear answer"))
            .with_model("a", ModelScript::fixed("Answer A."))
            .with_model("b", ModelScript::fixed("Answer B."))
            .with_model("judge", ModelScript::fixed(JUDGE))
            .with_model("synth", ModelScript::fixed("The final answer"))
            .with_model(
                "broken",
                ModelScript::failing(Failure::status(500, "kaboom")),
            );
        let mock = MockProvider::start(script).await.unwrap();
        let local: String = ["cheap", "a", "b", "judge", "synth", "broken"]
            .iter()
            .map(|m| format!("[[models]]\nid = \"{m}\"\nprovider = \"local\"\n"))
            .collect();
        let text = format!(
            r#"[router]
discover = false
failure_threshold = 1
[[providers]]
name = "local"
kind = "openai"
base_url = "{url}"
tier = "local"
retries = 0
timeout = "5s"
[[providers]]
name = "paid"
kind = "openai"
base_url = "{url}"
tier = "paid"
retries = 0
timeout = "5s"
{local}
[[models]]
id = "dear"
provider = "paid"
price = {{ input_per_mtok = 2.0, output_per_mtok = 10.0 }}
[councils.default]
panel = [{{ model = "a" }}, {{ model = "b" }}]
judge = {{ model = "judge" }}
synthesizer = {{ model = "synth" }}
[councils.doomed]
panel = [{{ model = "broken" }}]
judge = {{ model = "judge" }}
"#,
            url = mock.base_url()
        );
        let config: Config = toml::from_str(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fusion.db").display());
        let store = Store::open(Some(&url)).await.unwrap();
        let registry = ProviderRegistry::from_config(&config)
            .unwrap()
            .with_ledger(Ledger::start(store));
        let state = AppState::with_keys(config, registry, vec![], None);
        state
            .runtime()
            .start_tasks()
            .unwrap()
            .set_bench_runner(fusion_bench::task::runner());
        Self {
            state,
            _mock: mock,
            _dir: dir,
        }
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> (StatusCode, String, String) {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, kind, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        (status, parse(&body))
    }

    pub(crate) async fn post(&self, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap();
        let (status, _, body) = self.send(request).await;
        (status, parse(&body))
    }

    pub(crate) async fn chat(&self, model: &str) -> Value {
        let body = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
        let (status, value) = self.post("/v1/chat/completions", body.to_string()).await;
        let fails = ["broken", "fusion/doomed"].contains(&model);
        assert_eq!(status.is_success(), !fails, "{model}: {status}: {value}");
        value
    }

    /// Waits until the task has ended and answers its view.
    pub(crate) async fn ended_task(&self, id: &str) -> Value {
        for _ in 0..1_200 {
            let (status, task) = self.get(&format!("/api/tasks/{id}")).await;
            assert_eq!(status, 200, "{task}");
            if ["completed", "failed", "cancelled"].contains(&task["state"].as_str().unwrap()) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("task {id} did not end");
    }
}

pub(crate) fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}
