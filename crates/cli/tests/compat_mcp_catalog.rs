//! The routing server's OpenRouter tools through the official MCP Python client against the
//! real `fusion` (issue 16): `get_free_models` lists free catalog and local models but no paid
//! one, `clear_openrouter_tracking` forgets the catalogs and fetches the changed one (an
//! unreachable catalog reported, not failing the call), `set_model_prompting_strategy` rewrites
//! what the provider receives on every call of the model — across a restart — and the catalog
//! resources and the strategy template read back. Bad arguments are `invalid_arguments`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::mcp_session::Session;
use common::{FusionServer, Harness};
use fusion_mock_provider::{MockProvider, ModelScript, Script};
use serde_json::{Value, json};

/// The local model server's one model.
fn local_script() -> Script {
    Script::new().with_model("local-coder", ModelScript::echo())
}

/// An OpenRouter-style catalog: a free model and a paid one, with prices and context lengths.
fn catalog_script(free: &str) -> Script {
    Script::new()
        .with_model(
            free,
            ModelScript::fixed("free says hi")
                .with_pricing("0", "0")
                .with_context_length(131_072),
        )
        .with_model(
            "anthropic/claude-opus-4",
            ModelScript::fixed("opus says hi")
                .with_pricing("0.000015", "0.000075")
                .with_context_length(200_000),
        )
}

/// A local provider with one configured model, a catalog provider on `catalog`, and a catalog
/// provider nothing answers for.
fn config(h: &Harness, catalog: &MockProvider) -> String {
    format!(
        r#"[storage]
url = "sqlite://{dir}/fusion.db"

[router]
discover = false

[[providers]]
name = "local"
kind = "openai"
base_url = "{local}"
tier = "local"
retries = 0
timeout = "5s"

[[providers]]
name = "openrouter"
kind = "openai"
base_url = "{catalog}"
tier = "free"
catalog = true
retries = 0
timeout = "5s"

[[providers]]
name = "deadcat"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
tier = "free"
catalog = true
retries = 0
timeout = "2s"

[[models]]
id = "coder"
provider = "local"
model = "local-coder"
context_window = 32768
"#,
        dir = h.dir.path().display(),
        local = h.mock.base_url(),
        catalog = catalog.base_url(),
    )
}

async fn setup(free: &str) -> (Harness, MockProvider, std::path::PathBuf) {
    let h = Harness::start(local_script()).await;
    let catalog = MockProvider::start(catalog_script(free)).await.unwrap();
    let path = h.write_config("fusion.toml", &config(&h, &catalog));
    (h, catalog, path)
}

async fn call(s: &mut Session, tool: &str, args: Value) -> Value {
    s.ok(json!({"op": "call", "tool": tool, "args": args}))
        .await
}

