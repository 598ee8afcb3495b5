//! The routing server's OpenRouter tools over Fusion's catalogs and free models, and the
//! catalog resources: `get_free_models` (every model that costs nothing, with its context
//! window and state), `clear_openrouter_tracking` (forget every synced catalog and fetch it
//! again now), `fusion://catalog` (every synced catalog model), `fusion://catalog/free` (what
//! `get_free_models` answers) and `fusion://catalog/status` (each catalog provider's syncs).

use std::collections::HashMap;

use fusion_core::providers::{CatalogRefetch, FreeModel, ModelSource, rfc3339};
use rmcp::handler::server::common::schema_for_type;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Fusion, FusionMcp, failure};

pub const FREE_MODELS: &str = "get_free_models";
/// The class of a refetch where no catalog provider answered.
const NO_CATALOG_ANSWERED: &str = "catalog_unreachable";

/// Which free models to list.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreeModelsInput {
    /// Only this provider's models (a configured provider's name, e.g. `openrouter`).
    #[serde(default)]
    pub provider: Option<String>,
}

/// `clear_openrouter_tracking` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearInput {}

#[tool_router(router = free_models_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "List free models",
        description = "List every model that costs nothing to call through Fusion: local \
         models, zero-priced models of synced catalogs (OpenRouter's `:free` ones) and \
         configured free ones. Each has its Fusion id (pass it as `model`), provider, upstream \
         name, context window, state (healthy, cooling_down after a 429 or used-up daily cap \
         or failures in a row, unhealthy, unknown) and source (catalog, config, discovered). \
         `provider` keeps one provider's models.",
        input_schema = crate::own_tools::input_schema::<FreeModelsInput>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_free_models(
        &self,
        Parameters(input): Parameters<FreeModelsInput>,
    ) -> CallToolResult {
        let registry = self.fusion().registry();
        if let Some(wanted) = &input.provider {
            let known = registry.provider_names();
            if !known.contains(wanted) {
                return failure::invalid_arguments(
                    FREE_MODELS,
                    format!(
                        "no provider named `{wanted}`; configured providers: {}",
                        names(&known)
                    ),
                );
            }
        }
        match free_models(self.fusion(), input.provider.as_deref()).await {
            Ok(body) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(free_text(
                    &body,
                    input.provider.as_deref(),
                ))]);
                result.structured_content = Some(body);
                result
            }
            Err(err) => failure::from_core(&err),
        }
    }
}

#[tool_router(router = catalog_tracking_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "Fetch the catalogs again",
        description = "Forget what Fusion tracks of every provider catalog (OpenRouter-style \
         `/models` listings with prices: `catalog = true`, detected, or synced with `fusion \
         models sync`) — the stored catalog models, and their cooldowns and circuit state — \
         and fetch each catalog again now. Answers, per provider, how many models were \
         cleared and how many were fetched (and free), or why the fetch failed; a provider \
         that cannot be reached is tried again at the next health check. Daily caps a \
         provider stated are kept. Fails only when no catalog could be fetched.",
        input_schema = schema_for_type::<ClearInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn clear_openrouter_tracking(
        &self,
        Parameters(_): Parameters<ClearInput>,
    ) -> CallToolResult {
        let refetched = match self.fusion().registry().refetch_catalogs().await {
            Ok(refetched) => refetched,
            Err(err) => return failure::from_core(&err),
        };
        refetch_answer(&refetched)
    }
}

fn names(known: &[String]) -> String {
    if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    }
}

/// The free models now (`provider`'s only, when given) as `{models, count, synced_at}`. The
/// store's catalog rows are taken in first, so a sync by another Fusion process is seen.
pub async fn free_models(
    fusion: &Fusion,
    provider: Option<&str>,
) -> Result<Value, fusion_core::Error> {
    let registry = fusion.registry();
    if let Some(store) = fusion.store() {
        registry.add_synced(&store.synced_models().await?);
    }
    let models: Vec<FreeModel> = registry
        .free_models()
        .into_iter()
        .filter(|m| provider.is_none_or(|p| m.provider == p))
        .collect();
    Ok(json!({
        "count": models.len(),
        "synced_at": registry.catalog_synced_ms().and_then(rfc3339),
        "models": models,
    }))
}

