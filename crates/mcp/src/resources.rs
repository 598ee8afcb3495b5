//! Fusion's own MCP resources, as JSON text: `fusion://status` (version, providers and whether
//! each is reachable right now), `fusion://councils` (the configured councils and members) and,
//! with child servers, `fusion://mcp/servers` (each child's transport, state and statistics);
//! `fusion://usage` (the usage ledger's totals by model, provider and day, as `GET /api/usage`);
//! the catalog resources (`fusion://catalog`, `.../free`, `.../status`, built in `catalog`) and
//! the template `fusion://models/{id}/prompting` (a model's prompting strategy, in `prompting`).

use std::time::Duration;

use fusion_core::config::{Config, CouncilConfig, MemberConfig};
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents};
use serde_json::{Value, json};

use crate::hub::Hub;
use crate::{Fusion, catalog, prompting};

pub const STATUS: &str = "fusion://status";
pub const COUNCILS: &str = "fusion://councils";
pub const SERVERS: &str = "fusion://mcp/servers";
pub const USAGE: &str = "fusion://usage";
pub const CATALOG: &str = "fusion://catalog";
pub const CATALOG_FREE: &str = "fusion://catalog/free";
pub const CATALOG_STATUS: &str = "fusion://catalog/status";
/// Every URI and URI template Fusion itself serves.
pub const OWN: [&str; 8] = [
    STATUS,
    COUNCILS,
    SERVERS,
    USAGE,
    CATALOG,
    CATALOG_FREE,
    CATALOG_STATUS,
    prompting::TEMPLATE,
];
const JSON: &str = "application/json";

/// How long a status read waits for each provider to answer its probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether `uri` is one of Fusion's own resources (the servers one only with a hub).
pub fn is_own(uri: &str, with_hub: bool) -> bool {
    [
        STATUS,
        COUNCILS,
        USAGE,
        CATALOG,
        CATALOG_FREE,
        CATALOG_STATUS,
    ]
    .contains(&uri)
        || (with_hub && uri == SERVERS)
        || prompting::model_in(uri).is_some()
}

pub fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("no resource `{uri}`; see resources/list"),
        Some(json!({ "uri": uri })),
    )
}

pub fn list(with_hub: bool) -> Vec<Resource> {
    let mut own = vec![
        Resource::new(STATUS, "status")
            .with_title("Fusion status")
            .with_description(
                "Fusion's version and every configured provider with whether it answers now",
            )
            .with_mime_type(JSON),
        Resource::new(COUNCILS, "councils")
            .with_title("Fusion councils")
            .with_description(
                "The configured councils: panel members, judge, synthesizer; pass a name as \
                 `council` to fusion_ask",
            )
            .with_mime_type(JSON),
        Resource::new(USAGE, "usage")
            .with_title("Fusion usage")
            .with_description(
                "Model calls recorded in the usage ledger: calls, tokens (estimated ones \
                 counted), cost and latency, totalled and by model, provider and day",
            )
            .with_mime_type(JSON),
        Resource::new(CATALOG, "catalog")
            .with_title("Fusion's synced catalogs")
            .with_description(
                "Every model synced from a provider's catalog (OpenRouter-style listings with \
                 prices): Fusion id, provider, upstream name, context window, prices per \
                 million tokens, whether it is free, when it was synced",
            )
            .with_mime_type(JSON),
        Resource::new(CATALOG_FREE, "free-models")
            .with_title("Fusion's free models")
            .with_description(
                "Every model that costs nothing (local, zero-priced catalog models, configured \
                 free ones) with context window, state and source, as get_free_models answers",
            )
            .with_mime_type(JSON),
        Resource::new(CATALOG_STATUS, "catalog-status")
            .with_title("Fusion's catalog syncs")
            .with_description(
                "Per catalog provider: last sync, models and free ones stored, last error, \
                 refresh interval and when the next sync is due",
            )
            .with_mime_type(JSON),
    ];
    if with_hub {
        own.push(
            Resource::new(SERVERS, "mcp-servers")
                .with_title("Fusion's MCP servers")
                .with_description(
                    "Each aggregated MCP server: transport, state (connecting, ready, \
                     restarting, failed), restarts, last error, tools, calls and p50 latency",
                )
                .with_mime_type(JSON),
        );
    }
    own
}

