//! `fusion_do` end to end: the real `fusion mcp` over a hub of real children
//! (`mcp-server-time`, `server-memory`, `server-everything`), driven by the official Python MCP
//! client, with models on mock-provider scripted to answer with OpenAI `tool_calls`. The model
//! picks `time__get_current_time` among every child's tools and answers from its result; a
//! destructive tool runs only with permission; `max_steps` bounds the turns; a model that calls
//! no tool or one that does not exist degrades with a reason. Also `fusion do` on the command
//! line. Peers come from `scripts/install-peers.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::mcp_session::Session;
use common::{Harness, peer, run_fusion};
use fusion_mock_provider::{ModelScript, Reply, Script, ToolCall};
use serde_json::{Value, json};

fn time_call() -> ToolCall {
    ToolCall::new("time__get_current_time", json!({"timezone": "UTC"}))
}

/// The scripted models: `agent` asks for the time once, then answers with what the tool said;
/// `deleter` deletes a memory entity, then says so; `looper` never stops calling the time tool;
/// `talker` never calls a tool; `ghost` calls a tool that does not exist.
fn script() -> Script {
    Script::new()
        .with_model(
            "agent",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![time_call()]),
                Reply::Template("The time tool says: {tool_result}".into()),
            ),
        )
        .with_model(
            "deleter",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new(
                    "memory__delete_entities",
                    json!({"entityNames": ["fusion"]}),
                )]),
                Reply::Template("Deletion answered: {tool_result}".into()),
            ),
        )
        .with_model("looper", ModelScript::tool_calls([time_call()]))
        .with_model(
            "talker",
            ModelScript::fixed("I would rather not use tools."),
        )
        .with_model(
            "ghost",
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new("weather__forecast", json!({}))]),
                Reply::Fixed("no weather then".into()),
            ),
        )
}

/// A config with the mock's models — `agent` on a local provider (the one the router picks),
/// the others on a paid one (named with `model`) — and the three real children;
/// `memory_extra` goes into memory's entry.
fn config(h: &Harness, memory_extra: &str) -> PathBuf {
    let mut text = String::from("[router]\ndiscover = false\n\n");
    for (name, tier) in [("local", "local"), ("paid", "paid")] {
        text.push_str(&format!(
            "[[providers]]\nname = \"{name}\"\nkind = \"openai\"\ntier = \"{tier}\"\n\
             base_url = \"{}\"\ntimeout = \"10s\"\nretries = 0\n\n",
            h.mock.base_url()
        ));
    }
    text.push_str("[[models]]\nid = \"agent\"\nprovider = \"local\"\n\n");
    for id in ["deleter", "looper", "talker", "ghost"] {
        text.push_str(&format!(
            "[[models]]\nid = \"{id}\"\nprovider = \"paid\"\n\
             price = {{ input_per_mtok = 1.0, output_per_mtok = 1.0 }}\n\n"
        ));
    }
    text.push_str(&children(h.dir.path(), memory_extra));
    h.write_config("fusion.toml", &text)
}

fn children(dir: &Path, memory_extra: &str) -> String {
    format!(
        "[[mcp.servers]]\nname = \"everything\"\ncommand = \"{}\"\nargs = [\"stdio\"]\n\n\
         [[mcp.servers]]\nname = \"memory\"\ncommand = \"{}\"\n\
         env = {{ MEMORY_FILE_PATH = \"{}\" }}\n{memory_extra}\n\n\
         [[mcp.servers]]\nname = \"time\"\ncommand = \"{}\"\n\
         args = [\"--local-timezone\", \"UTC\"]\n",
        peer("FUSION_MCP_EVERYTHING"),
        peer("FUSION_MCP_MEMORY"),
        dir.join("memory.jsonl").display(),
        peer("FUSION_MCP_TIME"),
    )
}

async fn fusion_do(s: &mut Session, args: Value) -> Value {
    s.ok(
        json!({"op": "call", "tool": "fusion_do", "args": args, "progress": true, "timeout_s": 90}),
    )
    .await
}

