//! The routing server's settings as its MCP clients hand them over: the `.env` keys set in the
//! server process's environment (the `"env"` of an `mcpServers` entry). With no config file,
//! a Fusion started with one of the routing server's endpoint variables takes its providers
//! and thresholds from there, converted as `fusion config import` converts the file.

use super::dotenv::Assignment;
use super::{EnvImport, EnvImportError, MAPPED};

/// The variables that say "this is the routing server's environment": its model servers'
/// endpoints. (`OPENROUTER_API_KEY` alone does not: many users export it for other tools.)
pub const ROUTER_ENDPOINT_VARS: [&str; 3] = [
    "LM_STUDIO_ENDPOINT",
    "OLLAMA_ENDPOINT",
    "LLAMA_CPP_ENDPOINT",
];

/// The routing server's settings from `lookup` (the process environment), when one of
/// [`ROUTER_ENDPOINT_VARS`] is set and not empty; `None` otherwise. Only keys Fusion maps are
/// read; secrets are referenced by variable name, as in the file import.
pub fn import_router_process_env(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Option<Result<EnvImport, EnvImportError>> {
    let set = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
    if !ROUTER_ENDPOINT_VARS.iter().any(|key| set(key).is_some()) {
        return None;
    }
    let assignments: Vec<Assignment> = MAPPED
        .iter()
        .filter_map(|key| {
            set(key).map(|value| Assignment {
                line: 0,
                key: (*key).to_owned(),
                value,
            })
        })
        .collect();
    Some(super::convert(&assignments))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::{ProviderKind, Tier};

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| vars.get(key).cloned()
    }

    #[test]
    fn the_mcp_client_configs_env_becomes_providers_and_thresholds() {
        // The routing server's README: its MCP client config's `env`.
        let env = lookup(&[
            ("LM_STUDIO_ENDPOINT", "http://localhost:1234/v1"),
            ("OLLAMA_ENDPOINT", "http://localhost:11434/api"),
            ("DEFAULT_LOCAL_MODEL", "qwen2.5-coder-3b-instruct"),
            ("TOKEN_THRESHOLD", "1500"),
            ("COST_THRESHOLD", "0.02"),
            ("QUALITY_THRESHOLD", "0.07"),
            ("OPENROUTER_API_KEY", "sk-or-secret-value"),
            ("HOME", "/home/me"),
        ]);
        let imported = import_router_process_env(&env).unwrap().unwrap();
        let config = &imported.config;
        let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["lmstudio", "ollama", "openrouter"]);
        assert!(
            config
                .providers
                .iter()
                .all(|p| p.kind == ProviderKind::Openai)
        );
        assert_eq!(
            config.providers[1].base_url.as_deref(),
            Some("http://localhost:11434/v1")
        );
        assert_eq!(config.providers[0].tier, Tier::Local);
        assert_eq!(
            config.providers[2].api_key_env.as_deref(),
            Some("OPENROUTER_API_KEY")
        );
        assert!(!imported.toml.contains("sk-or-secret-value"));
        assert!(imported.unmapped.is_empty(), "{:?}", imported.unmapped);
        assert_eq!(
            config.models[0].upstream_name(),
            "qwen2.5-coder-3b-instruct"
        );
    }

    #[test]
    fn without_an_endpoint_variable_the_environment_is_not_the_routing_servers() {
        assert!(import_router_process_env(&lookup(&[("OPENROUTER_API_KEY", "k")])).is_none());
        assert!(import_router_process_env(&lookup(&[("OLLAMA_ENDPOINT", " ")])).is_none());
    }
}
