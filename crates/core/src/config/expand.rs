//! `${ENV}` expansion over every string of a parsed TOML document, and the dotted key paths
//! (`providers[0].headers.Authorization`) that config errors use to name a value.
//!
//! Syntax: `${NAME}` is the variable's value (an error when unset), `${NAME:-default}` falls back
//! to `default` when the variable is unset or empty, and `$${` is a literal `${`. A `$` not
//! followed by `{` is left alone.

use std::collections::BTreeMap;
use std::path::Path;

use super::ConfigError;

/// Looks an environment variable up; injected so tests need not touch the process environment.
pub(super) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as an [`EnvLookup`]; variables that are not valid UTF-8 count as unset.
pub(super) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Where each value that came from `${...}` expansion sits (dotted key, as in config errors)
/// and its text as written in the file, so that showing the config can show the reference
/// instead of the variable's value.
pub type EnvSourced = BTreeMap<String, String>;

/// What expansion put into a config: which values came from references, and the text each
/// had in the file (so that errors can quote the file instead of a variable's value).
#[derive(Debug, Default)]
pub(super) struct Expansion {
    pub sourced: EnvSourced,
    /// `(expanded value, text as written)` of every value that came from references.
    shown_as: Vec<(String, String)>,
}

impl Expansion {
    /// `err` with every expanded value it quotes replaced by the text written in the file: a
    /// wrong type or an invalid URL must not print a variable's value. Values shorter than 4
    /// characters are left (they hide nothing and would mangle the message).
    pub fn redact(&self, mut err: ConfigError) -> ConfigError {
        let mut pairs: Vec<&(String, String)> = self
            .shown_as
            .iter()
            .filter(|(value, _)| value.chars().count() >= 4)
            .collect();
        pairs.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        for (value, written) in pairs {
            if err.reason.contains(value.as_str()) {
                err.reason = err.reason.replace(value.as_str(), written);
            }
        }
        err
    }
}

/// Replaces `${...}` references in every string value of `value`, in place, and says which
/// values held at least one reference.
pub(super) fn expand_env(
    value: &mut toml::Value,
    env: EnvLookup<'_>,
    file: &Path,
) -> Result<Expansion, ConfigError> {
    let mut expansion = Expansion::default();
    walk(value, String::new(), env, &mut expansion).map_err(|(key, reason)| {
        let key = if key.is_empty() { "-".to_owned() } else { key };
        ConfigError::new(file, key, reason)
    })?;
    Ok(expansion)
}

fn walk(
    value: &mut toml::Value,
    path: String,
    env: EnvLookup<'_>,
    expansion: &mut Expansion,
) -> Result<(), (String, String)> {
    match value {
        toml::Value::String(text) => {
            if !text.contains('$') {
                return Ok(());
            }
            let pieces = pieces(text).map_err(|reason| (path.clone(), reason))?;
            let mut expanded = String::with_capacity(text.len());
            let mut references = 0;
            for piece in pieces {
                match piece {
                    Piece::Text(literal) => expanded.push_str(&literal),
                    Piece::Reference(reference) => {
                        references += 1;
                        let resolved = resolve(reference, env).map_err(|r| (path.clone(), r))?;
                        expanded.push_str(&resolved);
                    }
                }
            }
            let written = std::mem::replace(text, expanded.clone());
            if references > 0 {
                expansion.shown_as.push((expanded, written.clone()));
                expansion.sourced.insert(path, written);
            }
            Ok(())
        }
        toml::Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(i, item)| walk(item, index_key(&path, i), env, expansion)),
        toml::Value::Table(table) => table
            .iter_mut()
            .try_for_each(|(key, item)| walk(item, child_key(&path, key), env, expansion)),
        toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_)
        | toml::Value::Datetime(_) => Ok(()),
    }
}

/// One part of a config string: literal text (with `$${` already turned into `${`) or the
/// inside of a `${...}` reference.
#[derive(Debug, PartialEq)]
pub(super) enum Piece<'a> {
    Text(String),
    Reference(&'a str),
}

