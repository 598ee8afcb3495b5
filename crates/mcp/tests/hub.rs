//! The hub in process, without Node or Python: children are rmcp servers of this test on
//! in-memory pipes (`Hub::start_with` and an `InProcess` opener, called on every connection),
//! and the client is rmcp's own over another pipe to `FusionMcp`. Covers a crash and the
//! restart with backoff, progress relayed from a child, a child's `list_changed` refetched and
//! relayed, sampling asked by a child and answered by the client, a reload that adds,
//! removes and keeps children, and a reloaded tool filter applied on the same connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Sampling is deprecated by the newest protocol (SEP-2577); classic children still use it.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusion_core::config::{Config, McpServerConfig};
use fusion_core::providers::ProviderRegistry;
use fusion_mcp::hub::{Hub, InProcess, State};
use fusion_mcp::{Fusion, FusionMcp};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, CreateMessageRequestParams, CreateMessageResult, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion, Role,
    SamplingMessage, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{
    ClientLifecycleMode, NotificationContext, RequestContext, RoleClient, RoleServer,
    RunningService, serve_client_with_lifecycle,
};
use rmcp::{ClientHandler, ErrorData, ServerHandler, ServiceExt};
use tokio_util::sync::CancellationToken;

/// A child MCP server: `echo`, `slow` (three progress steps), `grow` (adds `extra` and says
/// its list changed), `sample` (asks the client for a completion), `crash` (drops the pipe).
#[derive(Clone)]
struct Kid {
    name: String,
    grown: Arc<AtomicBool>,
    /// Ends this connection (the child "crashes").
    crash: CancellationToken,
    /// Speaks only the classic protocol (the one where a server may ask the client things).
    classic: bool,
}

fn tool(name: &str) -> Tool {
    let schema: JsonObject = serde_json::from_value(serde_json::json!({"type": "object"})).unwrap();
    Tool::new(
        name.to_owned(),
        format!("test tool {name}"),
        Arc::new(schema),
    )
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

impl ServerHandler for Kid {
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Borrowed(if self.classic {
            ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25)
        } else {
            ProtocolVersion::KNOWN_VERSIONS
        })
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools: Vec<Tool> = ["echo", "slow", "grow", "sample", "crash"]
            .into_iter()
            .map(tool)
            .collect();
        if self.grown.load(Ordering::SeqCst) {
            tools.push(tool("extra"));
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let reply = |t: String| Ok(CallToolResult::success(vec![ContentBlock::text(t)]).into());
        match request.name.as_ref() {
            "echo" => reply(format!("{} says hi", self.name)),
            "slow" => {
                if let Some(token) = context.meta.get_progress_token() {
                    for step in 1..=3 {
                        let param = ProgressNotificationParam::new(token.clone(), f64::from(step))
                            .with_total(3.0);
                        context.peer.notify_progress(param).await.unwrap();
                    }
                }
                reply("slow done".into())
            }
            "grow" => {
                self.grown.store(true, Ordering::SeqCst);
                let peer = context.peer.clone();
                tokio::spawn(async move {
                    let _ = peer.notify_tool_list_changed().await;
                });
                reply("grown".into())
            }
            "sample" => {
                let asked = CreateMessageRequestParams::new(
                    vec![SamplingMessage::user_text("what is 2+2?")],
                    16,
                );
                let answer = context.peer.create_message(asked).await.map_err(|e| {
                    ErrorData::internal_error(format!("sampling failed: {e}"), None)
                })?;
                let said = answer
                    .message
                    .content
                    .first()
                    .and_then(|c| c.as_text())
                    .map(|t| t.text.clone())
                    .unwrap_or_default();
                reply(format!("the client said: {said}"))
            }
            "crash" => {
                let crash = self.crash.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    crash.cancel();
                });
                reply("bye".into())
            }
            other => Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        }
    }
}

/// Opens children by name and counts the connections each got.
#[derive(Clone, Default)]
struct Nursery {
    connections: Arc<Mutex<HashMap<String, usize>>>,
    grown: Arc<AtomicBool>,
    classic: bool,
}

impl Nursery {
    fn opener(&self) -> InProcess {
        let nursery = self.clone();
        Arc::new(move |config: &McpServerConfig| {
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            *nursery
                .connections
                .lock()
                .unwrap()
                .entry(config.name.clone())
                .or_default() += 1;
            let kid = Kid {
                name: config.name.clone(),
                grown: Arc::clone(&nursery.grown),
                crash: CancellationToken::new(),
                classic: nursery.classic,
            };
            let crash = kid.crash.clone();
            tokio::spawn(async move {
                if let Ok(running) = kid.serve_with_ct(ours, crash).await {
                    let _ = running.waiting().await;
                }
            });
            Some(theirs)
        })
    }

