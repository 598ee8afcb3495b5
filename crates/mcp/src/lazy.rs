//! Small tool lists for clients: `find_tools` (full-text search over the catalog's names,
//! descriptions and argument names) and, in lazy mode, `call_tool` (call any catalog tool by
//! name) — so a client can use hundreds of child tools while seeing only two definitions.

use rmcp::ErrorData;
use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject, Tool,
    ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::hub::{Hub, Session};

pub const FIND_TOOLS: &str = "find_tools";
pub const CALL_TOOL: &str = "call_tool";

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 50;

/// `find_tools` input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindInput {
    /// What the tool should do, in plain words (e.g. "create a github issue").
    pub query: String,
    /// Most results to return (default 10, at most 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `call_tool` input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallInput {
    /// The tool's full name as `find_tools` returned it (`<server>__<tool>`).
    pub name: String,
    /// The tool's arguments, matching its input schema.
    #[serde(default)]
    pub arguments: Option<JsonObject>,
}

pub fn find_tools() -> Tool {
    Tool::new(
        FIND_TOOLS,
        "Search the tools of every MCP server Fusion aggregates by what they do. Returns the \
         best matches with their full names, descriptions and input schemas; call one by its \
         name (in lazy mode through call_tool).",
        schema_for_type::<FindInput>(),
    )
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false))
}

pub fn call_tool() -> Tool {
    Tool::new(
        CALL_TOOL,
        "Call any tool of the MCP servers Fusion aggregates by its full name (as find_tools \
         returns it), with its arguments.",
        schema_for_type::<CallInput>(),
    )
    .with_annotations(ToolAnnotations::new().open_world(true))
}

fn parse<T: for<'de> Deserialize<'de>>(
    tool: &str,
    arguments: Option<JsonObject>,
) -> Result<T, String> {
    serde_json::from_value(Value::Object(arguments.unwrap_or_default()))
        .map_err(|e| format!("invalid arguments for `{tool}`: {e}"))
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// Runs `find_tools`: the matches as text (names and descriptions) and as structured content
/// (with input schemas).
pub fn find(hub: &Hub, arguments: Option<JsonObject>) -> CallToolResult {
    let input: FindInput = match parse(FIND_TOOLS, arguments) {
        Ok(input) => input,
        Err(message) => return tool_error(message),
    };
    let limit = input.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let catalog = hub.catalog();
    let hits = match hub.tool_index(&catalog).and_then(|index| {
        index
            .search(&input.query, limit)
            .map_err(|e| format!("search failed: {e}"))
    }) {
        Ok(hits) => hits,
        Err(message) => return tool_error(message),
    };
    let mut lines = Vec::new();
    let mut found = Vec::new();
    for hit in hits {
        let Some((target, tool)) = catalog.tool(&hit.name) else {
            continue;
        };
        let description = tool.description.as_deref().unwrap_or("");
        lines.push(format!("{}: {description}", tool.name));
        found.push(json!({
            "name": tool.name,
            "server": target.server,
            "description": description,
            "inputSchema": Value::Object((*tool.input_schema).clone()),
            "score": hit.score,
        }));
    }
    let text = if lines.is_empty() {
        format!("no tool matches `{}`", input.query)
    } else {
        lines.join("\n")
    };
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(json!({ "tools": found }));
    result
}

/// Runs `call_tool`: the named catalog tool with the given arguments, progress and
/// cancellation included.
pub async fn call(
    hub: &Hub,
    request: CallToolRequestParams,
    context: &RequestContext<RoleServer>,
    session: Option<&Session>,
) -> Result<CallToolResponse, ErrorData> {
    let input: CallInput = match parse(CALL_TOOL, request.arguments.clone()) {
        Ok(input) => input,
        Err(message) => return Ok(tool_error(message).into()),
    };
    if !hub.routes_tool(&input.name) {
        return Ok(tool_error(format!(
            "no tool named `{}`; use {FIND_TOOLS} to find one",
            input.name
        ))
        .into());
    }
    let mut params = CallToolRequestParams::new(input.name.clone());
    params.arguments = input.arguments;
    params.input_responses = request.input_responses;
    params.request_state = request.request_state;
    hub.call_tool(&input.name, params, context, session).await
}