/// Fusion's own resource templates.
pub fn templates() -> Vec<rmcp::model::ResourceTemplate> {
    prompting::templates()
}

pub async fn read(
    fusion: &Fusion,
    hub: Option<&Hub>,
    uri: &str,
) -> Result<ReadResourceResult, ErrorData> {
    let body = match (uri, hub) {
        (STATUS, _) => status(fusion).await,
        (COUNCILS, _) => councils(&fusion.config()),
        (SERVERS, Some(hub)) => json!({ "servers": hub.status() }),
        (USAGE, _) => usage(fusion).await?,
        (CATALOG, _) => catalog::catalog(fusion).await?,
        (CATALOG_FREE, _) => catalog::free_models(fusion, None)
            .await
            .map_err(|e| ErrorData::internal_error(e.for_client().message, None))?,
        (CATALOG_STATUS, _) => catalog::status(fusion).await?,
        _ if prompting::model_in(uri).is_some() => prompting::read(fusion, uri)?,
        _ => return Err(not_found(uri)),
    };
    let text = serde_json::to_string_pretty(&body)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode {uri}: {e}"), None))?;
    let contents = ResourceContents::text(text, uri).with_mime_type(JSON);
    Ok(ReadResourceResult::new(vec![contents]))
}

async fn status(fusion: &Fusion) -> Value {
    let now = fusion.snapshot();
    let probes = now.registry.probe_all(PROBE_TIMEOUT).await;
    let config = &now.config;
    let providers: Vec<Value> = probes
        .iter()
        .map(|(name, outcome)| {
            let provider = config.providers.iter().find(|p| &p.name == name);
            let mut entry = json!({
                "name": name,
                "kind": provider.map(|p| p.kind),
                "tier": provider.map(|p| p.tier),
                "reachable": outcome.is_ok(),
            });
            if let Err(err) = outcome {
                entry["error"] = Value::String(err.to_string());
            }
            entry
        })
        .collect();
    json!({
        "name": "fusion",
        "version": env!("CARGO_PKG_VERSION"),
        "providers": providers,
        // Every model the registry knows: configured, discovered and synced.
        "models": now.registry.models().into_iter().map(|m| m.id).collect::<Vec<_>>(),
        "councils": config.councils.keys().collect::<Vec<_>>(),
    })
}

async fn usage(fusion: &Fusion) -> Result<Value, ErrorData> {
    let Some(ledger) = fusion.runtime().ledger() else {
        return Err(ErrorData::internal_error(
            "this Fusion runs without a store: no usage is recorded",
            None,
        ));
    };
    // Rows still queued for the writer belong in the report.
    let report = async {
        ledger.flush().await?;
        ledger
            .store()
            .usage_report(&fusion_core::store::UsageFilter::default())
            .await
    };
    let report = report
        .await
        .map_err(|e| ErrorData::internal_error(e.for_client().message, None))?;
    serde_json::to_value(report)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode usage: {e}"), None))
}

fn councils(config: &Config) -> Value {
    let default = config.pick_council(None).ok();
    let councils: Vec<Value> = config
        .councils
        .iter()
        .map(|(name, council)| describe(name, council, default == Some(name.as_str())))
        .collect();
    json!({ "councils": councils })
}

fn describe(name: &str, council: &CouncilConfig, is_default: bool) -> Value {
    let judge = member(&council.judge);
    json!({
        "name": name,
        "default": is_default,
        "parallel": council.parallel,
        "timeout_secs": council.timeout.as_secs_f64(),
        "quorum": council.quorum,
        "panel": council.panel.iter().map(member).collect::<Vec<_>>(),
        "synthesizer": council.synthesizer.as_ref().map(member).unwrap_or_else(|| judge.clone()),
        "judge": judge,
        "notes": council.notes,
    })
}

fn member(member: &MemberConfig) -> Value {
    json!({
        "model": member.model,
        "name": member.name.as_deref().unwrap_or(&member.model),
    })
}
