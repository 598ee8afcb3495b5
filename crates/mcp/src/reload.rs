//! `reload_config` (the name the routing server Fusion replaces uses; no arguments): reloads
//! Fusion's configuration file now, through the runtime every front door reads, and answers
//! what changed — providers, models, councils and child MCP servers added, removed or changed —
//! or why the file was rejected (the file, the dotted key, the reason; the running
//! configuration stays).

use rmcp::handler::server::common::schema_for_type;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::{Fusion, FusionMcp};

pub const NAME: &str = "reload_config";

/// `reload_config` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReloadInput {}

#[tool_router(router = reload_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        description = "Reload Fusion's configuration file now (it is also reloaded on SIGHUP \
         and when the file changes). Answers what changed — providers, models, councils, child \
         MCP servers — or, when the file is invalid, its path, the offending key and why; the \
         running configuration then stays as it was.",
        input_schema = schema_for_type::<ReloadInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn reload_config(&self, Parameters(_): Parameters<ReloadInput>) -> CallToolResult {
        reload(self.fusion()).await
    }
}

async fn reload(fusion: &Fusion) -> CallToolResult {
    match fusion.runtime().reload_because(NAME).await {
        Ok(report) => {
            let text = format!(
                "reloaded {} (generation {}): {}",
                report.file.display(),
                report.generation,
                report.summary()
            );
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = serde_json::to_value(&report).ok();
            result
        }
        Err(rejected) => {
            let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
                "the configuration was not reloaded; the running one stays: {rejected}"
            ))]);
            result.structured_content = Some(json!({
                "error": {
                    "class": "invalid_config",
                    "retryable": false,
                    "message": rejected.to_string(),
                    "file": rejected.file,
                    "key": rejected.key,
                    "reason": rejected.reason,
                }
            }));
            result
        }
    }
}
