//! The `.env` keys of the replaced routing server that have no equivalent in `fusion.toml`, and
//! for each one sentence saying why and what to do instead (a flag, a command, nothing).

use super::UnusedValue;
use super::dotenv::Assignment;

const BENCHMARKS: &str = "benchmark settings go with each run: `fusion bench --runs-per-task N \
                          --parallel N --timeout 60s`, or the arguments of the benchmark_* MCP \
                          tools; results are kept in Fusion's store";
const LOCK_FILE: &str = "Fusion uses no lock file: processes share the store, and a task is held \
                         by a lease that expires when its process dies";

/// Why `a.key` has no equivalent; `None` for a key this import does not know. A value the
/// reason would quote but cannot read is reported in `unused`.
pub(super) fn reason(a: &Assignment, unused: &mut Vec<UnusedValue>) -> Option<String> {
    let key = a.key.as_str();
    let fixed = match key {
        "CODE_SEARCH_ENABLED" => {
            "code search is always available: `fusion index PATH` builds an index, `fusion \
             search` and the MCP tools `code_index` and `code_search` use it"
        }
        "CODE_SEARCH_EXCLUDE_PATTERNS" => return Some(exclude_patterns(a, unused)),
        "CODE_SEARCH_INDEX_ON_START" => {
            "Fusion does not index at start: run `fusion index PATH`; a re-run reads only \
             changed files"
        }
        "CODE_SEARCH_REINDEX_INTERVAL" => return Some(reindex_interval(a, unused)),
        "STARTUP_BENCHMARK_TARGETS" => {
            "Fusion benchmarks nothing at start: run `fusion bench` (or benchmark_model over MCP) \
             when you add a model"
        }
        _ if key.starts_with("BENCHMARK_") => BENCHMARKS,
        "MIN_VALIDATOR_SCORE" => "Fusion has no validator models that check answers",
        "VALIDATION_RETRY_BUDGET" => {
            "Fusion does not validate answers; router.retry_budget counts fallbacks after a \
             failed call, not validation retries"
        }
        "REMOVE_STALE_LOCK_FILES" => LOCK_FILE,
        _ if key.starts_with("LOCK_FILE_") => LOCK_FILE,
        "EXPECT_LOCAL_PROVIDER_DOWN" => "a switch of the replaced server's own operational test",
        "LOCALLAMA_ROOT_DIR" => {
            "it says where the replaced server finds its .env; Fusion reads --config (or \
             FUSION_CONFIG), else ./fusion.toml, else ~/.config/fusion/fusion.toml"
        }
        "LOG_LEVEL" => return Some(log_level(&a.value)),
        "LOG_FILE" => "Fusion logs to stderr: redirect it (`2>>fusion.log`)",
        "PORT" | "HOST" | "API_PREFIX" => {
            "the replaced server's HTTP address; Fusion's is `[server] listen` (default \
             127.0.0.1:8787, the REST API under /api): set it by hand if you need another"
        }
        "MODEL_TEMPERATURE"
        | "MODEL_MAX_TOKENS"
        | "MODEL_TOP_P"
        | "MODEL_FREQUENCY_PENALTY"
        | "MODEL_PRESENCE_PENALTY" => {
            "sampling settings come with each request (or as `temperature` and `max_tokens` of a \
             council member)"
        }
        "PYTHON_PATH" | "PYTHON_VENV_PATH" | "PYTHON_DETECT_VENV" | "RETRIV_PYTHON_PATH" => {
            "Fusion's code search is native: no Python"
        }
        "CACHE_ENABLED" | "CACHE_DIR" | "MAX_CACHE_SIZE" => "Fusion keeps no response cache",
        _ => return None,
    };
    Some(fixed.to_owned())
}

/// The `fusion index` flags that exclude the same paths.
fn exclude_patterns(a: &Assignment, unused: &mut Vec<UnusedValue>) -> String {
    const PREFIX: &str = "exclusions are given when indexing";
    const SUFFIX: &str = "or `exclude` of the code_index tool; .gitignore is honoured and hidden \
                          files are skipped anyway";
    match serde_json::from_str::<Vec<String>>(&a.value) {
        Ok(patterns) if !patterns.is_empty() => {
            let flags: Vec<String> = patterns
                .iter()
                .map(|p| format!("--exclude '{}'", p.replace('\'', r"'\''")))
                .collect();
            format!(
                "{PREFIX}: `fusion index PATH {}`, {SUFFIX}",
                flags.join(" ")
            )
        }
        Ok(_) => format!("{PREFIX}: `fusion index PATH --exclude GLOB`, {SUFFIX}"),
        Err(_) => {
            unused.push(UnusedValue {
                line: a.line,
                key: a.key.clone(),
                reason: format!(
                    "`{}` is not a JSON array of strings like [\"node_modules/**\"]",
                    a.value
                ),
            });
            format!("{PREFIX}: `fusion index PATH --exclude GLOB`, {SUFFIX}")
        }
    }
}

/// The `fusion mcp` flag that re-indexes as often.
fn reindex_interval(a: &Assignment, unused: &mut Vec<UnusedValue>) -> String {
    const PREFIX: &str = "re-indexing is a flag of the MCP server";
    match a.value.trim().parse::<u64>() {
        Ok(seconds) if seconds > 0 => {
            let every = humantime::format_duration(std::time::Duration::from_secs(seconds));
            format!("{PREFIX}: `fusion mcp --reindex-every {every}`")
        }
        _ => {
            unused.push(UnusedValue {
                line: a.line,
                key: a.key.clone(),
                reason: format!("`{}` is not a positive whole number of seconds", a.value),
            });
            format!("{PREFIX}: `fusion mcp --reindex-every DURATION`")
        }
    }
}

/// Where the level goes instead: `FUSION_LOG` or `--log`.
fn log_level(value: &str) -> String {
    let level = value.trim().to_ascii_lowercase();
    let level = match level.as_str() {
        "error" | "warn" | "info" | "debug" | "trace" => level.as_str(),
        "warning" => "warn",
        _ => "LEVEL",
    };
    format!(
        "the log level is not part of fusion.toml: set FUSION_LOG={level} or pass --log {level}"
    )
}
