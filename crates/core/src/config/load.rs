//! Finding and reading the config file: the lookup order (`--config`, `./fusion.toml`, the user
//! config dir), TOML parsing with `${ENV}` expansion, the hand-off to the legacy JSON format, and
//! turning every parse or type error into a [`ConfigError`] that names the file and the key.

use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;

use super::expand::{self, EnvLookup, Expansion, child_key, index_key};
use super::{Config, ConfigError, legacy};

/// A configuration and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file it was read from (made absolute when possible).
    pub source: PathBuf,
    /// Things that are allowed but probably not intended (an unset `api_key_env`, unknown keys
    /// in a legacy JSON file). Worth showing to the user; never fatal.
    pub warnings: Vec<String>,
}

/// Finds and loads the configuration.
///
/// Lookup order: `explicit` (the `--config` flag; it must exist), then `./fusion.toml`, then
/// `./local-fusion.config.json` and `./looped-fusion.config.json` (the council project's own
/// files, with a note saying so), then `fusion/fusion.toml` in the user config dir
/// (`~/.config` on Linux). `Ok(None)` when there is no file at all — the caller then falls back
/// to zero-config discovery.
pub fn load(explicit: Option<&Path>) -> Result<Option<LoadedConfig>, ConfigError> {
    load_preferring(explicit, &[COUNCIL_PROJECT_FILE, LOOP_PROJECT_FILE])
}

/// [`load`] for the loop commands: the council project's loop file
/// (`./looped-fusion.config.json`, with its roster) comes before its council file.
pub fn load_for_loop(explicit: Option<&Path>) -> Result<Option<LoadedConfig>, ConfigError> {
    load_preferring(explicit, &[LOOP_PROJECT_FILE, COUNCIL_PROJECT_FILE])
}

fn load_preferring(
    explicit: Option<&Path>,
    project_files: &[&str],
) -> Result<Option<LoadedConfig>, ConfigError> {
    let mut candidates = vec![PathBuf::from("fusion.toml")];
    candidates.extend(project_files.iter().map(PathBuf::from));
    if let Some(dir) = dirs::config_dir() {
        candidates.push(dir.join("fusion").join("fusion.toml"));
    }
    load_from(explicit, &candidates, &expand::process_env)
}

fn load_from(
    explicit: Option<&Path>,
    candidates: &[PathBuf],
    env: EnvLookup<'_>,
) -> Result<Option<LoadedConfig>, ConfigError> {
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(ConfigError::new(path, "-", "file not found"));
        }
        return load_file_with(path, env).map(Some);
    }
    match candidates.iter().find(|path| path.is_file()) {
        Some(path) => {
            let mut loaded = load_file_with(path, env)?;
            if let Some(file) = [COUNCIL_PROJECT_FILE, LOOP_PROJECT_FILE]
                .into_iter()
                .find(|file| path.as_os_str() == *file)
            {
                loaded.warnings.insert(
                    0,
                    format!(
                        "no fusion.toml here: using the council project's {file} \
                         (`fusion config check` shows it as fusion.toml)"
                    ),
                );
            }
            Ok(Some(loaded))
        }
        None => Ok(None),
    }
}

/// The council project's (local-fusion's) config file, looked for in the current directory.
pub const COUNCIL_PROJECT_FILE: &str = "local-fusion.config.json";

/// The council project's loop config file (with `model_roster` and `role_model_policy`).
pub const LOOP_PROJECT_FILE: &str = "looped-fusion.config.json";

/// Loads one file: the legacy JSON council format when the name ends in `.json` or the content
/// starts with `{`, `fusion.toml` otherwise. The result is validated.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
    load_file_with(path, &expand::process_env)
}

fn load_file_with(path: &Path, env: EnvLookup<'_>) -> Result<LoadedConfig, ConfigError> {
    let source = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&source, "-", format!("cannot read the file: {e}")))?;
    let (config, mut warnings) = parse_text(&text, &source, env)?;
    warnings.extend(unset_env_warnings(&config, env));
    Ok(LoadedConfig {
        config,
        source,
        warnings,
    })
}

/// Parses and validates the text of the config file `source` as [`load_file`] does once it has
/// read it (legacy JSON or TOML by the same rule), with `${ENV}` looked up through `env`; it
/// reads no file and no environment itself (the entry point of the config fuzz targets).
pub fn parse_text(
    text: &str,
    source: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Vec<String>), ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (config, warnings, expansion) = if is_legacy_json(source, text) {
        let (config, warnings) = legacy::parse_legacy(text, source)?;
        (config, warnings, Expansion::default())
    } else {
        let (config, expansion) = parse_toml(text, source, env)?;
        (config, Vec::new(), expansion)
    };
    config.validate(source).map_err(|e| expansion.redact(e))?;
    Ok((config, warnings))
}

