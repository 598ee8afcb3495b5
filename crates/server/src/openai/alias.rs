//! The model name a client sent, mapped through `[aliases]` before any front door dispatches
//! it: agents send their own ids (`claude-opus-4-8`, `gpt-5-codex`). A name Fusion knows (a
//! model, `fusion/<council>`, `router/*`) is never aliased; an unknown name no alias covers is
//! a 404 that names the fix.

use fusion_core::config::aliases;

use super::{COUNCIL_PREFIX, DEFAULT_COUNCIL_IDS, routed::ROUTER_PREFIX};
use crate::{ApiError, AppState};

/// The Fusion id to answer `model` with.
pub(crate) fn resolve(state: &AppState, model: &str) -> Result<String, ApiError> {
    if is_fusion_id(model) {
        return Ok(model.to_owned());
    }
    let registry = state.registry();
    if registry.has_model(model) {
        return Ok(model.to_owned());
    }
    let config = state.config();
    if let Some(target) = aliases::resolve(&config.aliases, model) {
        return Ok(target.to_owned());
    }
    let mut known: Vec<String> = registry.models().into_iter().map(|m| m.id).collect();
    known.truncate(20);
    Err(ApiError::unknown_model(format!(
        "unknown model `{model}`; configured models: {}. To answer a client's own model names, \
         map them in fusion.toml, e.g. [aliases] \"{}\" = \"router/auto\" (or a model id, or \
         fusion/<council>)",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        },
        suggested_pattern(model),
    )))
}

/// Names that are Fusion's own: councils and the router.
fn is_fusion_id(model: &str) -> bool {
    DEFAULT_COUNCIL_IDS.contains(&model)
        || model.starts_with(COUNCIL_PREFIX)
        || model.starts_with(ROUTER_PREFIX)
}

/// `claude-opus-4-8` → `claude-*`: the name's first word and a star.
fn suggested_pattern(model: &str) -> String {
    match model.split_once(['-', '/', ':', '.']) {
        Some((head, _)) if !head.is_empty() => format!("{head}-*"),
        _ => model.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::suggested_pattern;

    #[test]
    fn the_suggested_pattern_keeps_the_family_name() {
        assert_eq!(suggested_pattern("claude-opus-4-8"), "claude-*");
        assert_eq!(suggested_pattern("gpt-5-codex"), "gpt-*");
        assert_eq!(suggested_pattern("mystery"), "mystery");
    }
}
