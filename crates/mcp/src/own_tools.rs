//! Fusion's own tools: each feature module's rmcp tool router (built with `#[tool_router]`),
//! and the one place that decides which of them a session lists and answers — by catalog
//! mode, stdio or HTTP, task engine, store and configuration file. Fusion's reserved names are
//! the routers' names.

use std::collections::HashSet;
use std::sync::Arc;

use fusion_core::config::CatalogMode;
use rmcp::ErrorData;
use rmcp::handler::server::common::{schema_for_input, schema_for_type};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolRequestParams, CallToolResponse, JsonObject, Tool};
use rmcp::service::{RequestContext, RoleServer};
use schemars::JsonSchema;

use crate::{FusionMcp, failure, spelling};

/// The order tools are listed in: the seed servers' order, which clients show. A tool missing
/// here is still listed, after these.
const LISTING_ORDER: [&str; 26] = [
    "fusion_ask",
    "preemptive_route_task",
    "get_cost_estimate",
    "benchmark_task",
    "benchmark_tasks",
    "benchmark_model",
    "reload_config",
    "code_index",
    "code_search",
    "route_task",
    "get_task_status",
    "cancel_task",
    "cancel_job",
    "get_free_models",
    "clear_openrouter_tracking",
    "benchmark_free_models",
    "set_model_prompting_strategy",
    "looped_start",
    "looped_report",
    "looped_check_work",
    "looped_fuse_review",
    "looped_next",
    "looped_status",
    "fusion_do",
    "find_tools",
    "call_tool",
];

/// What decides which of Fusion's tools a session has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The hub's catalog mode when it has children.
    pub mode: Option<CatalogMode>,
    /// A stdio session (code search reads local files: never for remote HTTP sessions).
    pub stdio: bool,
    /// A task engine serves tasks.
    pub tasks: bool,
    /// A store holds loop runs.
    pub store: bool,
    /// The configuration came from a file (a discovered one has nothing to reload).
    pub config_file: bool,
}

/// When a session has a feature's tools (none in passthrough mode, where Fusion shows only
/// its children).
#[derive(Debug, Clone, Copy)]
enum Offered {
    Always,
    WithConfigFile,
    OverStdio,
    WithTasks,
    WithStore,
    /// Namespaced or lazy mode: the catalog is searchable.
    WithCatalogSearch,
    InLazyMode,
}

impl Offered {
    fn to(self, facts: &Facts) -> bool {
        if facts.mode == Some(CatalogMode::Passthrough) {
            return false;
        }
        match self {
            Self::Always => true,
            Self::WithConfigFile => facts.config_file,
            Self::OverStdio => facts.stdio,
            Self::WithTasks => facts.tasks,
            Self::WithStore => facts.store,
            Self::WithCatalogSearch => matches!(
                facts.mode,
                Some(CatalogMode::Namespaced | CatalogMode::Lazy)
            ),
            Self::InLazyMode => facts.mode == Some(CatalogMode::Lazy),
        }
    }
}

/// One feature's router, when it is offered and whether `tools/list` shows it.
struct Feature {
    router: ToolRouter<FusionMcp>,
    offered: Offered,
    listed: bool,
}

/// Every tool Fusion serves itself, by feature.
pub struct OwnTools {
    features: Vec<Feature>,
}

impl OwnTools {
    pub fn new() -> Self {
        let feature = |router, offered| Feature {
            router,
            offered,
            listed: true,
        };
        Self {
            features: vec![
                feature(
                    FusionMcp::ask_router()
                        + FusionMcp::route_router()
                        + FusionMcp::free_models_router(),
                    Offered::Always,
                ),
                feature(FusionMcp::reload_router(), Offered::WithConfigFile),
                feature(FusionMcp::code_router(), Offered::OverStdio),
                // The replaced server's names: answered where code search is, never listed.
                Feature {
                    listed: false,
                    ..feature(FusionMcp::code_alias_router(), Offered::OverStdio)
                },
                feature(
                    FusionMcp::tasks_router() + FusionMcp::bench_router(),
                    Offered::WithTasks,
                ),
                feature(
                    FusionMcp::catalog_tracking_router() + FusionMcp::prompting_router(),
                    Offered::WithStore,
                ),
                feature(FusionMcp::looped_router(), Offered::WithStore),
                feature(
                    FusionMcp::do_router() + FusionMcp::find_router(),
                    Offered::WithCatalogSearch,
                ),
                feature(FusionMcp::call_router(), Offered::InLazyMode),
            ],
        }
    }

