//! Rendering the resolved configuration back to TOML for `fusion config check`, with every secret
//! masked: inline API keys, URL passwords, every header and environment value (of providers
//! and of `[[mcp.servers]]`), and every value that came from a `${ENV}` reference.
//!
//! The rules, in order: a value that came from `${NAME}` is shown as written in the file
//! (`"--token=${NAME}"`), never as the variable's value; in a header or environment value even
//! the literal text around the references is masked, except a leading scheme word such as
//! `Bearer ` (`"Bearer ${ISSUES_TOKEN}"`); any other header or environment value is `****`
//! (plus the last 4 characters of values of 12 or more, which identify without revealing).

use std::collections::BTreeMap;

use super::Config;
use super::expand::{Piece, child_key, index_key, pieces};

/// The resolved config as TOML, secrets masked (see the module doc). Council notes (how a
/// council was assembled) lead as `#` comments.
pub fn render_masked(config: &Config) -> String {
    let mut masked = config.clone();
    if let Some(url) = &mut masked.storage.url {
        *url = mask_url_password(url);
    }
    for provider in &mut masked.providers {
        if let Some(key) = &mut provider.api_key {
            *key = mask(key);
        }
        if let Some(url) = &mut provider.base_url {
            *url = mask_url_password(url);
        }
    }
    let mut out = String::new();
    for (name, council) in &config.councils {
        for note in &council.notes {
            for line in note.lines() {
                out.push_str(&format!("# councils.{name}: {line}\n"));
            }
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    let rendered = toml::Value::try_from(&masked).and_then(|mut value| {
        mask_values(&mut value, String::new(), &config.env_sourced);
        toml::to_string_pretty(&value)
    });
    match rendered {
        Ok(text) => out.push_str(&text),
        Err(e) => out.push_str(&format!(
            "# the configuration cannot be shown as TOML: {e}\n"
        )),
    }
    out
}

/// Masks, in place, every string of `value` (at dotted key `path`) that the rules cover.
fn mask_values(value: &mut toml::Value, path: String, sourced: &BTreeMap<String, String>) {
    match value {
        toml::Value::String(text) => {
            let secret = is_header_or_env(&path);
            match sourced.get(&path) {
                Some(written) if secret => *text = mask_written(written),
                Some(written) => *text = written.clone(),
                None if secret => *text = mask(text),
                None => {}
            }
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                mask_values(item, index_key(&path, i), sourced);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                mask_values(item, child_key(&path, key), sourced);
            }
        }
        _ => {}
    }
}

/// Whether the dotted key is a value of a `headers` or `env` table of a provider or an MCP
/// server (`providers[0].headers.Authorization`, `mcp.servers[2].env.TOKEN`).
fn is_header_or_env(path: &str) -> bool {
    let owner = path.starts_with("providers[") || path.starts_with("mcp.servers[");
    let Some((_, tail)) = path.split_once("].") else {
        return false;
    };
    owner && (tail.starts_with("headers.") || tail.starts_with("env."))
}

/// A header or environment value as written in the file, references kept and literal text
/// masked, except a leading scheme word (`Bearer `, `Basic `) or whitespace.
fn mask_written(written: &str) -> String {
    let Ok(pieces) = pieces(written) else {
        return mask(written);
    };
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Reference(reference) => out.push_str(&format!("${{{reference}}}")),
            Piece::Text(text) if text.trim().is_empty() || (i == 0 && is_scheme(text)) => {
                out.push_str(text);
            }
            Piece::Text(_) => out.push_str("****"),
        }
    }
    out
}

/// `Bearer `: letters and one trailing space.
fn is_scheme(text: &str) -> bool {
    text.strip_suffix(' ')
        .is_some_and(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic()))
}

/// `****`, followed by the last 4 characters when the secret is long enough (12+) that they
/// identify it without weakening it.
fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() >= 12 {
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("****{tail}")
    } else {
        "****".to_owned()
    }
}

