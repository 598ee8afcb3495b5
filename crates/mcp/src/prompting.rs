//! `set_model_prompting_strategy` (the routing server's name and arguments, camelCase too):
//! stores how one model is prompted — applied by the provider registry to every call of that
//! model from then on, whoever makes it — and the resource template
//! `fusion://models/{id}/prompting` that reads it back.

use fusion_core::prompting::{MAX_TEMPLATE_BYTES, PromptingStrategy};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ResourceTemplate};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Fusion, FusionMcp, failure};

pub const NAME: &str = "set_model_prompting_strategy";
pub const TEMPLATE: &str = "fusion://models/{id}/prompting";
const PREFIX: &str = "fusion://models/";
const SUFFIX: &str = "/prompting";
const JSON: &str = "application/json";

/// How to prompt one model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyInput {
    /// The model: Fusion's id (see `/v1/models` or fusion://catalog), or the upstream name of
    /// exactly one model (`meta-llama/llama-3.3-70b-instruct:free`).
    #[serde(alias = "modelId")]
    pub model_id: String,
    /// Put before the request's own system message, or sent as the system message when it has
    /// none; empty: none.
    #[serde(alias = "systemPrompt")]
    pub system_prompt: String,
    /// The last user message becomes this text with `{prompt}` (or `{{prompt}}`, `{task}`,
    /// `{{task}}`) replaced by the message; without a placeholder the message follows it
    /// after a blank line; empty or `{prompt}` alone: the message as sent.
    #[serde(alias = "userPrompt")]
    pub user_prompt: String,
    /// `false`: send the whole conversation as one user message.
    #[serde(alias = "useChat")]
    pub use_chat: bool,
    /// The start of the model's reply (a last assistant message; the end of the one message).
    #[serde(default, alias = "assistantPrompt")]
    pub assistant_prompt: Option<String>,
    /// How often the strategy worked, 0 to 1 (kept and shown, not used by routing).
    #[serde(default, alias = "successRate")]
    pub success_rate: Option<f64>,
    /// The quality of answers under it, 0 to 1 (kept and shown, not used by routing).
    #[serde(default, alias = "qualityScore")]
    pub quality_score: Option<f64>,
}

#[tool_router(router = prompting_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "Set a model's prompting strategy",
        description = "Set how one model is prompted; every call of it through Fusion from \
         then on (fusion_ask, route_task, /v1/chat/completions, councils, loops) is rewritten \
         so: `system_prompt` goes first in the system message (before the caller's own system \
         text, or as the system message when there is none); `user_prompt` is a template for \
         the last user message — `{prompt}` (also `{{prompt}}`, `{task}`, `{{task}}`) is \
         replaced by the message, and without a placeholder the message follows the template \
         after a blank line; `use_chat: false` sends the whole conversation as one user \
         message (system text, earlier turns as `User:`/`Assistant:` lines, then the \
         templated message) unless it carries tools or images; `assistant_prompt` starts the \
         model's reply (a last assistant message, or the end of the one message). \
         `success_rate` and `quality_score` (0 to 1) are kept and shown. Each text is at most \
         64 KiB. Kept in Fusion's store across restarts; it wins over the model's \
         `[prompting.\"MODEL\"]` table in fusion.toml. Read it back at \
         fusion://models/{id}/prompting.",
        input_schema = crate::own_tools::input_schema::<StrategyInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn set_model_prompting_strategy(
        &self,
        Parameters(input): Parameters<StrategyInput>,
    ) -> CallToolResult {
        set(self.fusion(), input).await
    }
}

