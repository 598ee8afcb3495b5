//! Rendering the resolved configuration back to TOML for `fusion config show`, with every secret
//! masked: inline API keys, secret-looking headers and exec environment values, URL passwords.

use super::Config;

/// The resolved config as TOML, secrets masked (`****` plus at most the last 4 characters of
/// long secrets). Council notes (how a council was assembled) lead as `#` comments.
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
        for (name, value) in provider.headers.iter_mut().chain(provider.env.iter_mut()) {
            if looks_secret(name) {
                *value = mask(value);
            }
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
    match toml::to_string_pretty(&masked) {
        Ok(text) => out.push_str(&text),
        Err(e) => out.push_str(&format!(
            "# the configuration cannot be shown as TOML: {e}\n"
        )),
    }
    out
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

/// Whether a header or environment variable name suggests its value is a credential.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "auth",
        "key",
        "token",
        "secret",
        "cookie",
        "password",
        "passwd",
        "credential",
        "session",
    ]
    .iter()
    .any(|word| name.contains(word))
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
    fn non_secret_values_are_kept_and_output_reparses() {
        let mut config = config();
        config.providers[0].api_key = None; // an inline key (legacy JSON only) is not TOML input
        let out = render_masked(&config);
        assert!(out.contains("visible-value"), "{out}");
        assert!(out.contains("AGENT_MODE = \"fast\""), "{out}");
        assert!(out.contains("db.internal"), "{out}");
        let reparsed: Config = toml::from_str(&out).unwrap();
        assert_eq!(reparsed.providers.len(), 2);
        assert_eq!(reparsed.providers[1].kind, ProviderKind::Exec);
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