    fn connections(&self, name: &str) -> usize {
        self.connections
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

/// Fusion's client: counts `tools/list_changed`, keeps progress, answers sampling.
#[derive(Clone, Default)]
struct Client {
    tools_changed: Arc<AtomicUsize>,
    progress: Arc<Mutex<Vec<f64>>>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        capabilities.sampling = Some(Default::default());
        ClientConfig::new(capabilities, Implementation::new("hub-test", "1"))
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.fetch_add(1, Ordering::SeqCst);
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params.progress);
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(CreateMessageResult::new(
            SamplingMessage::new(
                Role::Assistant,
                rmcp::model::SamplingMessageContentBlock::text("four"),
            ),
            "client-model".into(),
        ))
    }
}

fn config(children: &[&str]) -> Config {
    let mut config = Config::default();
    config.mcp.servers = children
        .iter()
        .map(|name| McpServerConfig::stdio(*name, "in-process", Vec::new()))
        .collect();
    config
}

struct Setup {
    hub: Hub,
    nursery: Nursery,
    client: RunningService<RoleClient, Client>,
    recorder: Client,
}

async fn setup(children: &[&str]) -> Setup {
    setup_with(children, false).await
}

/// `classic`: the children speak only the classic protocol.
async fn setup_with(children: &[&str], classic: bool) -> Setup {
    let config = config(children);
    let nursery = Nursery {
        classic,
        ..Nursery::default()
    };
    let hub = Hub::start_with(
        &config.mcp,
        FusionMcp::reserved(),
        CancellationToken::new(),
        Some(nursery.opener()),
    );
    let registry = ProviderRegistry::from_config(&config).unwrap();
    let server =
        FusionMcp::new(Fusion::new(Arc::new(config), Arc::new(registry))).with_hub(hub.clone());
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let recorder = Client::default();
    let client =
        serve_client_with_lifecycle(recorder.clone(), client_io, ClientLifecycleMode::Initialize)
            .await
            .unwrap();
    Setup {
        hub,
        nursery,
        client,
        recorder,
    }
}

async fn call(s: &Setup, name: &str) -> CallToolResult {
    s.client
        .call_tool(CallToolRequestParams::new(name.to_owned()))
        .await
        .unwrap()
}

async fn tool_names(s: &Setup) -> Vec<String> {
    s.client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// Polls `done` every 20 ms, for at most 30 s.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..1500 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn a_crashed_child_is_restarted_with_backoff_and_the_client_hears_list_changed() {
    let s = setup(&["kid"]).await;
    assert!(tool_names(&s).await.contains(&"kid__echo".to_owned()));
    assert_eq!(text(&call(&s, "kid__echo").await), "kid says hi");
    let heard = s.recorder.tools_changed.load(Ordering::SeqCst);

    assert_eq!(text(&call(&s, "kid__crash").await), "bye");
    eventually("the kid reconnects", async || {
        s.nursery.connections("kid") == 2
    })
    .await;
    eventually("the kid is ready again", async || {
        s.hub.status()[0].state == State::Ready
    })
    .await;
    assert_eq!(s.hub.status()[0].restarts, 1);
    // Its tools left the catalog and came back: the client was told.
    eventually("list_changed reaches the client", async || {
        s.recorder.tools_changed.load(Ordering::SeqCst) > heard
    })
    .await;
    assert_eq!(text(&call(&s, "kid__echo").await), "kid says hi");
}

#[tokio::test]
async fn progress_from_a_child_reaches_the_calling_client() {
    let s = setup(&["kid"]).await;
    assert_eq!(text(&call(&s, "kid__slow").await), "slow done");
    eventually("three progress steps", async || {
        s.recorder.progress.lock().unwrap().len() == 3
    })
    .await;
    assert_eq!(*s.recorder.progress.lock().unwrap(), vec![1.0, 2.0, 3.0]);
}

