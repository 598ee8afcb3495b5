//! The code-search tools: `code_index` (build or update the index of directories, with
//! progress notifications and cancellation) and `code_search` (ranked, highlighted chunks),
//! also answering to the names of the server Fusion replaces, `retriv_init` and
//! `retriv_search`, with its argument names (`directories`, `exclude_patterns`, `chunk_size`,
//! `force_reindex`, `bm25_options`). Owns the roots this server has indexed (the default for
//! searches) and the optional background re-indexing of them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fusion_codesearch::{
    CodeIndex, Hit, IndexHome, IndexOptions, IndexReport, IndexRequest, Progress, SearchRequest,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext, RoleServer};
use rmcp::{ErrorData, tool, tool_router};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

mod input;

use input::{CodeIndexInput, CodeSearchInput};

use crate::{FusionMcp, failure};

pub const INDEX: &str = "code_index";
pub const SEARCH: &str = "code_search";
/// The replaced server's names for the same two tools (accepted, not listed).
pub const INDEX_ALIAS: &str = "retriv_init";
pub const SEARCH_ALIAS: &str = "retriv_search";

/// The class of a call that found no place for the index (no data directory).
const NO_DATA_DIR: &str = "no_data_dir";
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;
/// Least time between two progress notifications of one call.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

#[tool_router(router = code_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        title = "Index code for search",
        description = "Build or update the full-text index of source directories for code_search \
         (one index per directory, kept in Fusion's data dir). Honours .gitignore/.ignore, \
         skips binary and large files, splits files into overlapping line chunks; \
         re-indexing reads only changed files and drops deleted ones. Reports files indexed, \
         unchanged, deleted and skipped. Sends progress; cancellable. Also answers as \
         retriv_init.",
        input_schema = crate::own_tools::input_schema::<CodeIndexInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn code_index(
        &self,
        Parameters(input): Parameters<CodeIndexInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        index(self.code(), INDEX, input, context).await
    }

    #[tool(
        title = "Search code",
        description = "Search indexed source code (BM25 over line chunks): returns the best chunks \
         with path, line range, score and the matching lines (match positions in structured \
         content). Identifiers match across naming styles (camelCase, snake_case, \
         kebab-case, digits). Filter by path glob or language. Index first with code_index. \
         Also answers as retriv_search.",
        input_schema = crate::own_tools::input_schema::<CodeSearchInput>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn code_search(&self, Parameters(input): Parameters<CodeSearchInput>) -> CallToolResult {
        search(self.code(), SEARCH, input).await
    }
}

/// The replaced server's names for the same two tools: answered, never listed.
#[tool_router(router = code_alias_router, vis = "pub(crate)")]
impl FusionMcp {
    #[tool(
        description = "code_index under the name of the server Fusion replaces.",
        input_schema = crate::own_tools::input_schema::<CodeIndexInput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn retriv_init(
        &self,
        Parameters(input): Parameters<CodeIndexInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        index(self.code(), INDEX_ALIAS, input, context).await
    }

    #[tool(
        description = "code_search under the name of the server Fusion replaces.",
        input_schema = crate::own_tools::input_schema::<CodeSearchInput>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn retriv_search(
        &self,
        Parameters(input): Parameters<CodeSearchInput>,
    ) -> CallToolResult {
        search(self.code(), SEARCH_ALIAS, input).await
    }
}

/// The code-search state of one server: the roots it indexed and the indexing lock.
#[derive(Clone, Default)]
pub struct CodeTools {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Canonical roots indexed (or searched) through this server, most recent first.
    roots: Mutex<Vec<PathBuf>>,
    /// One indexing run at a time in this process (tool calls and background runs).
    indexing: tokio::sync::Mutex<()>,
    reindexing: AtomicBool,
}

fn home() -> Result<IndexHome, String> {
    fusion_core::store::Store::data_dir()
        .map(|dir| IndexHome::in_data_dir(&dir))
        .map_err(|e| format!("cannot place the code index: {e}"))
}

impl CodeTools {
    fn remember(&self, root: PathBuf) {
        let mut roots = self
            .inner
            .roots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        roots.retain(|r| r != &root);
        roots.insert(0, root);
    }

