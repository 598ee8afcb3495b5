//! `FusionMcp`: the rmcp `ServerHandler` behind both transports. It advertises tools and
//! resources, answers `tools/list`, `tools/call`, `resources/list` and `resources/read`, and
//! leaves everything else (the handshake of either protocol era, ping, unknown methods) to the
//! SDK's defaults.

use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::json;

use crate::{Fusion, ask, resources};

/// One MCP server over Fusion's configuration and provider registry. Cheap to clone: the
/// Streamable HTTP transport makes one per session.
#[derive(Clone)]
pub struct FusionMcp {
    fusion: Fusion,
    tools: Vec<Tool>,
}

impl FusionMcp {
    pub fn new(fusion: Fusion) -> Self {
        let tools = vec![ask::tool()];
        Self { fusion, tools }
    }
}

impl ServerHandler for FusionMcp {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("fusion", env!("CARGO_PKG_VERSION"))
                    .with_title("Fusion")
                    .with_description("Local-first gateway: councils of models, one MCP server"),
            )
            .with_instructions(
                "Call fusion_ask with a prompt to get an answer cross-checked by a council of \
                 models (optionally name a council; read fusion://councils for the list). \
                 fusion://status tells which model providers are reachable.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match request.name.as_ref() {
            ask::NAME => ask::call(&self.fusion, request.arguments, context)
                .await
                .map(Into::into),
            unknown => {
                let known: Vec<&str> = self.tools.iter().map(|t| t.name.as_ref()).collect();
                Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool `{unknown}`; this server has: {}",
                        known.join(", ")
                    ),
                    Some(json!({ "tool": unknown })),
                ))
            }
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.fusion, &request.uri)
            .await
            .map(Into::into)
    }
}
