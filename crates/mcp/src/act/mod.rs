//! `fusion_do`: let a model pick the tools. The request's candidate tools come from the hub
//! catalog's search (`offer`), a tool-calling model chooses and calls them through the hub for
//! up to `max_steps` turns (`turns`), and the answer carries the result and the trace of every
//! step (`trace`). Progress is relayed per step when the client sent a progress token;
//! cancelling the call stops the model call and the tool call in flight. `local` runs the same
//! tool in process for `fusion do`.

mod local;
mod offer;
#[cfg(test)]
mod tests;
mod trace;
mod turns;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ProgressNotificationParam, ProgressToken,
};
use rmcp::service::{Peer, RequestContext, RoleServer};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::hub::{Hub, Session};
use crate::{FusionMcp, failure};

pub use local::run_in_process;
pub use turns::{DEFAULT_MAX_STEPS, MAX_STEPS};

pub const NAME: &str = "fusion_do";
/// Largest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Most servers `servers` may name.
const MAX_SERVERS: usize = 64;

/// What the client sends.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DoInput {
    /// What to get done, in plain words (e.g. "what time is it in Tokyo?").
    pub request: String,
    /// Only tools of these MCP servers (their `[[mcp.servers]]` names); every server's when
    /// omitted.
    #[serde(default)]
    pub servers: Option<Vec<String>>,
    /// Most model turns (default 5, at most 20); each turn may call tools.
    #[serde(default)]
    pub max_steps: Option<u32>,
    /// The model that picks the tools (a configured model id, which must support OpenAI tool
    /// calls); routed, local first, when omitted.
    #[serde(default)]
    pub model: Option<String>,
    /// Let tools run that are annotated destructive or not annotated read-only; without it
    /// such a step is refused (not run) and reported.
    #[serde(default)]
    pub allow_destructive: bool,
}

#[tool_router(router = do_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "Do it with the right tools",
        description = "Get a request done with the tools of the MCP servers Fusion aggregates, \
         without knowing their names: the catalog search picks at most 8 candidate tools, a \
         tool-calling model (routed, local first, unless `model` is given) chooses and calls \
         them for up to `max_steps` turns (default 5, at most 20), and the answer carries the \
         final result and the trace of every step (tool, arguments, result size, latency, \
         error). Tools annotated destructive or not annotated read-only run only with \
         `allow_destructive: true`; otherwise the step is refused and reported. `servers` \
         keeps the tools of some servers only. Reports progress per step.",
        input_schema = crate::own_tools::input_schema::<DoInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn fusion_do(
        &self,
        Parameters(input): Parameters<DoInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let Some(hub) = self.hub() else {
            return Ok(failure::failed(
                "no_hub",
                false,
                "this Fusion aggregates no MCP servers: fusion_do has no tools to use",
            ));
        };
        if let Some(problem) = problem(self, hub, &input) {
            return Ok(failure::invalid_arguments(NAME, problem));
        }
        call(self, hub, input, context).await
    }
}

/// What is wrong with parsed input, naming the field.
fn problem(server: &FusionMcp, hub: &Hub, input: &DoInput) -> Option<String> {
    if input.request.trim().is_empty() {
        return Some("`request` is empty".to_owned());
    }
    if input.request.len() > MAX_REQUEST_BYTES {
        return Some(format!(
            "`request` is {} bytes; the limit is {MAX_REQUEST_BYTES}",
            input.request.len()
        ));
    }
    if let Some(steps) = input.max_steps
        && !(1..=MAX_STEPS).contains(&steps)
    {
        return Some(format!("`max_steps` must be 1 to {MAX_STEPS}, not {steps}"));
    }
    if let Some(servers) = &input.servers {
        if servers.is_empty() || servers.len() > MAX_SERVERS {
            return Some(format!(
                "`servers` must name 1 to {MAX_SERVERS} servers, not {}",
                servers.len()
            ));
        }
        let known: Vec<String> = hub.status().into_iter().map(|s| s.name).collect();
        if let Some(unknown) = servers.iter().find(|s| !known.contains(s)) {
            return Some(format!(
                "`servers`: no MCP server named `{}`; configured: {}",
                trace::excerpt(unknown, 100),
                known.join(", ")
            ));
        }
    }
    if let Some(model) = &input.model
        && server.fusion().registry().model(model).is_none()
    {
        return Some(format!(
            "`model`: no model named `{}` (fusion://status lists the models)",
            trace::excerpt(model, 100)
        ));
    }
    None
}

/// The hub's tools, called on behalf of the client's request (its cancellation reaches the
/// child) but without its progress token: `fusion_do` reports its own progress.
struct HubTools<'a> {
    hub: &'a Hub,
    context: RequestContext<RoleServer>,
    session: Option<&'a Session>,
}

impl turns::Toolbox for HubTools<'_> {
    async fn call(&self, name: &str, arguments: JsonObject) -> Result<CallToolResult, String> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = Some(arguments);
        match self
            .hub
            .call_tool(name, params, &self.context, self.session)
            .await
        {
            Ok(CallToolResponse::Complete(result)) => Ok(result),
            Ok(_) => Err(format!(
                "`{name}` asked for more input, which fusion_do cannot give"
            )),
            Err(error) => Err(error.message.to_string()),
        }
    }
}

/// Runs one `fusion_do` call: candidates, the loop, the answer.
async fn call(
    server: &FusionMcp,
    hub: &Hub,
    input: DoInput,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResult, ErrorData> {
    let offered = match offer::candidates(
        hub,
        &input.request,
        input.servers.as_deref(),
        offer::MAX_OFFERED,
    ) {
        Ok(offered) => offered,
        Err(message) => return Ok(failure::failed("tool_search_failed", false, message)),
    };
    let token = context.meta.get_progress_token();
    let mut quiet = context.clone();
    quiet.meta.0.0.remove("progressToken");
    let tools = HubTools {
        hub,
        context: quiet,
        session: server.session(),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let reporter = token.map(|token| tokio::spawn(report(context.peer.clone(), token, rx)));
    let registry = server.fusion().registry();
    let plan = turns::Plan {
        request: &input.request,
        offered: &offered,
        model: input.model.as_deref(),
        max_steps: input.max_steps.unwrap_or(DEFAULT_MAX_STEPS),
        allow_destructive: input.allow_destructive,
    };
    let run = turns::run(&registry, plan, &tools, Some(&tx));
    // Dropping the loop drops the model call or tool call in flight.
    let outcome = tokio::select! {
        answer = run => Some(answer),
        () = context.ct.cancelled() => None,
    };
    drop(tx);
    if let Some(reporter) = reporter {
        let _ = reporter.await;
    }
    let Some(answer) = outcome else {
        return Err(ErrorData::internal_error(
            "the request was cancelled by the client",
            None,
        ));
    };
    let text = answer.text();
    let is_error = answer.status == trace::Status::Error;
    let mut result = if is_error {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    result.structured_content = serde_json::to_value(&answer).ok();
    Ok(result)
}

/// One progress notification per line of the loop.
async fn report(
    peer: Peer<RoleServer>,
    token: ProgressToken,
    mut lines: UnboundedReceiver<String>,
) {
    let mut done = 0u32;
    while let Some(line) = lines.recv().await {
        done += 1;
        let param =
            ProgressNotificationParam::new(token.clone(), f64::from(done)).with_message(line);
        if let Err(e) = peer.notify_progress(param).await {
            tracing::debug!("progress notification not delivered: {e}");
        }
    }
}