    fn roots(&self) -> Vec<PathBuf> {
        self.inner
            .roots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-indexes, every `every`, the roots this server knows: the indexed one enclosing its
    /// working directory, and those indexed or searched through it. Idempotent; needs a tokio
    /// runtime.
    pub fn start_reindexing(&self, every: Duration) {
        if self.inner.reindexing.swap(true, Ordering::SeqCst) {
            return;
        }
        let tools = self.clone();
        tokio::spawn(async move {
            if let (Ok(home), Ok(cwd)) = (home(), std::env::current_dir())
                && let Ok(Some(root)) = home.enclosing_root(&cwd)
            {
                tools.remember(root);
            }
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                for root in tools.roots() {
                    tools.reindex_in_background(root).await;
                }
            }
        });
    }

    async fn reindex_in_background(&self, root: PathBuf) {
        let _guard = self.inner.indexing.lock().await;
        let Ok(home) = home() else { return };
        let request = IndexRequest {
            root: root.clone(),
            ..IndexRequest::default()
        };
        let run =
            tokio::task::spawn_blocking(move || fusion_codesearch::index(&home, &request, &|_| {}))
                .await;
        match run {
            Ok(Ok(report)) => tracing::info!(
                root = %root.display(),
                indexed = report.files_indexed,
                deleted = report.files_deleted,
                "background re-index done"
            ),
            Ok(Err(e)) => tracing::warn!(root = %root.display(), "background re-index failed: {e}"),
            Err(e) => tracing::warn!(root = %root.display(), "background re-index panicked: {e}"),
        }
    }
}

/// A failed code-search call of `class` (none of them goes better when retried unchanged).
fn tool_error(class: &str, message: impl Into<String>) -> CallToolResult {
    failure::failed(class, false, message)
}

fn structured(text: String, value: serde_json::Value) -> CallToolResult {
    let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
    out.structured_content = Some(value);
    out
}