fn ids(answer: &Value) -> Vec<String> {
    answer["structured"]["models"]
        .as_array()
        .unwrap_or_else(|| panic!("no models: {answer}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn model<'a>(answer: &'a Value, id: &str) -> &'a Value {
    answer["structured"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing: {answer}"))
}

/// Calls `get_free_models` until `id` is listed (the catalog is synced in the background at
/// start), for at most 30 s.
async fn free_models_with(s: &mut Session, id: &str) -> Value {
    for _ in 0..300 {
        let answer = call(s, "get_free_models", json!({})).await;
        assert_eq!(answer["is_error"], false, "{answer}");
        if ids(&answer).iter().any(|m| m == id) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} never listed as free");
}

fn class(answer: &Value) -> &str {
    answer["structured"]["error"]["class"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn get_free_models_lists_free_catalog_and_local_models_but_no_paid_one() {
    let (_h, _catalog, path) = setup("meta/llama-3.3:free").await;
    let mut s = Session::stdio(&path, &[]).await;
    let tools = s.tool_names().await;
    for name in [
        "get_free_models",
        "clear_openrouter_tracking",
        "set_model_prompting_strategy",
    ] {
        assert!(tools.iter().any(|t| t == name), "{name} missing: {tools:?}");
    }

    let answer = free_models_with(&mut s, "openrouter/meta/llama-3.3:free").await;
    assert_eq!(
        ids(&answer),
        ["coder", "openrouter/meta/llama-3.3:free"],
        "local first, no paid model: {answer}"
    );
    let coder = model(&answer, "coder");
    assert_eq!(
        (&coder["source"], &coder["tier"], &coder["context_window"]),
        (&json!("config"), &json!("local"), &json!(32768)),
        "{coder}"
    );
    assert_eq!(coder["upstream_model"], "local-coder");
    let free = model(&answer, "openrouter/meta/llama-3.3:free");
    assert_eq!(free["source"], "catalog", "{free}");
    assert_eq!(free["context_window"], 131_072, "{free}");
    assert_eq!(free["upstream_model"], "meta/llama-3.3:free");
    assert!(
        ["healthy", "unknown"].contains(&free["state"].as_str().unwrap()),
        "{free}"
    );
    assert_eq!(answer["structured"]["count"], 2);
    assert!(answer["structured"]["synced_at"].is_string(), "{answer}");
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("coder (ctx 32768"), "{text}");
    assert!(!text.contains("opus"), "{text}");

    let local = call(&mut s, "get_free_models", json!({"provider": "local"})).await;
    assert_eq!(ids(&local), ["coder"]);
    let unknown = call(&mut s, "get_free_models", json!({"provider": "nope"})).await;
    assert_eq!(class(&unknown), "invalid_arguments", "{unknown}");
    assert!(
        unknown["text"]
            .as_str()
            .unwrap()
            .contains("deadcat, local, openrouter"),
        "{unknown}"
    );

    // The resources: every synced catalog model, the free ones, each catalog's syncs.
    let catalog = s.read_json("fusion://catalog").await;
    let listed: Vec<(&str, bool)> = catalog["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m["free"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("openrouter/anthropic/claude-opus-4", false),
            ("openrouter/meta/llama-3.3:free", true)
        ],
        "{catalog}"
    );
    assert_eq!(catalog["models"][0]["output_per_mtok"], 75.0, "{catalog}");
    let free = s.read_json("fusion://catalog/free").await;
    assert_eq!(ids(&json!({ "structured": free })), ids(&answer), "{free}");
    let status = s.read_json("fusion://catalog/status").await;
    let providers = status["providers"].as_array().unwrap();
    let names: Vec<&str> = providers
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deadcat", "openrouter"], "{status}");
    let openrouter = &providers[1];
    assert_eq!(openrouter["catalog"], "configured");
    assert_eq!(
        (&openrouter["models"], &openrouter["free"]),
        (&json!(2), &json!(1))
    );
    assert!(openrouter["last_sync"].is_string(), "{openrouter}");
    assert!(openrouter["next_refresh"].is_string(), "{openrouter}");
    assert_eq!(openrouter["last_error"], Value::Null, "{openrouter}");
    let listed = s.ok(json!({"op": "list_resources"})).await;
    let uris: Vec<&str> = listed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    for uri in [
        "fusion://catalog",
        "fusion://catalog/free",
        "fusion://catalog/status",
    ] {
        assert!(uris.contains(&uri), "{uri} not listed: {uris:?}");
    }
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clear_openrouter_tracking_forgets_the_catalog_and_fetches_the_changed_one() {
    let (_h, catalog, path) = setup("meta/llama-3.3:free").await;
    let mut s = Session::stdio(&path, &[]).await;
    free_models_with(&mut s, "openrouter/meta/llama-3.3:free").await;

    // The provider's catalog changes: another free model replaces the first.
    catalog.set_script(catalog_script("qwen/qwen3-coder:free"));
    let cleared = call(&mut s, "clear_openrouter_tracking", json!({})).await;
    assert_eq!(
        cleared["is_error"], false,
        "one catalog answered: {cleared}"
    );
    let providers = cleared["structured"]["providers"].as_array().unwrap();
    let openrouter = providers
        .iter()
        .find(|p| p["provider"] == "openrouter")
        .unwrap();
    assert_eq!(
        (
            &openrouter["cleared"],
            &openrouter["fetched"],
            &openrouter["free"]
        ),
        (&json!(2), &json!(2), &json!(1)),
        "{cleared}"
    );
    assert_eq!(openrouter["error"], Value::Null);
    // The unreachable catalog is reported, not a failure of the call.
    let dead = providers
        .iter()
        .find(|p| p["provider"] == "deadcat")
        .unwrap();
    assert!(
        dead["error"].as_str().unwrap().contains("deadcat"),
        "{dead}"
    );
    assert_eq!(dead["fetched"], Value::Null);
    let text = cleared["text"].as_str().unwrap();
    assert!(
        text.contains("openrouter: cleared 2, fetched 2 (1 free)"),
        "{text}"
    );

    let after = call(&mut s, "get_free_models", json!({})).await;
    assert_eq!(
        ids(&after),
        ["coder", "openrouter/qwen/qwen3-coder:free"],
        "{after}"
    );
    let status = s.read_json("fusion://catalog/status").await;
    let dead = &status["providers"][0];
    assert_eq!(dead["provider"], "deadcat");
    assert!(dead["last_error"].is_string(), "{status}");
    assert_eq!(dead["last_sync"], Value::Null, "{status}");
    s.quit().await;
}

/// Posts a chat request to `fusion serve` and returns its status.
async fn chat(server: &FusionServer, model: &str, messages: Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&json!({"model": model, "messages": messages}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The last request the mock received for `model`, as (role, content) pairs.
fn last_messages(mock: &MockProvider, model: &str) -> Vec<(String, String)> {
    let sent = mock.requests_for(model);
    let last = sent
        .last()
        .unwrap_or_else(|| panic!("no request for {model}"));
    last.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(r, c)| ((*r).to_owned(), (*c).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_strategy_set_over_mcp_rewrites_every_call_of_the_model_and_survives_a_restart() {
    let (h, _catalog, path) = setup("meta/llama-3.3:free").await;
    let server = FusionServer::with_config(h.dir.path(), &path).await;
    let mut s = Session::http(&format!("{}/mcp", server.url), &[]).await;
    let set = call(
        &mut s,
        "set_model_prompting_strategy",
        json!({
            "model_id": "coder",
            "system_prompt": "You are terse.",
            "user_prompt": "### Task\n{prompt}\n### End",
            "use_chat": true,
            "success_rate": 0.8
        }),
    )
    .await;
    assert_eq!(set["is_error"], false, "{set}");
    assert_eq!(set["structured"]["model"], "coder");
    assert_eq!(set["structured"]["source"], "store");
    assert_eq!(
        set["structured"]["resource"],
        "fusion://models/coder/prompting"
    );

    let messages = json!([
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hello"}
    ]);
    assert_eq!(chat(&server, "coder", messages.clone()).await, 200);
    assert_eq!(
        last_messages(&h.mock, "local-coder"),
        pairs(&[
            ("system", "You are terse.\n\nBe kind."),
            ("user", "### Task\nhello\n### End")
        ])
    );

    // The replaced server's camelCase names; one message instead of a chat.
    let set = call(
        &mut s,
        "set_model_prompting_strategy",
        json!({
            "modelId": "coder",
            "systemPrompt": "You are terse.",
            "userPrompt": "Q: {{prompt}}",
            "useChat": false,
            "assistantPrompt": "A:"
        }),
    )
    .await;
    assert_eq!(set["is_error"], false, "{set}");
    assert_eq!(chat(&server, "coder", messages.clone()).await, 200);
    let one = pairs(&[("user", "You are terse.\n\nBe kind.\n\nQ: hello\n\nA:")]);
    assert_eq!(last_messages(&h.mock, "local-coder"), one);

    let read = s.read_json("fusion://models/coder/prompting").await;
    assert_eq!(read["source"], "store", "{read}");
    assert_eq!(read["strategy"]["user_prompt"], "Q: {{prompt}}", "{read}");
    assert_eq!(read["strategy"]["use_chat"], false, "{read}");
    assert_eq!(read["strategy"]["assistant_prompt"], "A:", "{read}");
    let templates = s.ok(json!({"op": "list_resource_templates"})).await;
    assert!(
        templates["resource_templates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["uriTemplate"] == "fusion://models/{id}/prompting"),
        "{templates}"
    );
    // A catalog model (once synced) has none; its id is percent-encoded in the URI.
    free_models_with(&mut s, "openrouter/meta/llama-3.3:free").await;
    let none = s
        .read_json("fusion://models/openrouter%2Fmeta%2Fllama-3.3%3Afree/prompting")
        .await;
    assert_eq!(none["strategy"], Value::Null, "{none}");
    let missing = s
        .run(json!({"op": "read", "uri": "fusion://models/nope/prompting"}))
        .await;
    assert_eq!(missing["ok"], false, "{missing}");
    s.quit().await;
    server.stop().await;

    // A restart reads the strategy back from the store.
    let server = FusionServer::with_config(h.dir.path(), &path).await;
    h.mock.clear_requests();
    assert_eq!(chat(&server, "coder", messages).await, 200);
    assert_eq!(last_messages(&h.mock, "local-coder"), one);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_strategy_arguments_are_invalid_arguments_that_say_what_is_wrong() {
    let (_h, _catalog, path) = setup("meta/llama-3.3:free").await;
    let mut s = Session::stdio(&path, &[]).await;
    let base = json!({
        "model_id": "coder",
        "system_prompt": "",
        "user_prompt": "{prompt}",
        "use_chat": true
    });
    let with = |changes: Value| {
        let mut args = base.clone();
        for (key, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => args.as_object_mut().unwrap().remove(key),
                other => args
                    .as_object_mut()
                    .unwrap()
                    .insert(key.clone(), other.clone()),
            };
        }
        args
    };
    let cases = [
        (with(json!({"model_id": null})), "model_id"),
        (with(json!({"model_id": " "})), "`model_id` is empty"),
        (
            with(json!({"model_id": "nope"})),
            "no model `nope`; known models: coder",
        ),
        (
            with(json!({"user_prompt": "x".repeat(64 * 1024 + 1)})),
            "`user_prompt` is 65537 bytes; at most 65536",
        ),
        (with(json!({"use_chat": "yes"})), "invalid type"),
        (with(json!({"success_rate": 2})), "`success_rate` is 2"),
        (with(json!({"colour": "red"})), "colour"),
    ];
    for (args, expected) in cases {
        let answer = call(&mut s, "set_model_prompting_strategy", args.clone()).await;
        assert_eq!(answer["is_error"], true, "{args}: {answer}");
        assert_eq!(class(&answer), "invalid_arguments", "{args}: {answer}");
        let message = answer["structured"]["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("invalid arguments for `set_model_prompting_strategy`"),
            "{message}"
        );
        assert!(message.contains(expected), "{expected} not in {message}");
    }
    // An upstream name of exactly one model finds it.
    free_models_with(&mut s, "openrouter/meta/llama-3.3:free").await;
    let set = call(
        &mut s,
        "set_model_prompting_strategy",
        with(json!({"model_id": "meta/llama-3.3:free"})),
    )
    .await;
    assert_eq!(set["is_error"], false, "{set}");
    assert_eq!(set["structured"]["model"], "openrouter/meta/llama-3.3:free");
    s.quit().await;
}