#[tokio::test]
async fn a_childs_list_changed_is_refetched_and_relayed() {
    let s = setup(&["kid"]).await;
    assert!(!tool_names(&s).await.contains(&"kid__extra".to_owned()));
    let heard = s.recorder.tools_changed.load(Ordering::SeqCst);
    assert_eq!(text(&call(&s, "kid__grow").await), "grown");
    eventually("list_changed reaches the client", async || {
        s.recorder.tools_changed.load(Ordering::SeqCst) > heard
    })
    .await;
    assert!(tool_names(&s).await.contains(&"kid__extra".to_owned()));
    assert_eq!(s.nursery.connections("kid"), 1, "no reconnection needed");
}

#[tokio::test]
async fn sampling_asked_by_a_classic_child_is_answered_by_the_client() {
    let s = setup_with(&["kid"], true).await;
    assert!(tool_names(&s).await.contains(&"kid__sample".to_owned()));
    let status = &s.hub.status()[0];
    assert_eq!(
        status.protocol_version.as_deref(),
        Some("2025-11-25"),
        "{status:?}"
    );
    assert_eq!(status.restarts, 0, "{status:?}");
    let result = call(&s, "kid__sample").await;
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(text(&result), "the client said: four");
}

#[tokio::test]
async fn a_reload_starts_new_children_stops_removed_ones_and_keeps_the_rest() {
    let s = setup(&["kept", "gone"]).await;
    let names = tool_names(&s).await;
    assert!(names.contains(&"kept__echo".to_owned()) && names.contains(&"gone__echo".to_owned()));
    let heard = s.recorder.tools_changed.load(Ordering::SeqCst);

    s.hub
        .reconcile(&config(&["kept", "gone"]), &config(&["kept", "new"]))
        .await;
    eventually("the new child is listed", async || {
        tool_names(&s).await.contains(&"new__echo".to_owned())
    })
    .await;
    let names = tool_names(&s).await;
    assert!(!names.iter().any(|n| n.starts_with("gone__")), "{names:?}");
    assert_eq!(
        s.nursery.connections("kept"),
        1,
        "an unchanged child keeps its connection"
    );
    assert_eq!(text(&call(&s, "kept__echo").await), "kept says hi");
    assert!(s.recorder.tools_changed.load(Ordering::SeqCst) > heard);
    let status: Vec<String> = s.hub.status().into_iter().map(|c| c.name).collect();
    assert_eq!(status, ["kept", "new"]);

    // A changed entry restarts that child alone.
    let mut changed = config(&["kept", "new"]);
    changed.mcp.servers[1].args = vec!["--different".into()];
    s.hub.reconcile(&config(&["kept", "new"]), &changed).await;
    eventually("the changed child reconnects", async || {
        s.nursery.connections("new") == 2
    })
    .await;
    assert_eq!(s.nursery.connections("kept"), 1);
}

#[tokio::test]
async fn a_changed_tool_filter_applies_without_reconnecting_the_child() {
    let s = setup(&["kid"]).await;
    let names = tool_names(&s).await;
    assert!(names.contains(&"kid__echo".to_owned()), "{names:?}");
    let heard = s.recorder.tools_changed.load(Ordering::SeqCst);

    let mut denied = config(&["kid"]);
    denied.mcp.servers[0].tools.deny = vec!["echo".into()];
    s.hub.reconcile(&config(&["kid"]), &denied).await;
    // At once, not once a new connection lists: the child's other tools never leave.
    let names = tool_names(&s).await;
    assert!(!names.contains(&"kid__echo".to_owned()), "{names:?}");
    assert!(names.contains(&"kid__slow".to_owned()), "{names:?}");
    let refused = s
        .client
        .call_tool(CallToolRequestParams::new("kid__echo".to_owned()))
        .await;
    assert!(
        refused.as_ref().map_or(true, |r| r.is_error == Some(true)),
        "a denied tool is not called: {refused:?}"
    );
    assert_eq!(
        s.nursery.connections("kid"),
        1,
        "the child kept its connection"
    );
    let status = &s.hub.status()[0];
    assert_eq!(
        (status.state, status.restarts),
        (State::Ready, 0),
        "{status:?}"
    );
    eventually("list_changed reaches the client", async || {
        s.recorder.tools_changed.load(Ordering::SeqCst) > heard
    })
    .await;

    // Allowed again, it is back on the same connection.
    s.hub.reconcile(&denied, &config(&["kid"])).await;
    assert!(tool_names(&s).await.contains(&"kid__echo".to_owned()));
    assert_eq!(text(&call(&s, "kid__echo").await), "kid says hi");
    assert_eq!(s.nursery.connections("kid"), 1);
}