    /// Every name Fusion owns, in any session (a child's tool never gets one).
    pub fn names(&self) -> HashSet<String> {
        self.features
            .iter()
            .flat_map(|f| f.router.map.keys())
            .map(|name| name.to_string())
            .collect()
    }

    /// The tools a session with `facts` answers, merged into one router.
    pub fn router(&self, facts: &Facts) -> ToolRouter<FusionMcp> {
        self.features
            .iter()
            .filter(|f| f.offered.to(facts))
            .fold(ToolRouter::new(), |all, f| all + f.router.clone())
    }

    /// The tools a session with `facts` lists, in listing order.
    pub fn listed(&self, facts: &Facts) -> Vec<Tool> {
        let mut tools: Vec<Tool> = self
            .features
            .iter()
            .filter(|f| f.listed && f.offered.to(facts))
            .flat_map(|f| f.router.list_all())
            .collect();
        tools.sort_by_key(|tool| {
            let rank = LISTING_ORDER.iter().position(|name| *name == tool.name);
            (rank.unwrap_or(LISTING_ORDER.len()), tool.name.clone())
        });
        tools
    }
}

/// Runs `request` on its route in `router` (an unknown name answers Invalid params). Its
/// arguments are parsed into the tool's input type; when they do not parse, the call answers
/// an `invalid_arguments` tool result (see [`failure::answer`]).
pub async fn call(
    router: &ToolRouter<FusionMcp>,
    server: &FusionMcp,
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let Some(route) = router.map.get(request.name.as_ref()) else {
        return Err(ErrorData::invalid_params(
            format!("unknown tool `{}`", request.name),
            None,
        ));
    };
    let name = request.name.to_string();
    let mut request = request;
    if let Some(arguments) = request.arguments.as_mut() {
        spelling::normalize(arguments, &route.attr.input_schema);
    }
    let outcome = (route.call)(ToolCallContext::new(server, request, context)).await;
    failure::answer(&name, outcome)
}

