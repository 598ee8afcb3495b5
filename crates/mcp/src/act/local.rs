//! `fusion do` runs `fusion_do` in process: the MCP server (with its hub) and an MCP client
//! joined by an in-memory pipe, so the command line runs exactly the tool MCP clients call —
//! its checks, its loop, its answer — and prints its progress.

use rmcp::ServiceExt;
use rmcp::handler::client::ClientHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, JsonObject, NumberOrString, ProgressNotificationParam,
    ProgressToken, RequestMetaObject,
};
use rmcp::service::{NotificationContext, RoleClient};
use tokio::sync::mpsc::UnboundedSender;

use crate::FusionMcp;

/// Bytes the in-memory pipe buffers each way.
const PIPE_BYTES: usize = 1 << 20;

/// The client side: hands each progress message to `progress`.
struct ProgressLines(Option<UnboundedSender<String>>);

impl ClientHandler for ProgressLines {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let (Some(tx), Some(message)) = (&self.0, params.message) {
            let _ = tx.send(message);
        }
    }
}

/// Calls `fusion_do` with `arguments` on `server`, in this process. `Err` only when the call
/// could not be made or was refused as a protocol error (the tool's own failures are results).
pub async fn run_in_process(
    server: FusionMcp,
    arguments: JsonObject,
    progress: Option<UnboundedSender<String>>,
) -> Result<CallToolResult, String> {
    let (server_io, client_io) = tokio::io::duplex(PIPE_BYTES);
    let serving = tokio::spawn(async move {
        match server.serve(server_io).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::warn!("the in-process MCP server did not start: {e}"),
        }
    });
    let client = ProgressLines(progress)
        .serve(client_io)
        .await
        .map_err(|e| format!("cannot connect to the in-process MCP server: {e}"))?;
    let mut params = CallToolRequestParams::new(super::NAME);
    params.arguments = Some(arguments);
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::Number(1),
    )));
    let result = client.call_tool(params).await.map_err(|e| e.to_string());
    let _ = client.cancel().await;
    let _ = serving.await;
    result
}
