//! The loop of `fusion_do` against a scripted model (mock-provider) and a toolbox that records
//! what reaches it: refused and unknown calls never run, the model is told why, and a failed
//! model call is an error with its class.

use std::sync::{Arc, Mutex};

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_mock_provider::{Failure, MockProvider, ModelScript, Reply, Script, ToolCall};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde_json::json;

use super::trace::{Outcome, Status, Stop};
use super::turns::{Plan, Toolbox, run};

/// Answers every call with `it is noon`, recording the names it was called with.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Toolbox for Recorder {
    async fn call(&self, name: &str, _arguments: JsonObject) -> Result<CallToolResult, String> {
        if let Ok(mut calls) = self.0.lock() {
            calls.push(name.to_owned());
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(
            "it is noon",
        )]))
    }
}

fn tool(name: &'static str, read_only: bool, destructive: bool) -> Tool {
    let mut tool = Tool::new(name, "a tool", Arc::new(JsonObject::new()));
    let mut annotations = ToolAnnotations::default();
    annotations.read_only_hint = Some(read_only);
    annotations.destructive_hint = Some(destructive);
    tool.annotations = Some(annotations);
    tool
}

async fn registry(mock: &MockProvider, models: &[&str]) -> ProviderRegistry {
    let mut text = format!(
        "[router]\ndiscover = false\n\n[[providers]]\nname = \"mock\"\nkind = \"openai\"\n\
         base_url = \"{}\"\nretries = 0\n",
        mock.base_url()
    );
    for model in models {
        text.push_str(&format!(
            "\n[[models]]\nid = \"{model}\"\nprovider = \"mock\"\n"
        ));
    }
    let config: Config = toml::from_str(&text).expect("a config");
    ProviderRegistry::from_config(&config).expect("a registry")
}

#[tokio::test]
async fn refused_and_unknown_calls_never_reach_the_toolbox_and_the_model_is_told_why() {
    let calls = vec![
        ToolCall::new("mem__delete", json!({"name": "bob"})),
        ToolCall::new("ghost__x", json!({})),
        ToolCall::new("time__now", json!({"timezone": "UTC"})),
        ToolCall::new("time__now", json!("[1]")),
    ];
    let script = Script::new().with_model(
        "agent",
        ModelScript::until_tool_result(Reply::ToolCalls(calls), Reply::Fixed("done".into())),
    );
    let mock = MockProvider::start(script).await.expect("the mock starts");
    let registry = registry(&mock, &["agent"]).await;
    let offered = [
        tool("mem__delete", false, true),
        tool("time__now", true, false),
    ];
    let recorder = Recorder::default();
    let plan = Plan {
        request: "what time is it?",
        offered: &offered,
        model: None,
        max_steps: 3,
        allow_destructive: false,
    };
    let answer = run(&registry, plan, &recorder, None).await;

    assert_eq!(*recorder.0.lock().unwrap(), ["time__now"]);
    let outcomes: Vec<Outcome> = answer.steps.iter().map(|s| s.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Refused,
            Outcome::UnknownTool,
            Outcome::Ok,
            Outcome::BadArguments
        ]
    );
    assert_eq!(answer.status, Status::Degraded);
    assert_eq!(answer.stop, Stop::Answered);
    assert_eq!(answer.answer, "done");
    assert_eq!(answer.model.as_deref(), Some("agent"));
    assert_eq!(answer.degradation_reasons.len(), 3, "{answer:?}");
    assert_eq!(answer.steps[2].result.as_deref(), Some("it is noon"));
    assert_eq!(answer.steps[2].result_bytes, "it is noon".len());

    // The second turn carries one tool message per call, in order, answering its id.
    let sent = mock.requests_for("agent");
    let messages = sent[1].body["messages"].as_array().unwrap();
    let tool_messages: Vec<&serde_json::Value> =
        messages.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tool_messages.len(), 4);
    let ids: Vec<&serde_json::Value> = messages.iter().find(|m| m["role"] == "assistant").unwrap()
        ["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    for (message, id) in tool_messages.iter().zip(ids) {
        assert_eq!(&message["tool_call_id"], id);
    }
    assert!(
        tool_messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("annotated destructive")
    );
    assert!(
        tool_messages[1]["content"]
            .as_str()
            .unwrap()
            .contains("was offered")
    );
    assert_eq!(tool_messages[2]["content"], "it is noon");
    assert!(
        tool_messages[3]["content"]
            .as_str()
            .unwrap()
            .contains("JSON object")
    );
}

#[tokio::test]
async fn a_failed_model_call_is_an_error_with_its_class_and_no_tool_runs() {
    let script = Script::new().with_model(
        "agent",
        ModelScript::failing(Failure::status(400, "tools are not supported")),
    );
    let mock = MockProvider::start(script).await.expect("the mock starts");
    let registry = registry(&mock, &["agent"]).await;
    let offered = [tool("time__now", true, false)];
    let recorder = Recorder::default();
    let plan = Plan {
        request: "what time is it?",
        offered: &offered,
        model: Some("agent"),
        max_steps: 3,
        allow_destructive: true,
    };
    let answer = run(&registry, plan, &recorder, None).await;
    assert_eq!(answer.status, Status::Error);
    assert_eq!(answer.stop, Stop::ModelFailed);
    let error = answer.error.as_ref().expect("the failure");
    assert!(!error.class.is_empty() && !error.retryable, "{error:?}");
    assert!(
        error.message.contains("tools are not supported"),
        "{error:?}"
    );
    assert!(recorder.0.lock().unwrap().is_empty());
    assert!(answer.text().starts_with("fusion_do failed:"));
}