/// Parses and validates `fusion.toml` text as if it were the file `source` (for checking an
/// edit before it is written). Variables unset here count as set: the file may be meant for
/// another environment, and loading it there reports any that are missing.
pub fn check_toml(text: &str, source: &Path) -> Result<Config, ConfigError> {
    let lenient = |name: &str| expand::process_env(name).or_else(|| Some("unset".to_owned()));
    let (config, expansion) = parse_toml(text, source, &lenient)?;
    config.validate(source).map_err(|e| expansion.redact(e))?;
    Ok(config)
}

fn is_legacy_json(path: &Path, text: &str) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{')
}

/// Parses `fusion.toml` text: syntax, inline-secret check, `${ENV}` expansion, typed fields.
/// The expansion is returned to keep variables' values out of later errors too.
fn parse_toml(
    text: &str,
    file: &Path,
    env: EnvLookup<'_>,
) -> Result<(Config, Expansion), ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let position = e
            .span()
            .map(|span| {
                let (line, column) = line_column(text, span.start);
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        ConfigError::new(
            file,
            "-",
            format!("invalid TOML{position}: {}", e.message().trim()),
        )
    })?;
    let mut value = toml::Value::Table(table);
    reject_inline_api_keys(&value, file)?;
    let expansion = expand::expand_env(&mut value, env, file)?;
    let mut config = serde_path_to_error::deserialize::<_, Config>(value)
        .map_err(|e| expansion.redact(type_error(file, e.path(), e.inner().message())))?;
    config.env_sourced = expansion.sourced.clone();
    Ok((config, expansion))
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// `api_key` exists on [`ProviderConfig`](super::ProviderConfig) only for the legacy format;
/// in TOML it would be an unknown field with an unhelpful message, so it gets its own.
fn reject_inline_api_keys(value: &toml::Value, file: &Path) -> Result<(), ConfigError> {
    let Some(providers) = value.get("providers").and_then(toml::Value::as_array) else {
        return Ok(());
    };
    for (i, provider) in providers.iter().enumerate() {
        if provider.get("api_key").is_some() {
            return Err(ConfigError::new(
                file,
                format!("providers[{i}].api_key"),
                "secrets are not written in fusion.toml; put the key in an environment variable \
                 and name it with `api_key_env = \"NAME\"`",
            ));
        }
    }
    Ok(())
}

/// Formats a serde path as `a.b[0].c`; the empty path is `-` (the whole file).
pub(super) fn key_path(path: &serde_path_to_error::Path) -> String {
    let mut key = String::new();
    for segment in path.iter() {
        key = match segment {
            Segment::Seq { index } => index_key(&key, *index),
            Segment::Map { key: name } | Segment::Enum { variant: name } => child_key(&key, name),
            Segment::Unknown => child_key(&key, "?"),
        };
    }
    if key.is_empty() { "-".to_owned() } else { key }
}

/// A type error at `path`. serde may report unknown and missing fields at the enclosing table,
/// so the field's own name is appended when the message names it and the path lacks it.
fn type_error(file: &Path, path: &serde_path_to_error::Path, message: &str) -> ConfigError {
    let message = message.trim();
    let key = key_path(path);
    let field = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    let at_field =
        |name: &str| matches!(path.iter().next_back(), Some(Segment::Map { key }) if key == name);
    let key = match field {
        Some(name) if key == "-" => child_key("", name),
        Some(name) if !at_field(name) => child_key(&key, name),
        _ => key,
    };
    ConfigError::new(file, key, message)
}