/// One line per model: `id (ctx N, state, source)`.
fn free_text(body: &Value, provider: Option<&str>) -> String {
    let models = body["models"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let of = provider.map(|p| format!(" of `{p}`")).unwrap_or_default();
    if models.is_empty() {
        return format!(
            "no free models{of}: configure a local model server or a provider with a catalog \
             (see fusion://catalog/status)"
        );
    }
    let mut text = format!("{} free models{of}:", models.len());
    for model in models {
        let context = match model["context_window"].as_u64() {
            Some(tokens) => format!("ctx {tokens}"),
            None => "ctx unknown".to_owned(),
        };
        text.push_str(&format!(
            "\n{} ({context}, {}, {})",
            model["id"].as_str().unwrap_or_default(),
            model["state"].as_str().unwrap_or_default(),
            model["source"].as_str().unwrap_or_default(),
        ));
    }
    text
}

/// The refetch as a tool answer: an error only when every catalog failed.
fn refetch_answer(refetched: &[CatalogRefetch]) -> CallToolResult {
    let sum = |f: fn(&CatalogRefetch) -> usize| refetched.iter().map(f).sum::<usize>();
    let body = json!({
        "providers": refetched,
        "cleared": sum(|r| r.cleared),
        "fetched": sum(|r| r.fetched.unwrap_or(0)),
        "free": sum(|r| r.free.unwrap_or(0)),
    });
    if refetched.is_empty() {
        let mut result = CallToolResult::success(vec![ContentBlock::text(
            "no provider has a catalog to fetch: set `catalog = true` on an OpenRouter-style \
             provider, or sync one with `fusion models sync NAME`",
        )]);
        result.structured_content = Some(body);
        return result;
    }
    let lines: Vec<String> = refetched
        .iter()
        .map(|r| match (&r.error, r.fetched) {
            (Some(error), _) => format!(
                "{}: cleared {}, fetch failed: {error}",
                r.provider, r.cleared
            ),
            (None, fetched) => format!(
                "{}: cleared {}, fetched {} ({} free)",
                r.provider,
                r.cleared,
                fetched.unwrap_or(0),
                r.free.unwrap_or(0)
            ),
        })
        .collect();
    let text = lines.join("\n");
    if refetched.iter().all(|r| r.error.is_some()) {
        let mut result = failure::failed(
            NO_CATALOG_ANSWERED,
            true,
            format!("no catalog could be fetched; the next health check tries again:\n{text}"),
        );
        if let Some(Value::Object(structured)) = result.structured_content.as_mut() {
            structured.insert("providers".to_owned(), body["providers"].clone());
        }
        return result;
    }
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(body);
    result
}

/// `fusion://catalog`: every synced catalog model with its Fusion id (null when its provider
/// is no longer configured).
pub async fn catalog(fusion: &Fusion) -> Result<Value, ErrorData> {
    let Some(store) = fusion.store() else {
        return Err(ErrorData::internal_error(
            "this Fusion runs without a store: no catalog is synced",
            None,
        ));
    };
    let rows = store
        .synced_models()
        .await
        .map_err(|e| ErrorData::internal_error(e.for_client().message, None))?;
    let registry = fusion.registry();
    // The id a call uses: a configured model's when one serves it, else `provider/model`.
    let mut ids: HashMap<(String, String), (bool, String)> = HashMap::new();
    for entry in registry.models() {
        let configured = entry.source == ModelSource::Config;
        let key = (entry.provider.clone(), entry.upstream_model.clone());
        let better = ids.get(&key).is_none_or(|(was, _)| configured && !was);
        if better {
            ids.insert(key, (configured, entry.id));
        }
    }
    let models: Vec<Value> = rows
        .iter()
        .map(|row| {
            let id = ids
                .get(&(row.provider.clone(), row.model.clone()))
                .map(|(_, id)| id.clone());
            json!({
                "id": id,
                "provider": row.provider,
                "model": row.model,
                "context_window": row.context_window,
                "input_per_mtok": row.input_per_mtok,
                "output_per_mtok": row.output_per_mtok,
                "free": row.free,
                "synced_at": rfc3339(row.synced_at_ms),
            })
        })
        .collect();
    Ok(json!({ "count": models.len(), "models": models }))
}

/// `fusion://catalog/status`: each catalog provider's last sync, models, last error and next
/// refresh.
pub async fn status(fusion: &Fusion) -> Result<Value, ErrorData> {
    let rows = match fusion.store() {
        Some(store) => store
            .synced_models()
            .await
            .map_err(|e| ErrorData::internal_error(e.for_client().message, None))?,
        None => Vec::new(),
    };
    let registry = fusion.registry();
    Ok(json!({
        "providers": registry.catalog_status(&rows),
        "synced_at": registry.catalog_synced_ms().and_then(rfc3339),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_lists_each_free_model_on_a_line_and_says_when_there_is_none() {
        let body = json!({"models": [
            {"id": "coder", "context_window": 32768, "state": "healthy", "source": "config"},
            {"id": "or/x:free", "context_window": null, "state": "cooling_down", "source": "catalog"}
        ]});
        assert_eq!(
            free_text(&body, None),
            "2 free models:\ncoder (ctx 32768, healthy, config)\nor/x:free (ctx unknown, \
             cooling_down, catalog)"
        );
        assert!(
            free_text(&json!({"models": []}), Some("or")).starts_with("no free models of `or`")
        );
    }

    #[test]
    fn a_refetch_fails_only_when_every_catalog_failed() {
        let entry = |provider: &str, error: Option<&str>| CatalogRefetch {
            provider: provider.into(),
            cleared: 2,
            fetched: error.is_none().then_some(3),
            free: error.is_none().then_some(1),
            unpriced: error.is_none().then_some(0),
            error: error.map(str::to_owned),
        };
        let mixed = refetch_answer(&[entry("a", None), entry("b", Some("refused"))]);
        assert_eq!(mixed.is_error, Some(false));
        let body = mixed.structured_content.unwrap();
        assert_eq!(
            (body["cleared"].clone(), body["fetched"].clone()),
            (json!(4), json!(3))
        );
        let failed = refetch_answer(&[entry("b", Some("refused"))]);
        assert_eq!(failed.is_error, Some(true));
        let structured = failed.structured_content.unwrap();
        assert_eq!(structured["error"]["class"], NO_CATALOG_ANSWERED);
        assert_eq!(structured["providers"][0]["error"], "refused");
        assert_eq!(refetch_answer(&[]).is_error, Some(false));
    }
}