/// A tool's input schema, derived from its input type (an object, as MCP requires).
/// Each multi-word property also names its camelCase spelling (see `spelling`).
pub fn input_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let schema = schema_for_input::<T>().unwrap_or_else(|_| schema_for_type::<T>());
    Arc::new(spelling::document((*schema).clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tools: &[Tool]) -> Vec<&str> {
        tools.iter().map(|t| t.name.as_ref()).collect()
    }

    const CORE: [&str; 3] = ["fusion_ask", "preemptive_route_task", "get_cost_estimate"];
    const CODE: [&str; 2] = ["code_index", "code_search"];
    const TASKS: [&str; 4] = ["route_task", "get_task_status", "cancel_task", "cancel_job"];
    const FREE: [&str; 1] = ["get_free_models"];
    const BENCH: [&str; 3] = ["benchmark_task", "benchmark_tasks", "benchmark_model"];
    const FREE_BENCH: [&str; 1] = ["benchmark_free_models"];
    const LOOPED: [&str; 6] = [
        "looped_start",
        "looped_report",
        "looped_check_work",
        "looped_fuse_review",
        "looped_next",
        "looped_status",
    ];

    fn facts(mode: Option<CatalogMode>) -> Facts {
        Facts {
            mode,
            stdio: true,
            tasks: true,
            store: true,
            config_file: true,
        }
    }

    fn expected(parts: &[&[&str]]) -> Vec<String> {
        parts.concat().into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn the_merged_router_lists_exactly_the_tools_each_mode_shows() {
        let own = OwnTools::new();
        let everything = expected(&[
            &CORE,
            &BENCH,
            &["reload_config"],
            &CODE,
            &TASKS,
            &FREE,
            &["clear_openrouter_tracking"],
            &FREE_BENCH,
            &["set_model_prompting_strategy"],
            &LOOPED,
        ]);
        let cases = [
            (facts(None), everything.clone()),
            (facts(Some(CatalogMode::Namespaced)), {
                let mut all = everything.clone();
                all.extend(["fusion_do".into(), "find_tools".into()]);
                all
            }),
            (facts(Some(CatalogMode::Lazy)), {
                let mut all = everything.clone();
                all.extend(["fusion_do".into(), "find_tools".into(), "call_tool".into()]);
                all
            }),
            (facts(Some(CatalogMode::Passthrough)), Vec::new()),
            // An HTTP session of a discovered configuration without engine or store.
            (
                Facts {
                    mode: None,
                    stdio: false,
                    tasks: false,
                    store: false,
                    config_file: false,
                },
                expected(&[&CORE, &FREE]),
            ),
            (
                Facts {
                    stdio: false,
                    store: false,
                    ..facts(Some(CatalogMode::Namespaced))
                },
                expected(&[
                    &CORE,
                    &BENCH,
                    &["reload_config"],
                    &TASKS,
                    &FREE,
                    &FREE_BENCH,
                    &["fusion_do", "find_tools"],
                ]),
            ),
        ];
        for (facts, want) in cases {
            let listed = own.listed(&facts);
            assert_eq!(names(&listed), want, "{facts:?}");
            // The router answers what is listed, and the code aliases where code search is.
            let router = own.router(&facts);
            let mut answered: Vec<String> = router.map.keys().map(|n| n.to_string()).collect();
            answered.sort();
            let mut want = want.clone();
            if facts.stdio && facts.mode != Some(CatalogMode::Passthrough) {
                want.extend(["retriv_init".into(), "retriv_search".into()]);
            }
            want.sort();
            assert_eq!(answered, want, "{facts:?}");
        }
    }

    #[test]
    fn reserved_names_are_every_routers_names_and_all_have_a_listing_place() {
        let names = OwnTools::new().names();
        for listed in LISTING_ORDER {
            assert!(names.contains(listed), "{listed}");
        }
        assert!(names.contains("retriv_init") && names.contains("retriv_search"));
        assert_eq!(names.len(), LISTING_ORDER.len() + 2);
    }

    /// A server without providers over an in-process pipe, with the SDK's client.
    async fn client() -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        use rmcp::ServiceExt;
        let config: fusion_core::config::Config =
            toml::from_str("[router]\ndiscover = false").expect("a minimal configuration");
        let registry = fusion_core::providers::ProviderRegistry::from_config(&config)
            .expect("an empty registry");
        let fusion = crate::Fusion::new(Arc::new(config), Arc::new(registry));
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            if let Ok(running) = FusionMcp::new(fusion).serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        ().serve(client_io).await.expect("the client connects")
    }

    #[tokio::test]
    async fn a_call_whose_arguments_do_not_parse_answers_invalid_arguments_over_the_wire() {
        let client = client().await;
        let mut request = CallToolRequestParams::new("preemptive_route_task");
        request.arguments = serde_json::json!({"task": 5}).as_object().cloned();
        let result = client.call_tool(request).await.expect("a tool result");
        assert_eq!(result.is_error, Some(true));
        let error = &result.structured_content.expect("structured content")["error"];
        assert_eq!(error["class"], "invalid_arguments");
        assert_eq!(error["retryable"], false);
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("invalid arguments for `preemptive_route_task`: invalid type"),
            "{message}"
        );
        // A refusal after parsing is classified by the same function.
        let mut request = CallToolRequestParams::new("get_cost_estimate");
        request.arguments = serde_json::json!({"context_length": 10, "complexity": 3.0})
            .as_object()
            .cloned();
        let result = client.call_tool(request).await.expect("a tool result");
        let error = &result.structured_content.expect("structured content")["error"];
        assert_eq!(error["class"], "invalid_arguments", "{error}");
        // An unknown tool stays a protocol error naming the known ones.
        let err = client
            .call_tool(CallToolRequestParams::new("nope"))
            .await
            .expect_err("an unknown tool is Invalid params");
        assert!(err.to_string().contains("fusion_ask"), "{err}");
        let _ = client.cancel().await;
    }
}
