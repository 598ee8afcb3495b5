//! Routing a client's request to the child that owns it: `tools/call`, `prompts/get`,
//! `resources/read`, `completion/complete` and `logging/setLevel`. Each forwarded request gets
//! the child's own name for the item, the child's call timeout, progress relayed back under the
//! client's token, and — when the client cancels — a `notifications/cancelled` to the child.
//! A child that is down answers with a clear error naming it and its state.
// Logging is deprecated by the newest protocol (SEP-2577) but classic clients and children use it.
#![allow(deprecated)]

use std::sync::Arc;
use std::time::Instant;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelledNotificationParam,
    ClientRequest, CompleteRequestParams, CompleteResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, Reference,
    Request, ResultType, ServerResult, SetLevelRequestParams, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::{PeerRequestOptions, RequestContext, RoleServer};
use serde_json::json;

use super::child::{Child, State};
use super::session::Session;
use super::{Hub, HubInner};

/// Why a forwarded request did not produce a child's answer.
enum Failure {
    /// The child is not connected now.
    Down(String),
    /// The client cancelled; the child was told.
    Cancelled,
    /// The child answered with a JSON-RPC error: passed on as it is.
    Child(ErrorData),
    /// Transport trouble or timeout.
    Broken(String),
}

impl Failure {
    fn into_error(self) -> ErrorData {
        match self {
            Failure::Down(message) | Failure::Broken(message) => {
                ErrorData::internal_error(message, None)
            }
            Failure::Cancelled => {
                ErrorData::internal_error("the request was cancelled by the client", None)
            }
            Failure::Child(error) => error,
        }
    }
}

fn down_message(child: &Child) -> String {
    let (state, error, restarts) = child.state();
    let mut message = format!(
        "MCP server `{}` is {} (restarts: {restarts})",
        child.name(),
        state.as_str()
    );
    if let Some(error) = error {
        message.push_str(&format!("; last error: {error}"));
    }
    if state == State::Failed {
        message.push_str("; fix it and restart Fusion");
    }
    message
}

impl HubInner {
    /// Sends `request` to `child` on behalf of the client request `context`.
    async fn forward(
        self: &Arc<Self>,
        child: &Child,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
        session: Option<&Session>,
    ) -> Result<ServerResult, Failure> {
        let Some((shared, shared_conn)) = child.connection() else {
            return Err(Failure::Down(down_message(child)));
        };
        // A classic client session gets its own session with a stateful HTTP child.
        // (The newest protocol has no sessions: its requests share the hub's connection.)
        let in_session = context
            .protocol_version()
            .is_some_and(|v| v.as_str() < ProtocolVersion::V_2026_07_28.as_str());
        let own = match session {
            Some(session) if child.is_http() && in_session => Some(session),
            _ => None,
        };
        let (peer, conn) = match own {
            Some(session) => session
                .connection(
                    Arc::downgrade(self),
                    child,
                    &context.peer,
                    self.settings().startup_timeout,
                )
                .await
                .map_err(Failure::Broken)?,
            None => (shared, shared_conn),
        };
        let options = PeerRequestOptions::with_timeout(child.config.timeout);
        let handle = peer
            .send_cancellable_request(request, options)
            .await
            .map_err(|e| Failure::Broken(format!("MCP server `{}`: {e}", child.name())))?;
        let id = handle.id.clone();
        let _tracked = self.relay.track(
            conn,
            child.name(),
            handle.progress_token.clone(),
            context.peer.clone(),
            context.meta.get_progress_token(),
        );
        let started = Instant::now();
        let outcome = tokio::select! {
            response = handle.await_response() => Some(response),
            () = context.ct.cancelled() => None,
        };
        // rmcp hands each notification to a task of its own, spawned before the response is
        // delivered; without this the call's last progress could find the call gone.
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        let result = match outcome {
            None => {
                let cancel = CancelledNotificationParam::new(
                    Some(id),
                    Some("cancelled by the client".into()),
                );
                if let Err(e) = peer.notify_cancelled(cancel).await {
                    tracing::debug!(server = %child.name(), "cancellation not delivered: {e}");
                }
                Err(Failure::Cancelled)
            }
            Some(Ok(result)) => Ok(result),
            Some(Err(rmcp::ServiceError::McpError(error))) => Err(Failure::Child(error)),
            Some(Err(rmcp::ServiceError::Timeout { timeout })) => Err(Failure::Broken(format!(
                "MCP server `{}` did not answer within {timeout:?}",
                child.name()
            ))),
            Some(Err(e)) => Err(Failure::Broken(format!(
                "MCP server `{}` failed: {e}",
                child.name()
            ))),
        };
        let ok = matches!(
            result,
            Ok(_) | Err(Failure::Child(_)) | Err(Failure::Cancelled)
        );
        child.record_call(started.elapsed(), ok);
        if !ok {
            match own {
                Some(session) => session.drop_connection(child.name()).await,
                None => child.reconnect(conn),
            }
        }
        result
    }