fn reasons(answer: &Value) -> String {
    answer["degradation_reasons"].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_picks_the_time_tool_which_runs_through_the_hub_and_answers_from_it() {
    let h = Harness::start(script()).await;
    let path = config(&h, "");
    let mut s = Session::stdio(&path, &[]).await;
    assert!(s.tool_names().await.contains(&"fusion_do".to_owned()));

    let called = fusion_do(
        &mut s,
        json!({"request": "What is the current time in UTC?"}),
    )
    .await;
    assert_eq!(called["is_error"], false, "{called}");
    let answer = &called["structured"];
    assert_eq!(answer["status"], "ok", "{answer}");
    assert_eq!(answer["stop"], "answered");
    // Routed (local first) to the one free model, and said why.
    assert_eq!(answer["model"], "agent");
    assert!(answer["routing"].is_string(), "{answer}");
    let offered: Vec<&str> = answer["offered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(offered.contains(&"time__get_current_time"), "{offered:?}");
    assert!(offered.len() <= 8, "{offered:?}");
    let steps = answer["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{answer}");
    let step = &steps[0];
    assert_eq!(step["tool"], "time__get_current_time");
    assert_eq!(step["arguments"], json!({"timezone": "UTC"}));
    assert_eq!(step["outcome"], "ok");
    assert!(
        step["latency_ms"].is_u64() && step["error"].is_null(),
        "{step}"
    );
    // The real child's answer: in the trace, sized, and in the model's final answer.
    let result = step["result"].as_str().unwrap();
    assert!(
        result.contains("\"timezone\"") && result.contains("UTC"),
        "{result}"
    );
    assert_eq!(step["result_bytes"].as_u64().unwrap(), result.len() as u64);
    let final_answer = answer["answer"].as_str().unwrap();
    assert!(
        final_answer.starts_with("The time tool says: "),
        "{final_answer}"
    );
    assert!(final_answer.contains(result), "{final_answer}");
    assert!(called["text"].as_str().unwrap().starts_with(final_answer));
    assert_eq!(answer["model_calls"], 2);
    // Progress per step: the tool call, then the answer.
    let progress = called["progress"].as_array().unwrap();
    let messages: Vec<&str> = progress
        .iter()
        .map(|p| p["message"].as_str().unwrap_or_default())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("time__get_current_time answered")),
        "{messages:?}"
    );
    assert!(
        messages.last().unwrap().contains("agent answered"),
        "{messages:?}"
    );

    // What the model saw: the offered definitions, then the tool's result as a tool message.
    let requests = h.mock.requests_for("agent");
    assert_eq!(requests.len(), 2);
    let tools = requests[0].body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), offered.len());
    assert!(
        tools
            .iter()
            .any(|t| t["function"]["name"] == "time__get_current_time")
    );
    let messages = requests[1].body["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    assert_eq!(last["role"], "tool");
    assert_eq!(
        last["tool_call_id"],
        messages[messages.len() - 2]["tool_calls"][0]["id"]
    );
    s.quit().await;

    // Both model calls are in the usage ledger.
    let usage = run_fusion(
        h.dir.path(),
        &["usage", "--json", "--config", path.to_str().unwrap()],
        None,
        &[],
    )
    .await;
    let usage: Value = serde_json::from_str(&usage.stdout).unwrap();
    let agent = usage["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "agent")
        .cloned()
        .unwrap_or_default();
    assert_eq!(agent["calls"], 2, "{usage}");

    // `fusion do` runs the same tool on the command line.
    let run = run_fusion(
        h.dir.path(),
        &[
            "do",
            "--config",
            path.to_str().unwrap(),
            "--json",
            "What is the current time in UTC?",
        ],
        None,
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer = run.json();
    assert_eq!(answer["steps"][0]["tool"], "time__get_current_time");
    assert_eq!(answer["steps"][0]["outcome"], "ok");
    assert!(
        run.stderr.contains("time__get_current_time answered"),
        "{}",
        run.stderr
    );
    let run = run_fusion(
        h.dir.path(),
        &[
            "do",
            "--config",
            path.to_str().unwrap(),
            "-q",
            "--max-steps",
            "1",
            "What time is it?",
        ],
        None,
        &[],
    )
    .await;
    assert_eq!(
        run.code, 1,
        "stopped at max steps: no answer\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("max_steps = 1"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destructive_tool_is_refused_without_permission_and_runs_with_it() {
    let h = Harness::start(script()).await;
    let path = config(&h, "");
    let mut s = Session::stdio(&path, &[]).await;
    s.ok(
        json!({"op": "call", "tool": "memory__create_entities", "args": {"entities": [
            {"name": "fusion", "entityType": "project", "observations": ["aggregates MCP servers"]}
        ]}}),
    )
    .await;
    let request = "delete the entity fusion from the memory knowledge graph";

    let refused = fusion_do(
        &mut s,
        json!({"request": request, "model": "deleter", "servers": ["memory"]}),
    )
    .await;
    assert_eq!(refused["is_error"], false, "{refused}");
    let answer = &refused["structured"];
    assert_eq!(answer["status"], "degraded", "{answer}");
    let step = &answer["steps"][0];
    assert_eq!(step["tool"], "memory__delete_entities");
    assert_eq!(step["outcome"], "refused", "{step}");
    assert_eq!(
        (step["result_bytes"].clone(), step["latency_ms"].clone()),
        (json!(0), json!(0))
    );
    let why = step["error"].as_str().unwrap();
    assert!(
        why.contains("annotated destructive") && why.contains("allow_destructive"),
        "{why}"
    );
    assert!(reasons(answer).contains("refused"), "{answer}");
    // `servers` kept the offer to memory's tools.
    assert!(
        answer["offered"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.as_str().unwrap().starts_with("memory__")),
        "{answer}"
    );
    // The refusal went back to the model; the entity is still there.
    let sent = h.mock.requests_for("deleter");
    let told = sent[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        told["content"].as_str().unwrap().contains("was not run"),
        "{told}"
    );
    let graph = s
        .ok(json!({"op": "call", "tool": "memory__read_graph", "args": {}}))
        .await;
    assert!(
        graph["text"]
            .as_str()
            .unwrap()
            .contains("aggregates MCP servers"),
        "{graph}"
    );

    // With permission (in the camelCase spelling) it runs.
    let allowed = fusion_do(
        &mut s,
        json!({"request": request, "model": "deleter", "allowDestructive": true}),
    )
    .await;
    let answer = &allowed["structured"];
    assert_eq!(answer["status"], "ok", "{answer}");
    assert_eq!(answer["steps"][0]["outcome"], "ok", "{answer}");
    let graph = s
        .ok(json!({"op": "call", "tool": "memory__read_graph", "args": {}}))
        .await;
    assert!(
        !graph["text"]
            .as_str()
            .unwrap()
            .contains("aggregates MCP servers"),
        "{graph}"
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn max_steps_bounds_the_model_turns_and_says_so() {
    let h = Harness::start(script()).await;
    let path = config(&h, "");
    let mut s = Session::stdio(&path, &[]).await;
    let called = fusion_do(
        &mut s,
        json!({"request": "What is the current time in UTC?", "model": "looper", "maxSteps": 2}),
    )
    .await;
    let answer = &called["structured"];
    assert_eq!(called["is_error"], false, "{called}");
    assert_eq!(answer["status"], "degraded", "{answer}");
    assert_eq!(answer["stop"], "max_steps");
    assert_eq!(answer["model_calls"], 2);
    assert_eq!(answer["max_steps"], 2);
    let steps: Vec<u64> = answer["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2]);
    assert!(reasons(answer).contains("max_steps = 2"), "{answer}");
    assert_eq!(h.mock.requests_for("looper").len(), 2);

    // Out of bounds: the invalid_arguments shape, naming the field.
    for (args, field) in [
        (json!({"request": "time?", "max_steps": 21}), "`max_steps`"),
        (json!({"request": "  "}), "`request`"),
        (json!({"request": "x".repeat(64 * 1024 + 1)}), "`request`"),
        (json!({"request": "time?", "model": "nope"}), "`model`"),
        (
            json!({"request": "time?", "servers": ["nope"]}),
            "`servers`",
        ),
    ] {
        let refused = fusion_do(&mut s, args).await;
        assert_eq!(refused["is_error"], true, "{refused}");
        let error = &refused["structured"]["error"];
        assert_eq!(error["class"], "invalid_arguments", "{refused}");
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_calls_no_tool_or_one_that_is_missing_or_hidden_degrades_with_a_reason() {
    let h = Harness::start(script()).await;
    // memory's delete tools are hidden by the hub: never offered, never callable.
    let path = config(&h, "tools = { deny = [\"delete_*\"] }");
    let mut s = Session::stdio(&path, &[]).await;

    let talked = fusion_do(
        &mut s,
        json!({"request": "What is the current time in UTC?", "model": "talker"}),
    )
    .await;
    let answer = &talked["structured"];
    assert_eq!(talked["is_error"], false, "{talked}");
    assert_eq!(answer["status"], "degraded");
    assert_eq!(answer["answer"], "I would rather not use tools.");
    assert!(answer["steps"].as_array().unwrap().is_empty());
    assert!(reasons(answer).contains("without calling any"), "{answer}");

    let ghost = fusion_do(
        &mut s,
        json!({"request": "What is the current time in UTC?", "model": "ghost"}),
    )
    .await;
    let answer = &ghost["structured"];
    assert_eq!(answer["status"], "degraded", "{answer}");
    assert_eq!(answer["steps"][0]["tool"], "weather__forecast");
    assert_eq!(answer["steps"][0]["outcome"], "unknown_tool");
    assert!(
        reasons(answer).contains("does not exist or was not offered"),
        "{answer}"
    );
    assert_eq!(answer["answer"], "no weather then");

    let hidden = fusion_do(
        &mut s,
        json!({"request": "delete the entity fusion from the memory knowledge graph",
               "model": "deleter", "allow_destructive": true}),
    )
    .await;
    let answer = &hidden["structured"];
    assert!(
        !answer["offered"].to_string().contains("delete"),
        "a denied tool was offered: {answer}"
    );
    assert_eq!(answer["steps"][0]["outcome"], "unknown_tool", "{answer}");
    s.quit().await;
}