/// Replaces the password of `scheme://user:password@host/...` URLs; other text is unchanged.
fn mask_url_password(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return url.to_owned();
    };
    if parsed.password().is_none() || parsed.set_password(Some("****")).is_err() {
        return url.to_owned();
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{CouncilConfig, MemberConfig, ProviderKind};
    use super::*;

    fn config() -> Config {
        let mut config: Config = toml::from_str(
            r#"
            [storage]
            url = "postgres://fusion:db-password-123@db.internal/fusion"

            [[providers]]
            name = "paid"
            kind = "openai"
            base_url = "https://api.example.com/v1"
            headers = { Authorization = "Bearer sk-header-secret-abcd", X-Api-Key = "short", X-Trace = "visible-value" }

            [[providers]]
            name = "agent"
            kind = "exec"
            command = ["agent"]
            env = { AGENT_TOKEN = "agent-token-secret-wxyz", AGENT_MODE = "fast" }
            "#,
        )
        .unwrap();
        config.providers[0].api_key = Some("sk-inline-secret-9876".to_owned());
        config
    }

    #[test]
    fn secrets_never_appear_in_the_rendered_output() {
        let out = render_masked(&config());
        for secret in [
            "sk-inline-secret",
            "sk-header-secret",
            "short",
            "agent-token-secret",
            "db-password-123",
        ] {
            assert!(!out.contains(secret), "`{secret}` leaked:\n{out}");
        }
        assert!(out.contains("****9876"), "{out}");
        assert!(out.contains("****abcd"), "{out}");
        assert!(out.contains("****wxyz"), "{out}");
    }

    #[test]
    fn every_header_and_env_value_is_masked_other_values_kept_and_output_reparses() {
        let mut config = config();
        config.providers[0].api_key = None; // an inline key (legacy JSON only) is not TOML input
        let out = render_masked(&config);
        assert!(!out.contains("visible-value"), "{out}");
        assert!(out.contains("AGENT_MODE = \"****\""), "{out}");
        assert!(out.contains("db.internal"), "{out}");
        assert!(out.contains("https://api.example.com/v1"), "{out}");
        let reparsed: Config = toml::from_str(&out).unwrap();
        assert_eq!(reparsed.providers.len(), 2);
        assert_eq!(reparsed.providers[1].kind, ProviderKind::Exec);
    }

    #[test]
    fn values_from_env_references_show_the_reference_never_the_value() {
        let text = r#"
            [storage]
            url = "${FUSION_RENDER_DB}"

            [[providers]]
            name = "paid"
            kind = "openai"
            base_url = "https://api.example.com/v1"
            headers = { Authorization = "Bearer ${FUSION_RENDER_TOKEN}", X-Mixed = "sk-lit${FUSION_RENDER_TOKEN}" }

            [[mcp.servers]]
            name = "fs"
            command = "server"
            args = ["--plain", "--token=${FUSION_RENDER_TOKEN}"]
            env = { API_TOKEN = "${FUSION_RENDER_TOKEN}" }

            [[mcp.servers]]
            name = "issues"
            url = "https://mcp.example.com/mcp"
            headers = { Authorization = "Bearer ${FUSION_RENDER_TOKEN}" }
        "#;
        let env = |name: &str| match name {
            "FUSION_RENDER_TOKEN" => Some("tok-very-secret-1234".to_owned()),
            "FUSION_RENDER_DB" => Some("postgres://u:pw-secret@db/fusion".to_owned()),
            _ => None,
        };
        let mut value: toml::Value = toml::from_str(text).unwrap();
        let path = std::path::Path::new("fusion.toml");
        let expansion = super::super::expand::expand_env(&mut value, &env, path).unwrap();
        let mut config: Config = value.try_into().unwrap();
        config.env_sourced = expansion.sourced;
        let out = render_masked(&config);
        for secret in ["tok-very-secret", "1234", "pw-secret", "sk-lit"] {
            assert!(!out.contains(secret), "`{secret}` leaked:\n{out}");
        }
        assert!(out.contains("url = \"${FUSION_RENDER_DB}\""), "{out}");
        assert!(
            out.contains("Authorization = \"Bearer ${FUSION_RENDER_TOKEN}\""),
            "{out}"
        );
        assert!(
            out.contains("X-Mixed = \"****${FUSION_RENDER_TOKEN}\""),
            "{out}"
        );
        assert!(out.contains("\"--token=${FUSION_RENDER_TOKEN}\""), "{out}");
        assert!(out.contains("\"--plain\""), "{out}");
        assert!(
            out.contains("API_TOKEN = \"${FUSION_RENDER_TOKEN}\""),
            "{out}"
        );
    }

    #[test]
    fn only_header_and_env_tables_of_providers_and_servers_count_as_secret() {
        assert!(is_header_or_env("providers[0].headers.Authorization"));
        assert!(is_header_or_env("mcp.servers[12].env.TOKEN"));
        assert!(is_header_or_env("providers[1].headers.\"x.y\""));
        assert!(!is_header_or_env("providers[0].name"));
        assert!(!is_header_or_env("mcp.servers[0].args[1]"));
        assert!(!is_header_or_env("councils.env.judge.model"));
    }

    #[test]
    fn short_secrets_are_fully_masked() {
        assert_eq!(mask("abc"), "****");
        assert_eq!(mask("12345678901"), "****");
        assert_eq!(mask("123456789012"), "****9012");
    }

    #[test]
    fn council_notes_lead_as_comments() {
        let mut config = Config::default();
        config.councils.insert(
            "default".to_owned(),
            CouncilConfig {
                parallel: true,
                timeout: std::time::Duration::from_secs(1),
                quorum: None,
                panel: vec![MemberConfig {
                    model: "m".to_owned(),
                    ..MemberConfig::default()
                }],
                judge: MemberConfig {
                    model: "m".to_owned(),
                    ..MemberConfig::default()
                },
                synthesizer: None,
                notes: vec!["zero-config: found ollama".to_owned()],
            },
        );
        let out = render_masked(&config);
        assert!(
            out.starts_with("# councils.default: zero-config: found ollama\n"),
            "{out}"
        );
        let _: BTreeMap<String, toml::Value> = toml::from_str(&out).unwrap();
    }
}