    fn owner(&self, server: &str) -> Result<Arc<Child>, ErrorData> {
        self.child(server).ok_or_else(|| {
            ErrorData::internal_error(format!("no MCP server named `{server}`"), None)
        })
    }
}

fn unexpected(server: &str) -> ErrorData {
    ErrorData::internal_error(
        format!("MCP server `{server}` answered with the wrong result type"),
        None,
    )
}

impl Hub {
    /// Calls the catalog tool `exposed`. A child that is down or broken gives a tool error
    /// (`isError`), so the calling model sees what happened.
    pub async fn call_tool(
        &self,
        exposed: &str,
        mut params: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        session: Option<&Session>,
    ) -> Result<CallToolResponse, ErrorData> {
        let hub = self.inner();
        let catalog = hub.catalog();
        if catalog.tool(exposed).is_none()
            && let Some(target) = catalog.down_tool(exposed)
        {
            let message = match hub.child(&target.server) {
                Some(child) => down_message(&child),
                None => format!("MCP server `{}` is not available", target.server),
            };
            return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                ContentBlock::text(message),
            ])));
        }
        let Some(target) = catalog
            .tool(exposed)
            .map(|(target, _)| target.clone())
            .or_else(|| hub.passthrough_target(exposed))
        else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{exposed}`"),
                Some(json!({ "tool": exposed })),
            ));
        };
        let child = hub.owner(&target.server)?;
        params.name = target.name.clone().into();
        params.meta = None;
        let request = ClientRequest::CallToolRequest(Request::new(params));
        match hub.forward(&child, request, context, session).await {
            Ok(ServerResult::CallToolResult(mut result)) => {
                // Classic children omit it; newest-protocol clients require it.
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(CallToolResponse::Complete(result))
            }
            Ok(ServerResult::InputRequiredResult(result)) => {
                Ok(CallToolResponse::InputRequired(result))
            }
            Ok(_) => Err(unexpected(&target.server)),
            Err(Failure::Down(message) | Failure::Broken(message)) => {
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(message),
                ])))
            }
            Err(other) => Err(other.into_error()),
        }
    }

    pub async fn get_prompt(
        &self,
        mut params: GetPromptRequestParams,
        context: &RequestContext<RoleServer>,
        session: Option<&Session>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let hub = self.inner();
        let catalog = hub.catalog();
        let Some(target) = catalog
            .prompt(&params.name)
            .map(|(target, _)| target.clone())
            .or_else(|| hub.passthrough_target(&params.name))
        else {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt `{}`", params.name),
                Some(json!({ "prompt": params.name })),
            ));
        };
        let child = hub.owner(&target.server)?;
        params.name = target.name.clone();
        params.meta = None;
        let request = ClientRequest::GetPromptRequest(Request::new(params));
        match hub.forward(&child, request, context, session).await {
            Ok(ServerResult::GetPromptResult(mut result)) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(GetPromptResponse::Complete(result))
            }
            Ok(ServerResult::InputRequiredResult(result)) => {
                Ok(GetPromptResponse::InputRequired(result))
            }
            Ok(_) => Err(unexpected(&target.server)),
            Err(failure) => Err(failure.into_error()),
        }
    }

    /// Reads a child's resource; `None` when no child owns `uri`.
    pub async fn read_resource(
        &self,
        mut params: ReadResourceRequestParams,
        context: &RequestContext<RoleServer>,
        session: Option<&Session>,
    ) -> Option<Result<ReadResourceResponse, ErrorData>> {
        let hub = self.inner();
        let target = hub
            .catalog()
            .resource_target(&params.uri)
            .or_else(|| hub.passthrough_target(&params.uri))?;
        let exposed = params.uri.clone();
        let child = match hub.owner(&target.server) {
            Ok(child) => child,
            Err(e) => return Some(Err(e)),
        };
        params.uri = target.name.clone();
        params.meta = None;
        let request = ClientRequest::ReadResourceRequest(Request::new(params));
        Some(match hub.forward(&child, request, context, session).await {
            Ok(ServerResult::ReadResourceResult(mut result)) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                // Contents carry the child's URI; show the one the client asked for.
                for contents in &mut result.contents {
                    set_uri(contents, &target.name, &exposed);
                }
                Ok(ReadResourceResponse::Complete(result))
            }
            Ok(ServerResult::InputRequiredResult(result)) => {
                Ok(ReadResourceResponse::InputRequired(result))
            }
            Ok(_) => Err(unexpected(&target.server)),
            Err(failure) => Err(failure.into_error()),
        })
    }

    /// Completion for a child's prompt or resource template; `None` when no child owns it.
    pub async fn complete(
        &self,
        mut params: CompleteRequestParams,
        context: &RequestContext<RoleServer>,
        session: Option<&Session>,
    ) -> Option<Result<CompleteResult, ErrorData>> {
        let hub = self.inner();
        let catalog = hub.catalog();
        let server = match &mut params.r#ref {
            Reference::Prompt(prompt) => {
                let target = catalog
                    .prompt(&prompt.name)
                    .map(|(target, _)| target.clone())
                    .or_else(|| hub.passthrough_target(&prompt.name))?;
                prompt.name = target.name;
                target.server
            }
            Reference::Resource(resource) => {
                let target = catalog
                    .template_target(&resource.uri)
                    .cloned()
                    .or_else(|| hub.passthrough_target(&resource.uri))?;
                resource.uri = target.name;
                target.server
            }
            _ => return None,
        };
        let child = match hub.owner(&server) {
            Ok(child) => child,
            Err(e) => return Some(Err(e)),
        };
        params.meta = None;
        let request = ClientRequest::CompleteRequest(Request::new(params));
        Some(match hub.forward(&child, request, context, session).await {
            Ok(ServerResult::CompleteResult(result)) => Ok(result),
            Ok(_) => Err(unexpected(&server)),
            Err(failure) => Err(failure.into_error()),
        })
    }

    /// `resources/subscribe` (or `unsubscribe`) for a child's resource; `None` when no child
    /// owns `uri`. Updates come back through the relay to every session.
    pub async fn subscription(
        &self,
        uri: &str,
        subscribe: bool,
        context: &RequestContext<RoleServer>,
        session: Option<&Session>,
    ) -> Option<Result<(), ErrorData>> {
        let hub = self.inner();
        let target = hub
            .catalog()
            .resource_target(uri)
            .or_else(|| hub.passthrough_target(uri))?;
        let child = match hub.owner(&target.server) {
            Ok(child) => child,
            Err(e) => return Some(Err(e)),
        };
        let request = if subscribe {
            ClientRequest::SubscribeRequest(Request::new(SubscribeRequestParams::new(target.name)))
        } else {
            ClientRequest::UnsubscribeRequest(Request::new(UnsubscribeRequestParams::new(
                target.name,
            )))
        };
        Some(
            hub.forward(&child, request, context, session)
                .await
                .map(|_| ())
                .map_err(Failure::into_error),
        )
    }

    /// Passes a log level to every ready child that offers logging.
    pub async fn set_level(
        &self,
        params: SetLevelRequestParams,
        context: &RequestContext<RoleServer>,
        session: Option<&Session>,
    ) {
        let hub = self.inner();
        for child in hub.children() {
            let offers_logging = child
                .peer()
                .and_then(|p| p.peer_info())
                .is_some_and(|i| i.capabilities.logging.is_some());
            if !offers_logging {
                continue;
            }
            let request = ClientRequest::SetLevelRequest(Request::new(SetLevelRequestParams::new(
                params.level,
            )));
            if let Err(Failure::Broken(e) | Failure::Down(e)) =
                hub.forward(&child, request, context, session).await
            {
                tracing::debug!(server = %child.name(), "setLevel not passed on: {e}");
            }
        }
    }
}

fn set_uri(contents: &mut rmcp::model::ResourceContents, child_uri: &str, exposed: &str) {
    use rmcp::model::ResourceContents;
    let uri = match contents {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => uri,
        _ => return,
    };
    if uri == child_uri {
        *uri = exposed.to_owned();
    }
}
