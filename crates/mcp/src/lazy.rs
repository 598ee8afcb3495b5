//! Small tool lists for clients: `find_tools` (full-text search over the catalog's names,
//! descriptions and argument names) and, in lazy mode, `call_tool` (call any catalog tool by
//! name) — so a client can use hundreds of child tools while seeing only two definitions.

use rmcp::handler::server::common::schema_for_type;
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::hub::Hub;
use crate::{FusionMcp, failure};

pub const FIND_TOOLS: &str = "find_tools";

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

#[tool_router(router = find_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        description = "Search the tools of every MCP server Fusion aggregates by what they do. \
         Returns the best matches with their full names, descriptions and input schemas; call \
         one by its name (in lazy mode through call_tool).",
        input_schema = schema_for_type::<FindInput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_tools(&self, Parameters(input): Parameters<FindInput>) -> CallToolResult {
        match self.hub() {
            Some(hub) => find(hub, input),
            None => no_hub(),
        }
    }
}

#[tool_router(router = call_router, vis = "pub(crate)")]
impl FusionMcp {
    /// Named `call_tool` on the wire (the method would shadow `ServerHandler::call_tool`).
    #[tool(
        name = "call_tool",
        description = "Call any tool of the MCP servers Fusion aggregates by its full name (as \
         find_tools returns it), with its arguments.",
        input_schema = schema_for_type::<CallInput>(),
        annotations(open_world_hint = true)
    )]
    async fn call_aggregated_tool(
        &self,
        Parameters(input): Parameters<CallInput>,
        InputResponses(input_responses): InputResponses,
        RequestState(request_state): RequestState,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(hub) = self.hub() else {
            return Ok(no_hub().into());
        };
        if !hub.routes_tool(&input.name) {
            return Ok(failure::failed(
                "unknown_tool",
                false,
                format!(
                    "no tool named `{}`; use {FIND_TOOLS} to find one",
                    input.name
                ),
            )
            .into());
        }
        let mut params = CallToolRequestParams::new(input.name.clone());
        params.arguments = input.arguments;
        params.input_responses = input_responses;
        params.request_state = request_state;
        hub.call_tool(&input.name, params, &context, self.session())
            .await
    }
}

/// The answer of a hub tool on a server without a hub (it does not list them).
fn no_hub() -> CallToolResult {
    failure::failed("no_hub", false, "this Fusion aggregates no MCP servers")
}

/// Runs `find_tools`: the matches as text (names and descriptions) and as structured content
/// (with input schemas).
fn find(hub: &Hub, input: FindInput) -> CallToolResult {
    let limit = input.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let catalog = hub.catalog();
    let hits = match hub.tool_index(&catalog).and_then(|index| {
        index
            .search(&input.query, limit)
            .map_err(|e| format!("search failed: {e}"))
    }) {
        Ok(hits) => hits,
        Err(message) => return failure::failed("tool_search_failed", false, message),
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
