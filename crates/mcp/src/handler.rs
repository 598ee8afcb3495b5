//! `FusionMcp`: the rmcp `ServerHandler` behind both transports. It serves Fusion's own tools
//! (each feature's tool router, as `own_tools` offers them to the session) and resources and,
//! with a hub, every child's catalog (namespaced, lazy or passthrough), routing each request
//! to its owner. The handshake of either protocol era, ping and unknown
//! methods are left to the SDK's defaults.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fusion_core::config::CatalogMode;
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use serde_json::json;

use crate::hub::{Hub, Session};
use crate::own_tools::{self, Facts, OwnTools};
use crate::{Fusion, ask, code, params, resources, tasks};

/// Page sizes of the merged lists (most clients follow cursors; tools pages are large because
/// some do not).
const TOOLS_PAGE: usize = 500;
const OTHER_PAGE: usize = 100;
/// How long a listing waits for children still making their first connection attempt (later
/// arrivals are announced with `list_changed`).
const FIRST_LIST_WAIT: Duration = Duration::from_secs(5);

/// One MCP server over Fusion's configuration, provider registry and (optionally) hub of child
/// servers. Cheap to clone: the Streamable HTTP transport makes one per session.
#[derive(Clone)]
pub struct FusionMcp {
    fusion: Fusion,
    hub: Option<Hub>,
    /// This client session's own connections to HTTP children (HTTP sessions only).
    session: Option<Session>,
    /// Code search: the roots indexed through this server (shared by its sessions).
    code: code::CodeTools,
    /// Fusion's own tools, by feature (the same for every session).
    tools: Arc<OwnTools>,
    /// Where loop runs' trails are written after each change (`fusion mcp --root-dir`).
    run_trail: Option<Arc<std::path::PathBuf>>,
}

impl FusionMcp {
    /// `tools/call`: Fusion's own tools (those this session has), then the hub's.
    async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != ask::NAME {
            self.settle().await;
        }
        let facts = self.facts();
        let own = self.tools.router(&facts);
        if own.has_route(&request.name) {
            return own_tools::call(&own, self, request, context).await;
        }
        if let Some(hub) = &self.hub
            && hub.routes_tool(&request.name)
        {
            let name = request.name.to_string();
            return hub
                .call_tool(&name, request, &context, self.session.as_ref())
                .await;
        }
        let known: Vec<String> = self
            .tools
            .listed(&facts)
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        let more = if facts.mode.is_some() {
            " and the tools of the MCP servers it aggregates (tools/list)"
        } else {
            ""
        };
        let unknown = request.name;
        Err(ErrorData::invalid_params(
            format!(
                "unknown tool `{unknown}`; this server has: {}{more}",
                known.join(", ")
            ),
            Some(json!({ "tool": unknown })),
        ))
    }

    pub fn new(fusion: Fusion) -> Self {
        Self {
            fusion,
            hub: None,
            session: None,
            code: code::CodeTools::default(),
            tools: Arc::new(OwnTools::new()),
            run_trail: None,
        }
    }

    /// Writes each loop run's trail under `dir` after every loop tool call that changed it,
    /// in the council project's layout (`DIR/<run_id>/state.json`, `report-N.json`, ...).
    pub fn with_run_trail(mut self, dir: std::path::PathBuf) -> Self {
        self.run_trail = Some(Arc::new(dir));
        self
    }

    /// The directory of [`FusionMcp::with_run_trail`].
    pub(crate) fn run_trail(&self) -> Option<&std::path::Path> {
        self.run_trail.as_deref().map(std::path::PathBuf::as_path)
    }

    /// Re-indexes the code roots this server knows every `every` (needs a tokio runtime).
    pub fn with_code_reindex(self, every: Duration) -> Self {
        self.code.start_reindexing(every);
        self
    }

    /// A handler for one new client session (the HTTP transport makes one per session), with
    /// its own sessions with stateful HTTP children; they close when the session ends.
    pub fn for_session(&self) -> Self {
        Self {
            session: Some(Session::default()),
            ..self.clone()
        }
    }

    /// Serves the hub's children as well.
    pub fn with_hub(mut self, hub: Hub) -> Self {
        self.hub = Some(hub);
        self
    }

    /// Names and URIs of Fusion's own items (a child never gets them): the names of every
    /// tool router's tools.
    /// URIs and URI templates of Fusion's own resources are reserved alike.
    pub fn reserved() -> (HashSet<String>, HashSet<String>) {
        let names = OwnTools::new().names();
        let uris = resources::OWN
            .iter()
            .chain(&[tasks::ACTIVE, tasks::TASK_TEMPLATE])
            .map(|u| (*u).to_owned())
            .collect();
        (names, uris)
    }

    /// The server the tools of this session run with.
    pub(crate) fn fusion(&self) -> &Fusion {
        &self.fusion
    }

    pub(crate) fn hub(&self) -> Option<&Hub> {
        self.hub.as_ref()
    }

    /// This client session's own connections to HTTP children (HTTP sessions only).
    pub(crate) fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    pub(crate) fn code(&self) -> &code::CodeTools {
        &self.code
    }

    /// Lets children that are still starting join the first listing (bounded).
    async fn settle(&self) {
        if let Some(hub) = &self.hub {
            hub.wait_started(FIRST_LIST_WAIT).await;
        }
    }

    fn mode(&self) -> Option<CatalogMode> {
        self.hub
            .as_ref()
            .filter(|h| h.has_children())
            .map(Hub::mode)
    }

    /// What decides which of Fusion's own tools this session has.
    fn facts(&self) -> Facts {
        Facts {
            mode: self.mode(),
            stdio: self.session.is_none(),
            tasks: self.fusion.tasks().is_some(),
            store: self.fusion.store().is_some(),
            config_file: self.fusion.runtime().source().is_some(),
        }
    }
}