async fn set(fusion: &Fusion, input: StrategyInput) -> CallToolResult {
    let wanted = input.model_id.trim();
    if wanted.is_empty() {
        return failure::invalid_arguments(NAME, "`model_id` is empty");
    }
    let strategy = PromptingStrategy {
        system_prompt: input.system_prompt,
        user_prompt: input.user_prompt,
        use_chat: input.use_chat,
        assistant_prompt: input.assistant_prompt,
        success_rate: input.success_rate,
        quality_score: input.quality_score,
    };
    if let Err((field, problem)) = strategy.check() {
        return failure::invalid_arguments(NAME, format!("`{field}` {problem}"));
    }
    let registry = fusion.registry();
    let id = match registry.model_named(wanted) {
        Ok(id) => id,
        Err(problem) => return failure::invalid_arguments(NAME, problem),
    };
    let Some(store) = fusion.store() else {
        return failure::failed(
            "no_store",
            false,
            "this Fusion runs without a store: a prompting strategy cannot be kept",
        );
    };
    match registry.set_prompting_strategy(store, &id, strategy).await {
        Ok(set) => {
            let mut body = serde_json::to_value(&set).unwrap_or(Value::Null);
            body["resource"] = json!(uri_of(&id));
            let mode = if set.strategy.use_chat {
                "as a chat"
            } else {
                "as one message"
            };
            let text = format!(
                "calls of `{id}` are now prompted by this strategy ({mode}); read it at {}",
                uri_of(&id)
            );
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(body);
            result
        }
        Err(err) => failure::from_core(&err),
    }
}

/// The resource of model `id`'s strategy (the id percent-encoded where a URI needs it).
fn uri_of(id: &str) -> String {
    let mut encoded = String::with_capacity(id.len());
    for byte in id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' => {
                encoded.push(char::from(byte));
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    format!("{PREFIX}{encoded}{SUFFIX}")
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TEMPLATE, "model-prompting")
            .with_title("A model's prompting strategy")
            .with_description(format!(
                "The prompting strategy applied to every call of model {{id}} (set with \
                 {NAME} or a `[prompting.\"MODEL\"]` table in fusion.toml), where it comes \
                 from, and the configured one a stored one overrides; null when it has none. \
                 Texts are at most {MAX_TEMPLATE_BYTES} bytes."
            ))
            .with_mime_type(JSON),
    ]
}

/// The model id in a `fusion://models/{id}/prompting` URI (percent-decoded), if it is one.
pub fn model_in(uri: &str) -> Option<String> {
    let id = uri.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let id = percent_decode(id)?;
    (!id.is_empty()).then_some(id)
}

/// `%XX` sequences decoded; `None` when one is malformed or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `fusion://models/{id}/prompting`: the strategy in force, or null; an unknown model is not
/// found.
pub fn read(fusion: &Fusion, uri: &str) -> Result<Value, ErrorData> {
    let not_found = |why: String| ErrorData::resource_not_found(why, Some(json!({ "uri": uri })));
    let wanted = model_in(uri).ok_or_else(|| not_found(format!("no resource `{uri}`")))?;
    let registry = fusion.registry();
    let id = registry.model_named(&wanted).map_err(not_found)?;
    Ok(match registry.prompting_strategy(&id) {
        Some(set) => serde_json::to_value(&set)
            .map_err(|e| ErrorData::internal_error(format!("cannot encode {uri}: {e}"), None))?,
        None => json!({ "model": id, "source": null, "strategy": null }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_takes_the_replaced_servers_camel_case_names_and_requires_the_model() {
        let input: StrategyInput = serde_json::from_value(json!({
            "modelId": "m", "systemPrompt": "s", "userPrompt": "u {prompt}", "useChat": false,
            "assistantPrompt": "a", "successRate": 0.5, "qualityScore": 0.9
        }))
        .unwrap();
        assert_eq!(input.model_id, "m");
        assert!(!input.use_chat);
        assert_eq!(input.quality_score, Some(0.9));
        let err = serde_json::from_value::<StrategyInput>(
            json!({"system_prompt": "", "user_prompt": "", "use_chat": true}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("model_id"), "{err}");
        let err = serde_json::from_value::<StrategyInput>(
            json!({"model_id": "m", "system_prompt": "", "user_prompt": "", "use_chat": "yes"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }

    #[test]
    fn model_ids_with_slashes_and_colons_round_trip_through_the_uri() {
        let id = "openrouter/meta-llama/llama-3.3:free";
        assert_eq!(model_in(&uri_of(id)).as_deref(), Some(id));
        let encoded = "fusion://models/openrouter%2Fmeta-llama%2Fllama-3.3%3Afree/prompting";
        assert_eq!(model_in(encoded).as_deref(), Some(id));
        assert_eq!(uri_of("a b"), "fusion://models/a%20b/prompting");
        assert_eq!(model_in("fusion://models//prompting"), None);
        assert_eq!(model_in("fusion://models/x%zz/prompting"), None);
        assert_eq!(model_in("fusion://models/x"), None);
    }
}
