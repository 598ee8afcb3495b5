//! The runner tests' world: a store on either backend, a mock provider whose models answer the
//! built-in suites right (their reference answers), wrong, slowly or not at all, and a
//! registry over it that writes the usage ledger.

use std::sync::Arc;

use fusion_bench::suite::{self, Suite, TaskKind};
use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{Ledger, Store};
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Script};
pub use fusion_test_support::{Backend, PgDatabase};

/// A fresh, migrated store; its database (or directory) goes away when this is dropped.
pub struct TestStore {
    pub store: Store,
    _pg: Option<PgDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub async fn new(backend: Backend) -> TestStore {
        let (url, pg, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("fusion.db").display());
                (url, None, Some(dir))
            }
            Backend::Postgres => {
                let pg = PgDatabase::create().await;
                (pg.url.clone(), Some(pg), None)
            }
        };
        TestStore {
            store: Store::open(Some(&url)).await.unwrap(),
            _pg: pg,
            _dir: dir,
        }
    }
}

/// The built-in suite of `kind`.
pub fn builtin(kind: TaskKind) -> Vec<Suite> {
    suite::builtin(Some(kind)).unwrap()
}

/// A code answer that defines nothing the tests call.
pub const WRONG_CODE: &str = "```python\ndef nothing():\n    return None\n```";

/// Answers every task of `suites` with its reference answer.
pub fn right(suites: &[Suite]) -> ModelScript {
    ModelScript::by_prompt_contains(
        suites
            .iter()
            .flat_map(|s| &s.tasks)
            .map(|t| (t.prompt.clone(), t.reference.clone().unwrap_or_default())),
    )
}

/// `good` answers right, `bad` wrong, `slow` right after 3 s, `down` fails with a 500,
/// `priced` (a paid model at $1/$2 per million tokens) right.
pub fn script(suites: &[Suite]) -> Script {
    Script::new()
        .with_model("good", right(suites))
        .with_model("bad", ModelScript::fixed(WRONG_CODE))
        .with_model("slow", right(suites).with_latency_ms(3_000))
        .with_model("down", ModelScript::failing(Failure::status(500, "broken")))
        .with_model("priced", right(suites))
}

pub fn config(base_url: &str) -> Arc<Config> {
    let mut models = String::new();
    for id in ["good", "bad", "slow", "down"] {
        models.push_str(&format!(
            "[[models]]\nid = \"{id}\"\nprovider = \"mock\"\n\n"
        ));
    }
    let text = format!(
        r#"
[router]
discover = false

[[providers]]
name = "mock"
kind = "openai"
base_url = "{base_url}"
tier = "local"
retries = 0
timeout = "30s"
max_concurrency = 16

[[providers]]
name = "hosted"
kind = "openai"
base_url = "{base_url}"
tier = "paid"
retries = 0
timeout = "30s"

{models}
[[models]]
id = "priced"
provider = "hosted"
price = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}
"#
    );
    let config: Config = toml::from_str(&text).unwrap();
    config.validate(std::path::Path::new("test.toml")).unwrap();
    Arc::new(config)
}

/// The mock, and a registry over it that writes `store`'s usage ledger.
pub async fn world(store: &Store, suites: &[Suite]) -> (MockProvider, ProviderRegistry, Ledger) {
    let mock = MockProvider::start(script(suites)).await.unwrap();
    let config = config(&mock.base_url());
    let ledger = Ledger::start(store.clone());
    let registry = ProviderRegistry::from_config(&config)
        .unwrap()
        .with_ledger(ledger.clone());
    (mock, registry, ledger)
}