fn cursor(request: &Option<PaginatedRequestParams>) -> Option<String> {
    request.as_ref().and_then(|r| r.cursor.clone())
}

impl ServerHandler for FusionMcp {
    // Logging is deprecated by the newest protocol (SEP-2577); children of the classic one use it.
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        let capabilities = match (self.mode(), &self.hub) {
            (None, None) => ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
            // No children yet: a reload may add some, and Fusion's own lists change with them.
            (None, Some(_)) => ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .build(),
            (Some(_), _) => ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .enable_resources_subscribe()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_completions()
                .enable_logging()
                .build(),
        };
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("fusion", env!("CARGO_PKG_VERSION"))
                    .with_title("Fusion")
                    .with_description("Local-first gateway: councils of models, one MCP server"),
            )
            .with_instructions(
                "Call fusion_ask with a prompt to get an answer cross-checked by a council of \
                 models (optionally name a council; read fusion://councils for the list). \
                 fusion://status tells which model providers are reachable. Tools named \
                 <server>__<tool> belong to the MCP servers Fusion aggregates \
                 (fusion://mcp/servers); find_tools searches them, and fusion_do lets a model pick \
                 and call them for a request. code_index indexes source \
                 directories and code_search finds code in them. route_task hands off long \
                 work (poll get_task_status; cancel_task stops it); fusion_ask with `async` \
                 does the same for a council. looped_start, looped_report, looped_check_work, \
                 looped_fuse_review and looped_next check an executor's build loop step by \
                 step. reload_config reloads Fusion's configuration file and says what changed. \
                 get_free_models lists the models that cost nothing (fusion://catalog has every \
                 synced catalog model); clear_openrouter_tracking fetches the catalogs again; \
                 set_model_prompting_strategy sets how a model is prompted on every call.",
            )
    }

    /// The SDK hands over what it could not type: a standard method with unfit params gets
    /// Invalid params, anything else Method not found (see `params.rs`).
    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, ErrorData> {
        Err(params::unfit(&request))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Some(hub) = &self.hub {
            hub.add_session(context.peer);
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.settle().await;
        let after = cursor(&request);
        let mut tools = if after.is_none() {
            self.tools.listed(&self.facts())
        } else {
            Vec::new()
        };
        let mut next = None;
        if let Some(hub) = &self.hub
            && matches!(
                self.mode(),
                Some(CatalogMode::Namespaced | CatalogMode::Passthrough)
            )
        {
            let (page, cursor) = hub.catalog().tools_page(after.as_deref(), TOOLS_PAGE);
            tools.extend(page);
            next = cursor;
        }
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let own = self.tools.listed(&self.facts());
        if let Some(own) = own.into_iter().find(|t| t.name == name) {
            return Some(own);
        }
        let hub = self.hub.as_ref()?;
        hub.catalog().tool(name).map(|(_, tool)| tool.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        use futures::FutureExt;
        let name = request.name.to_string();
        // Everything a tool starts (model calls, submitted tasks) is recorded as MCP's.
        let call = fusion_core::providers::as_caller(
            fusion_core::store::Caller::Mcp,
            self.call(request, context),
        );
        // A bug in a tool must answer its request (the SDK would drop it unanswered).
        match std::panic::AssertUnwindSafe(call).catch_unwind().await {
            Ok(answer) => answer,
            Err(payload) => {
                let message = fusion_core::cpu::panic_message(payload.as_ref());
                tracing::error!(tool = %name, panic = %message, "an MCP tool call panicked");
                Err(ErrorData::internal_error(
                    format!("internal error in Fusion while running `{name}`: {message}"),
                    None,
                ))
            }
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.settle().await;
        let Some(hub) = &self.hub else {
            return Ok(ListPromptsResult::default());
        };
        let (prompts, next) = hub
            .catalog()
            .prompts_page(cursor(&request).as_deref(), OTHER_PAGE);
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        match &self.hub {
            Some(hub) => {
                hub.get_prompt(request, &context, self.session.as_ref())
                    .await
            }
            None => Err(ErrorData::invalid_params(
                format!(
                    "unknown prompt `{}`: Fusion has no prompts of its own",
                    request.name
                ),
                None,
            )),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.settle().await;
        let after = cursor(&request);
        let passthrough = self.mode() == Some(CatalogMode::Passthrough);
        let mut items = if after.is_none() && !passthrough {
            let mut own = resources::list(self.mode().is_some());
            if self.fusion.tasks().is_some() {
                own.extend(tasks::resources());
            }
            own
        } else {
            Vec::new()
        };
        let mut next = None;
        if let Some(hub) = &self.hub {
            let (page, cursor) = hub.catalog().resources_page(after.as_deref(), OTHER_PAGE);
            items.extend(page);
            next = cursor;
        }
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.settle().await;
        let passthrough = self.mode() == Some(CatalogMode::Passthrough);
        let mut templates = if passthrough {
            Vec::new()
        } else {
            resources::templates()
        };
        if self.fusion.tasks().is_some() && !passthrough {
            templates.extend(tasks::templates());
        }
        if let Some(hub) = &self.hub {
            templates.extend(hub.catalog().templates());
        }
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let passthrough = self.mode() == Some(CatalogMode::Passthrough);
        if !passthrough && resources::is_own(&request.uri, self.mode().is_some()) {
            return resources::read(&self.fusion, self.hub.as_ref(), &request.uri)
                .await
                .map(Into::into);
        }
        if !passthrough && self.fusion.tasks().is_some() && tasks::is_own(&request.uri) {
            return tasks::read(self.fusion.tasks(), &request.uri)
                .await
                .map(Into::into);
        }
        let uri = request.uri.clone();
        if let Some(hub) = &self.hub
            && let Some(result) = hub
                .read_resource(request, &context, self.session.as_ref())
                .await
        {
            return result;
        }
        Err(resources::not_found(&uri))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        if let Some(hub) = &self.hub
            && let Some(result) = hub.complete(request, &context, self.session.as_ref()).await
        {
            return result;
        }
        Ok(CompleteResult::default())
    }

    // resources/subscribe is legacy-only (the newest protocol uses subscriptions/listen).
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        match &self.hub {
            Some(hub) => match hub
                .subscription(&request.uri, true, &context, self.session.as_ref())
                .await
            {
                Some(result) => result,
                None => Err(resources::not_found(&request.uri)),
            },
            None => Err(ErrorData::method_not_found::<
                rmcp::model::SubscribeRequestMethod,
            >()),
        }
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        match &self.hub {
            Some(hub) => match hub
                .subscription(&request.uri, false, &context, self.session.as_ref())
                .await
            {
                Some(result) => result,
                None => Err(resources::not_found(&request.uri)),
            },
            None => Err(ErrorData::method_not_found::<
                rmcp::model::UnsubscribeRequestMethod,
            >()),
        }
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        match &self.hub {
            Some(hub) if hub.has_children() => {
                hub.set_level(request, &context, self.session.as_ref())
                    .await;
                Ok(())
            }
            _ => Err(ErrorData::method_not_found::<
                rmcp::model::SetLevelRequestMethod,
            >()),
        }
    }
}
