//! Which of the hub's tools `fusion_do` shows a model: the catalog search's best matches for
//! the request (at most `k`, optionally of some servers only), as OpenAI `tools` definitions;
//! and whether one may run without `allow_destructive` (annotated read-only and not
//! destructive). The catalog holds only what the hub's allow/deny lists let through, so a
//! hidden tool is never offered.

use rmcp::model::Tool;
use serde_json::{Value, json};

use crate::hub::Hub;

/// Most tool definitions a model is shown.
pub const MAX_OFFERED: usize = 8;
/// How many search hits are looked at when only some servers' tools are wanted.
const SEARCH_POOL: usize = 256;
/// Longest tool description passed to the model, in bytes.
const DESCRIPTION_BYTES: usize = 1024;

/// The tools for `request`: the search's best `k`, kept to `servers` when given. When the
/// search matches nothing: the first `k` tools of the named `servers`, or every tool when the
/// whole catalog has at most `k`.
pub fn candidates(
    hub: &Hub,
    request: &str,
    servers: Option<&[String]>,
    k: usize,
) -> Result<Vec<Tool>, String> {
    let catalog = hub.catalog();
    let index = hub.tool_index(&catalog)?;
    let wanted = |server: &str| servers.is_none_or(|s| s.iter().any(|w| w == server));
    let pool = if servers.is_some() { SEARCH_POOL } else { k };
    let hits = index
        .search(request, pool)
        .map_err(|e| format!("tool search failed: {e}"))?;
    let mut found: Vec<Tool> = hits
        .iter()
        .filter_map(|hit| catalog.tool(&hit.name))
        .filter(|(target, _)| wanted(&target.server))
        .map(|(_, tool)| tool.clone())
        .take(k)
        .collect();
    if found.is_empty() {
        let kept: Vec<&Tool> = catalog
            .tools()
            .filter(|(target, _)| wanted(&target.server))
            .map(|(_, tool)| tool)
            .collect();
        if servers.is_some() || kept.len() <= k {
            found = kept.into_iter().take(k).cloned().collect();
        }
    }
    Ok(found)
}

/// OpenAI `tools` definitions of `tools`.
pub fn definitions(tools: &[Tool]) -> Value {
    let definitions: Vec<Value> = tools
        .iter()
        .map(|tool| {
            let description = tool.description.as_deref().unwrap_or_default();
            json!({
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": super::trace::excerpt(description, DESCRIPTION_BYTES),
                    "parameters": Value::Object((*tool.input_schema).clone()),
                }
            })
        })
        .collect();
    Value::Array(definitions)
}

/// Why `tool` may not run without `allow_destructive`, if it may not: it is annotated
/// destructive, or not annotated read-only.
pub fn needs_permission(tool: &Tool) -> Option<String> {
    let annotations = tool.annotations.as_ref();
    let read_only = annotations.and_then(|a| a.read_only_hint) == Some(true);
    let destructive = annotations.and_then(|a| a.destructive_hint) == Some(true);
    let why = if destructive {
        "it is annotated destructive"
    } else if read_only {
        return None;
    } else if annotations.is_none() {
        "it has no annotations, so it is not known to be read-only"
    } else {
        "it is not annotated read-only"
    };
    Some(format!(
        "`{}` was not run: {why}; pass `allow_destructive: true` to let such tools run",
        tool.name
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rmcp::model::ToolAnnotations;

    use super::*;

    fn tool(annotations: Option<ToolAnnotations>) -> Tool {
        let mut tool = Tool::new("s__t", "a tool", Arc::new(serde_json::Map::new()));
        tool.annotations = annotations;
        tool
    }

    fn hints(read_only: Option<bool>, destructive: Option<bool>) -> Option<ToolAnnotations> {
        let mut annotations = ToolAnnotations::default();
        annotations.read_only_hint = read_only;
        annotations.destructive_hint = destructive;
        Some(annotations)
    }

    #[test]
    fn only_a_read_only_tool_not_marked_destructive_runs_without_permission() {
        assert_eq!(
            needs_permission(&tool(hints(Some(true), Some(false)))),
            None
        );
        assert_eq!(needs_permission(&tool(hints(Some(true), None))), None);
        let destructive = needs_permission(&tool(hints(Some(true), Some(true)))).unwrap();
        assert!(
            destructive.contains("annotated destructive"),
            "{destructive}"
        );
        let writes = needs_permission(&tool(hints(Some(false), Some(false)))).unwrap();
        assert!(writes.contains("not annotated read-only"), "{writes}");
        let bare = needs_permission(&tool(None)).unwrap();
        assert!(
            bare.contains("no annotations") && bare.contains("allow_destructive"),
            "{bare}"
        );
    }

    #[test]
    fn definitions_are_openai_functions_with_the_input_schema() {
        let defs = definitions(&[tool(None)]);
        assert_eq!(defs[0]["type"], "function");
        assert_eq!(defs[0]["function"]["name"], "s__t");
        assert_eq!(defs[0]["function"]["parameters"], json!({}));
    }
}
