//! The code-search tools' typed inputs (their JSON Schemas are derived from these), with the
//! argument names of the server Fusion replaces accepted as aliases.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::Deserializer;

/// BM25 parameters (each optional).
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bm25Input {
    /// Term-frequency saturation, 0 to 100 (default 1.2).
    #[serde(default)]
    pub k1: Option<f32>,
    /// Length normalization, 0 to 1 (default 0.75).
    #[serde(default)]
    pub b: Option<f32>,
}

/// What `code_index` takes. Settings not given keep the index's previous values.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeIndexInput {
    /// Directories to index, one index each (also accepted as `directories`, or one `root`).
    #[serde(
        default,
        alias = "directories",
        alias = "root",
        deserialize_with = "one_or_many"
    )]
    pub paths: Vec<String>,
    /// Gitignore-style globs, relative to each directory, to leave out (also accepted as
    /// `exclude_patterns`); given, they replace the index's previous list.
    #[serde(default, alias = "exclude_patterns")]
    pub exclude: Option<Vec<String>>,
    /// Lines per chunk (default 60; also accepted as `chunk_size`).
    #[serde(default, alias = "chunk_size")]
    pub chunk_lines: Option<usize>,
    /// Lines shared by consecutive chunks (default 10).
    #[serde(default)]
    pub overlap: Option<usize>,
    /// Files larger than this many bytes are skipped (default 1048576).
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
    /// Rebuild from scratch (also accepted as `force_reindex`).
    #[serde(default, alias = "force_reindex")]
    pub force: bool,
    /// BM25 parameters kept with the index for its searches.
    #[serde(default, alias = "bm25")]
    pub bm25_options: Option<Bm25Input>,
    /// Accepted for compatibility and ignored (nothing needs installing).
    #[serde(default)]
    #[schemars(skip)]
    #[serde(rename = "install_dependencies")]
    pub _install_dependencies: Option<bool>,
}

/// What `code_search` takes.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeSearchInput {
    /// What to look for: identifiers in any naming style (`parseConfig` also finds
    /// `parse_config`), or words.
    pub query: String,
    /// Most hits (default 10, at most 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The indexed directory (or a subdirectory of one) to search. Default: the directories
    /// this server indexed, else the indexed one enclosing the server's working directory.
    #[serde(default)]
    pub root: Option<String>,
    /// Several indexed directories to search together (also accepted as `directories`).
    #[serde(default, alias = "directories", deserialize_with = "one_or_many")]
    pub paths: Vec<String>,
    /// Only paths matching this glob (`src/**/*.rs`; without `/` also file names: `*.py`), or
    /// a directory or file path (`crates/mcp`).
    #[serde(default)]
    pub path: Option<String>,
    /// Only this language (`rust`, `python`, `typescript`, ... or an extension: `rs`, `py`).
    #[serde(default, alias = "language")]
    pub lang: Option<String>,
    /// BM25 parameters for this search instead of the index's.
    #[serde(default, alias = "bm25")]
    pub bm25_options: Option<Bm25Input>,
}

/// A string or a list of strings.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

#[cfg(test)]
mod tests {
    use rmcp::model::JsonObject;
    use serde_json::json;

    use super::*;
    use crate::code::{INDEX, INDEX_ALIAS, SEARCH, SEARCH_ALIAS};

    fn args(value: serde_json::Value) -> Option<JsonObject> {
        value.as_object().cloned()
    }

    /// The SDK's parse of a call's arguments.
    fn parse<T: serde::de::DeserializeOwned>(
        _tool: &str,
        arguments: Option<JsonObject>,
    ) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::Object(arguments.unwrap_or_default()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_replaced_servers_argument_names_are_accepted() {
        let input: CodeIndexInput = parse(
            INDEX_ALIAS,
            args(json!({
                "directories": ["/a", "/b"],
                "exclude_patterns": ["*.min.js"],
                "chunk_size": 40,
                "force_reindex": true,
                "bm25_options": {"k1": 1.5, "b": 0.5},
                "install_dependencies": false
            })),
        )
        .unwrap();
        assert_eq!(input.paths, ["/a", "/b"]);
        assert_eq!(input.exclude.unwrap(), ["*.min.js"]);
        assert_eq!(input.chunk_lines, Some(40));
        assert!(input.force);
        assert_eq!(input.bm25_options.unwrap().k1, Some(1.5));
        let one: CodeIndexInput = parse(INDEX, args(json!({"root": "/a"}))).unwrap();
        assert_eq!(one.paths, ["/a"]);
        let search: CodeSearchInput =
            parse(SEARCH_ALIAS, args(json!({"query": "x", "limit": 3}))).unwrap();
        assert_eq!(search.limit, Some(3));
    }

    #[test]
    fn unknown_arguments_are_refused_naming_them() {
        let err =
            parse::<CodeSearchInput>(SEARCH, args(json!({"query": "x", "top_k": 3}))).unwrap_err();
        assert!(err.contains("top_k"), "{err}");
        let err = parse::<CodeIndexInput>(
            INDEX,
            args(json!({"paths": ["/a"], "bm25_options": {"k": 1}})),
        )
        .unwrap_err();
        assert!(err.contains('k'), "{err}");
    }
}