/// Splits a config string into literal text and `${...}` references.
pub(super) fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        literal.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(tail) = after.strip_prefix("$${") {
            literal.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(close) = tail.find('}') else {
                return Err(format!(
                    "unterminated `${{` in `{text}` (write `$${{` for a literal `${{`)"
                ));
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Reference(&tail[..close]));
            rest = &tail[close + 1..];
        } else {
            literal.push('$');
            rest = &after[1..];
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// Resolves the inside of one `${...}`: `NAME` or `NAME:-default`.
fn resolve(reference: &str, env: EnvLookup<'_>) -> Result<String, String> {
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    if !is_env_name(name) {
        return Err(format!(
            "`${{{reference}}}` is not a valid reference; write `${{NAME}}` or `${{NAME:-default}}` \
             (or `$${{` for a literal `${{`)"
        ));
    }
    match (env(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(format!("environment variable {name} is not set")),
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `parent.key`, quoting `key` when it is not a bare TOML key (`headers."x.y"`).
pub(super) fn child_key(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(super) fn index_key(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FUSION_TEST_TOKEN" => Some("s3cret".into()),
            "FUSION_TEST_EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn expand(text: &str) -> Result<String, String> {
        let mut value = toml::Value::String(text.to_owned());
        walk(&mut value, String::new(), &env, &mut Expansion::default()).map_err(|(_, r)| r)?;
        Ok(value.as_str().unwrap().to_owned())
    }

    #[test]
    fn references_are_replaced_by_the_variable_value() {
        assert_eq!(
            expand("Bearer ${FUSION_TEST_TOKEN}").unwrap(),
            "Bearer s3cret"
        );
        assert_eq!(
            expand("${FUSION_TEST_TOKEN}${FUSION_TEST_TOKEN}").unwrap(),
            "s3crets3cret"
        );
    }

    #[test]
    fn default_applies_when_unset_or_empty_but_not_when_set() {
        assert_eq!(
            expand("${FUSION_TEST_UNSET:-fallback}").unwrap(),
            "fallback"
        );
        assert_eq!(
            expand("${FUSION_TEST_EMPTY:-fallback}").unwrap(),
            "fallback"
        );
        assert_eq!(expand("${FUSION_TEST_TOKEN:-fallback}").unwrap(), "s3cret");
        assert_eq!(expand("${FUSION_TEST_UNSET:-}").unwrap(), "");
    }

    #[test]
    fn double_dollar_is_a_literal_reference_and_lone_dollars_stay() {
        assert_eq!(
            expand("$${FUSION_TEST_TOKEN}").unwrap(),
            "${FUSION_TEST_TOKEN}"
        );
        assert_eq!(expand("costs $5 or $HOME").unwrap(), "costs $5 or $HOME");
    }

    #[test]
    fn unset_variable_without_default_is_an_error_naming_it() {
        let err = expand("x ${FUSION_TEST_UNSET} y").unwrap_err();
        assert_eq!(err, "environment variable FUSION_TEST_UNSET is not set");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(
            expand("${FUSION_TEST_TOKEN")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            expand("${1BAD}")
                .unwrap_err()
                .contains("not a valid reference")
        );
        assert!(expand("${}").unwrap_err().contains("not a valid reference"));
    }

    #[test]
    fn error_key_is_the_dotted_path_of_the_value() {
        let mut value: toml::Value = toml::from_str(
            "[[providers]]\nname = \"a\"\n[[providers]]\nname = \"b\"\n\
             headers = { Authorization = \"Bearer ${FUSION_TEST_UNSET}\" }\n",
        )
        .unwrap();
        let err = expand_env(&mut value, &env, Path::new("f.toml")).unwrap_err();
        assert_eq!(err.key, "providers[1].headers.Authorization");
        assert_eq!(
            err.reason,
            "environment variable FUSION_TEST_UNSET is not set"
        );
    }

    #[test]
    fn keys_that_are_not_bare_are_quoted() {
        assert_eq!(child_key("headers", "x.y"), "headers.\"x.y\"");
        assert_eq!(child_key("", "server"), "server");
        assert_eq!(index_key("providers", 2), "providers[2]");
    }

    #[test]
    fn values_from_references_are_remembered_with_their_written_text() {
        let mut value: toml::Value = toml::from_str(
            "[[mcp.servers]]\nname = \"a\"\nargs = [\"--plain\", \"--token=${FUSION_TEST_TOKEN}\"]\n\
             headers = { Authorization = \"Bearer ${FUSION_TEST_TOKEN}\", X-Cost = \"$5\" }\n",
        )
        .unwrap();
        let expansion = expand_env(&mut value, &env, Path::new("f.toml")).unwrap();
        assert_eq!(
            expansion.sourced.into_iter().collect::<Vec<_>>(),
            [
                (
                    "mcp.servers[0].args[1]".to_owned(),
                    "--token=${FUSION_TEST_TOKEN}".to_owned()
                ),
                (
                    "mcp.servers[0].headers.Authorization".to_owned(),
                    "Bearer ${FUSION_TEST_TOKEN}".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn pieces_split_literals_from_references() {
        assert_eq!(
            pieces("Bearer ${A}$${B}${C:-x}").unwrap(),
            [
                Piece::Text("Bearer ".into()),
                Piece::Reference("A"),
                Piece::Text("${B}".into()),
                Piece::Reference("C:-x"),
            ]
        );
    }

    #[test]
    fn errors_quote_the_written_reference_instead_of_the_value() {
        let mut value: toml::Value =
            toml::from_str("url = \"${FUSION_TEST_TOKEN}/v1\"\nmode = \"$5\"\n").unwrap();
        let expansion = expand_env(&mut value, &env, Path::new("f.toml")).unwrap();
        let err = ConfigError::new("f.toml", "url", "`s3cret/v1` is not a valid URL");
        assert_eq!(
            expansion.redact(err).reason,
            "`${FUSION_TEST_TOKEN}/v1` is not a valid URL"
        );
    }
}