/// Warnings for environment variables the config names but the environment lacks.
fn unset_env_warnings(config: &Config, env: EnvLookup<'_>) -> Vec<String> {
    let unset = |name: &str| env(name).is_none_or(|value| value.is_empty());
    let providers = config.providers.iter().filter_map(|p| {
        let name = p.api_key_env.as_deref()?;
        (p.api_key.is_none() && unset(name)).then(|| {
            format!(
                "provider `{}`: environment variable {name} is not set; calls to it will fail",
                p.name
            )
        })
    });
    let server = config
        .server
        .api_keys_env
        .iter()
        .filter(|n| unset(n))
        .map(|name| {
            format!(
                "server: environment variable {name} (api_keys_env) is not set; `fusion serve` \
                 refuses to start until it holds a key"
            )
        });
    providers.chain(server).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{ProviderKind, Tier};
    use super::*;

    const EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:8787"
api_keys_env = ["FUSION_API_KEY"]          # bearer keys; none = loopback only

[storage]
url = "sqlite://~/.local/share/fusion/fusion.db"   # or "postgres://user@host/db"

[[providers]]
name = "ollama"
kind = "openai"                            # openai | anthropic | exec
base_url = "http://127.0.0.1:11434/v1"
tier = "local"                             # local | free | paid
max_concurrency = 1
timeout = "120s"

[[providers]]
name = "openrouter"
kind = "openai"
base_url = "https://openrouter.ai/api/v1"
api_key_env = "OPENROUTER_API_KEY"
tier = "free"

[[providers]]
name = "claude-cli"
kind = "exec"
command = ["claude", "-p"]                 # prompt on stdin
tier = "paid"

[[models]]
id = "qwen-coder"                          # the name used everywhere in Fusion
provider = "ollama"
model = "qwen2.5-coder:14b"                # the name the server expects
context_window = 32768
price = { input_per_mtok = 0.0, output_per_mtok = 0.0 }

[[models]]
id = "llama-local"
provider = "ollama"
model = "llama3.1:8b"

[councils.default]
parallel = true
timeout = "180s"
panel = [
  { model = "qwen-coder", system = "You are a precise implementation reviewer." },
  { model = "llama-local", system = "You are a skeptic; challenge weak claims." },
]
judge = { model = "qwen-coder", temperature = 0.0 }
synthesizer = { model = "qwen-coder" }
"#;

    fn test_env(name: &str) -> Option<String> {
        match name {
            "FUSION_LOAD_TEST_TOKEN" => Some("tok-123".into()),
            "FUSION_API_KEY" => Some("k".into()),
            _ => None,
        }
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn load_text(text: &str) -> Result<LoadedConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "fusion.toml", text);
        load_file_with(&path, &test_env)
    }

    fn provider(extra: &str) -> String {
        format!(
            "[[providers]]\nname = \"a\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\
             [[providers]]\nname = \"b\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:2/v1\"\n{extra}\n"
        )
    }

    #[test]
    fn design_example_loads_with_all_sections() {
        let loaded = load_text(EXAMPLE).unwrap();
        let config = &loaded.config;
        assert_eq!(config.server.api_keys_env, ["FUSION_API_KEY"]);
        assert_eq!(config.providers.len(), 3);
        assert_eq!(config.providers[0].max_concurrency, Some(1));
        assert_eq!(config.providers[1].tier, Tier::Free);
        assert_eq!(config.providers[2].kind, ProviderKind::Exec);
        assert_eq!(
            config.providers[2].command.as_deref(),
            Some(&["claude".to_owned(), "-p".to_owned()][..])
        );
        assert_eq!(config.models[0].upstream_name(), "qwen2.5-coder:14b");
        let council = &config.councils["default"];
        assert_eq!(council.timeout, Duration::from_secs(180));
        assert_eq!(council.panel.len(), 2);
        assert_eq!(council.judge.temperature, Some(0.0));
        assert!(loaded.source.is_absolute());
        assert_eq!(
            loaded.warnings,
            [
                "provider `openrouter`: environment variable OPENROUTER_API_KEY is not set; \
              calls to it will fail"
            ]
        );
    }

    #[test]
    fn unknown_key_is_rejected_naming_file_and_key() {
        let err = load_text(&provider("api_kee = \"X\"")).unwrap_err();
        assert!(err.file.ends_with("fusion.toml"), "{err}");
        assert_eq!(err.key, "providers[1].api_kee");
        assert!(err.reason.contains("unknown field `api_kee`"), "{err}");
        let err = load_text("[router]\npriorty = \"cost\"\n").unwrap_err();
        assert_eq!(err.key, "router.priorty");
    }

    #[test]
    fn bad_duration_names_the_key() {
        let err = load_text(&provider("timeout = \"soon\"")).unwrap_err();
        assert_eq!(err.key, "providers[1].timeout");
        assert!(err.reason.contains("invalid duration `soon`"), "{err}");
    }

    #[test]
    fn wrong_type_and_missing_field_name_the_key() {
        let err = load_text(&provider("retries = \"two\"")).unwrap_err();
        assert_eq!(err.key, "providers[1].retries");
        let err = load_text("[[models]]\nid = \"m\"\n").unwrap_err();
        assert_eq!(err.key, "models[0].provider");
        assert!(err.reason.contains("missing field"), "{err}");
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let err = load_text("[server]\nlisten = \n").unwrap_err();
        assert_eq!(err.key, "-");
        assert!(err.reason.contains("line 2"), "{err}");
        assert!(err.reason.contains("column"), "{err}");
    }

    #[test]
    fn env_references_expand_with_defaults_and_escapes() {
        let text = provider(
            "headers = { Authorization = \"Bearer ${FUSION_LOAD_TEST_TOKEN}\", \
             X-Org = \"${FUSION_LOAD_TEST_UNSET:-acme}\", X-Literal = \"$${NOT_EXPANDED}\" }",
        );
        let loaded = load_text(&text).unwrap();
        let headers = &loaded.config.providers[1].headers;
        assert_eq!(headers["Authorization"], "Bearer tok-123");
        assert_eq!(headers["X-Org"], "acme");
        assert_eq!(headers["X-Literal"], "${NOT_EXPANDED}");
    }

    #[test]
    fn unset_env_reference_names_the_value_path() {
        let text = "[[providers]]\nname = \"a\"\nkind = \"openai\"\nbase_url = \"http://x/v1\"\n\
                    headers = { Authorization = \"Bearer ${FUSION_LOAD_TEST_UNSET}\" }\n";
        let err = load_text(text).unwrap_err();
        assert_eq!(err.key, "providers[0].headers.Authorization");
        assert_eq!(
            err.reason,
            "environment variable FUSION_LOAD_TEST_UNSET is not set"
        );
    }

    #[test]
    fn errors_quote_the_reference_never_a_variables_value() {
        let err =
            load_text(&provider("headers = \"Bearer ${FUSION_LOAD_TEST_TOKEN}\"")).unwrap_err();
        assert_eq!(err.key, "providers[1].headers");
        assert!(!err.to_string().contains("tok-123"), "{err}");
        assert!(
            err.reason.contains("Bearer ${FUSION_LOAD_TEST_TOKEN}"),
            "{err}"
        );
        let text = provider("").replace("http://127.0.0.1:2/v1", "${FUSION_LOAD_TEST_TOKEN}");
        let err = load_text(&text).unwrap_err();
        assert_eq!(err.key, "providers[1].base_url");
        assert!(!err.to_string().contains("tok-123"), "{err}");
    }

    #[test]
    fn inline_api_key_is_refused_pointing_to_api_key_env() {
        let err = load_text(&provider("api_key = \"sk-live-123\"")).unwrap_err();
        assert_eq!(err.key, "providers[1].api_key");
        assert!(err.reason.contains("api_key_env"), "{err}");
        assert!(!err.to_string().contains("sk-live-123"));
    }

    #[test]
    fn validation_errors_surface() {
        let err = load_text(&format!(
            "{}[[models]]\nid = \"m\"\nprovider = \"missing\"\n",
            provider("")
        ))
        .unwrap_err();
        assert_eq!(err.key, "models[0].provider");
        assert!(err.reason.contains("no provider named `missing`"), "{err}");
    }

    #[test]
    fn lookup_prefers_explicit_then_first_existing_candidate() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("absent.toml");
        let second = write(&dir, "second.toml", "[server]\nlisten = \"127.0.0.1:1\"\n");
        let explicit = write(
            &dir,
            "explicit.toml",
            "[server]\nlisten = \"127.0.0.1:2\"\n",
        );
        let candidates = [first.clone(), second];
        let found = load_from(None, &candidates, &test_env).unwrap().unwrap();
        assert_eq!(found.config.server.listen, "127.0.0.1:1");
        let found = load_from(Some(&explicit), &candidates, &test_env)
            .unwrap()
            .unwrap();
        assert_eq!(found.config.server.listen, "127.0.0.1:2");
        assert!(
            load_from(None, std::slice::from_ref(&first), &test_env)
                .unwrap()
                .is_none()
        );
        let err = load_from(Some(&first), &candidates, &test_env).unwrap_err();
        assert_eq!(err.reason, "file not found");
    }

    #[test]
    fn json_content_goes_to_the_legacy_loader() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"panel": [{"name": "a", "baseUrl": "http://127.0.0.1:1/v1", "model": "m"}],
                      "judge": {"name": "a", "baseUrl": "http://127.0.0.1:1/v1", "model": "m"}}"#;
        let path = write(&dir, "council.conf", text);
        let loaded = load_file_with(&path, &test_env).unwrap();
        assert_eq!(loaded.config.councils["default"].panel.len(), 1);
    }
}