/// Indexes `input.paths` for `name` (the tool or its alias). Bad input and failures are tool
/// errors; a cancelled run is a protocol error, and leaves the index as it was.
async fn index(
    tools: &CodeTools,
    name: &str,
    input: CodeIndexInput,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResult, ErrorData> {
    if input.paths.is_empty() {
        return Ok(failure::invalid_arguments(
            name,
            "give `paths` (the directories to index)",
        ));
    }
    let home = match home() {
        Ok(home) => home,
        Err(message) => return Ok(tool_error(NO_DATA_DIR, message)),
    };
    let bm25 = input.bm25_options.unwrap_or_default();
    let options = IndexOptions {
        chunk_lines: input.chunk_lines,
        overlap: input.overlap,
        max_file_bytes: input.max_file_bytes,
        exclude: input.exclude,
        bm25_k1: bm25.k1,
        bm25_b: bm25.b,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let reporter = context
        .meta
        .get_progress_token()
        .map(|token| tokio::spawn(report_progress(context.peer.clone(), token, rx)));
    let _guard = tools.inner.indexing.lock().await;
    let paths = input.paths;
    let force = input.force;
    let stop = cancel.clone();
    let mut run = tokio::task::spawn_blocking(move || {
        let mut reports = Vec::with_capacity(paths.len());
        for path in paths {
            let request = IndexRequest {
                root: PathBuf::from(&path),
                options: options.clone(),
                force,
                cancel: Some(stop.clone()),
                ..IndexRequest::default()
            };
            let root = path.clone();
            let report = fusion_codesearch::index(&home, &request, &|progress| {
                let _ = tx.send((root.clone(), progress));
            })
            .map_err(|e| (path, e))?;
            reports.push(report);
        }
        Ok::<_, (String, fusion_codesearch::Error)>(reports)
    });
    let outcome = tokio::select! {
        outcome = &mut run => outcome,
        () = context.ct.cancelled() => {
            // The run stops at its next file and commits nothing.
            cancel.store(true, Ordering::Relaxed);
            run.await
        }
    };
    if let Some(reporter) = reporter {
        // The sender went with the run: the reporter sends what is left and ends.
        let _ = reporter.await;
    }
    match outcome {
        Ok(Ok(reports)) => {
            for report in &reports {
                tools.remember(report.root.clone());
            }
            let text = reports.iter().map(summary).collect::<Vec<_>>().join("\n");
            Ok(structured(text, json!({ "reports": reports })))
        }
        Ok(Err((_, fusion_codesearch::Error::Cancelled))) => {
            tracing::info!("code_index cancelled by the client; nothing was committed");
            Err(ErrorData::internal_error(
                "the request was cancelled by the client",
                None,
            ))
        }
        Ok(Err((
            _,
            e @ (fusion_codesearch::Error::MissingRoot(_)
            | fusion_codesearch::Error::NotADirectory(_)),
        ))) => Ok(tool_error(failure::INVALID_ARGUMENTS, e.to_string())),
        Ok(Err((path, e))) => Ok(tool_error(
            "index_failed",
            format!("cannot index {path}: {e}"),
        )),
        Err(e) => Ok(tool_error("internal", format!("indexing failed: {e}"))),
    }
}

/// One line about one indexing run.
fn summary(r: &IndexReport) -> String {
    let skipped: u64 = r.skipped.values().sum();
    let rebuilt = r
        .rebuilt
        .as_deref()
        .map(|reason| format!(" (rebuilt: {reason})"))
        .unwrap_or_default();
    format!(
        "indexed {}{rebuilt}: {} files seen, {} indexed, {} unchanged, {} deleted, {skipped} \
         skipped; {} files in {} chunks; {:.2} s",
        r.root.display(),
        r.files_seen,
        r.files_indexed,
        r.files_unchanged,
        r.files_deleted,
        r.files_total,
        r.chunks_total,
        r.elapsed_ms as f64 / 1000.0
    )
}

/// Forwards indexing progress as MCP progress notifications: files done over files found so
/// far (summed over the call's directories), at most every `PROGRESS_EVERY` and at each
/// phase change.
async fn report_progress(
    peer: Peer<RoleServer>,
    token: ProgressToken,
    mut events: UnboundedReceiver<(String, Progress)>,
) {
    let mut finished_before = 0u64;
    let mut total_before = 0u64;
    let (mut done, mut total) = (0u64, 0u64);
    let mut last_sent: Option<Instant> = None;
    while let Some((root, progress)) = events.recv().await {
        let (message, urgent) = match progress {
            Progress::Walking => {
                finished_before += done;
                total_before += total;
                (done, total) = (0, 0);
                (format!("{root}: listing files"), true)
            }
            Progress::Walked { files } => {
                total = files;
                (format!("{root}: {files} files found"), true)
            }
            Progress::Files { done: d, total: t } => {
                // Parallel indexers report out of order: progress never goes back.
                (done, total) = (done.max(d), t);
                (format!("{root}: {done}/{t} files"), done == t)
            }
            Progress::Committing => (format!("{root}: writing the index"), true),
        };
        if !urgent && last_sent.is_some_and(|at| at.elapsed() < PROGRESS_EVERY) {
            continue;
        }
        last_sent = Some(Instant::now());
        let param = ProgressNotificationParam::new(token.clone(), (finished_before + done) as f64)
            .with_total((total_before + total).max(1) as f64)
            .with_message(message);
        if let Err(e) = peer.notify_progress(param).await {
            tracing::debug!("progress notification not delivered: {e}");
        }
    }
}

/// A hit with the root it came from.
#[derive(Serialize)]
struct RootedHit {
    root: PathBuf,
    #[serde(flatten)]
    hit: Hit,
}

async fn search(tools: &CodeTools, name: &str, input: CodeSearchInput) -> CallToolResult {
    let limit = input.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return failure::invalid_arguments(
            name,
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        );
    }
    let home = match home() {
        Ok(home) => home,
        Err(message) => return tool_error(NO_DATA_DIR, message),
    };
    let mut starts: Vec<PathBuf> = input
        .root
        .iter()
        .chain(&input.paths)
        .map(PathBuf::from)
        .collect();
    if starts.is_empty() {
        starts = tools.roots();
    }
    if starts.is_empty() {
        match std::env::current_dir() {
            Ok(cwd) => starts.push(cwd),
            Err(e) => {
                return tool_error(
                    "internal",
                    format!("cannot read the working directory: {e}"),
                );
            }
        }
    }
    let bm25 = input.bm25_options.map(|b| fusion_codesearch::Bm25Params {
        k1: b.k1.unwrap_or(fusion_codesearch::Bm25Params::default().k1),
        b: b.b.unwrap_or(fusion_codesearch::Bm25Params::default().b),
    });
    let request = SearchRequest {
        query: input.query.clone(),
        limit,
        path: input.path,
        lang: input.lang,
        within: None,
        bm25,
    };
    let run = tokio::task::spawn_blocking(move || {
        let mut roots = Vec::new();
        let mut hits = Vec::new();
        for start in starts {
            let (index, within) = CodeIndex::open_enclosing(&home, &start)?;
            let request = SearchRequest {
                within,
                ..request.clone()
            };
            let results = index.search(&request)?;
            roots.push(results.root.clone());
            hits.extend(results.hits.into_iter().map(|hit| RootedHit {
                root: results.root.clone(),
                hit,
            }));
        }
        Ok::<_, fusion_codesearch::Error>((roots, hits))
    })
    .await;
    let (roots, mut hits) = match run {
        Ok(Ok(found)) => found,
        Ok(Err(fusion_codesearch::Error::NotIndexed(dir))) => {
            return tool_error(
                "not_indexed",
                format!(
                    "no code index covers {}: call `{INDEX}` with `paths` first",
                    dir.display()
                ),
            );
        }
        Ok(Err(e)) => return tool_error("search_failed", format!("`{name}`: {e}")),
        Err(e) => return tool_error("internal", format!("search failed: {e}")),
    };
    for root in &roots {
        tools.remember(root.clone());
    }
    hits.sort_by(|a, b| b.hit.score.total_cmp(&a.hit.score));
    hits.truncate(limit);
    let text = render(&input.query, &roots, &hits);
    structured(
        text,
        json!({ "query": input.query, "roots": roots, "hits": hits }),
    )
}

/// Hits as plain text: a header line per hit, then its numbered lines.
fn render(query: &str, roots: &[PathBuf], hits: &[RootedHit]) -> String {
    let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    if hits.is_empty() {
        return format!("no match for {query:?} in {}", roots.join(", "));
    }
    let mut out = format!(
        "{} hits for {query:?} in {}\n",
        hits.len(),
        roots.join(", ")
    );
    for RootedHit { root, hit } in hits {
        let prefix = if roots.len() > 1 {
            format!("{}/", root.display())
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\n{prefix}{}:{}-{} ({}, score {:.2})\n",
            hit.path, hit.start_line, hit.end_line, hit.language, hit.score
        ));
        for line in &hit.snippet {
            out.push_str(&format!("{:>5}  {}\n", line.line, line.text));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rmcp::handler::server::common::schema_for_input;

    use super::*;

    #[test]
    fn both_tools_have_object_schemas_with_their_fields() {
        assert!(schema_for_input::<CodeIndexInput>().is_ok());
        assert!(schema_for_input::<CodeSearchInput>().is_ok());
        let (index, search) = (
            FusionMcp::code_index_tool_attr(),
            FusionMcp::code_search_tool_attr(),
        );
        let index = serde_json::Value::Object((*index.input_schema).clone());
        for field in ["paths", "exclude", "chunk_lines", "force", "bm25_options"] {
            assert!(index["properties"].get(field).is_some(), "{field}: {index}");
        }
        assert!(index["properties"].get("install_dependencies").is_none());
        let search = serde_json::Value::Object((*search.input_schema).clone());
        assert_eq!(search["required"], json!(["query"]));
        let aliases = FusionMcp::code_alias_router();
        assert!(aliases.has_route(INDEX_ALIAS) && aliases.has_route(SEARCH_ALIAS));
        assert!(FusionMcp::code_router().has_route(SEARCH));
    }
}
