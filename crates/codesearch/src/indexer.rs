//! Building and updating one root's index. A run walks the root, compares each file with the
//! manifest (the `file` documents): a file whose size and mtime match is not read; a changed
//! one is read and hashed, and re-chunked only when its content hash differs (a touched but
//! identical file only gets its manifest entry refreshed); files gone from the walk leave the
//! index. Reading, hashing and chunking run on every core, and so does tantivy's writer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tantivy::query::{Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::bm25::Bm25Params;
use crate::error::{Error, Result};
use crate::location::{IndexHome, canonical_root};
use crate::schema::{
    FORMAT, Fields, KIND_CHUNK, KIND_FILE, Payload, Settings, create_index, register_tokenizer,
};
use crate::walk::{self, SkipReason};
use crate::work::{Outcome, Work, load_manifest};

/// Indexing memory per writer thread (tantivy's minimum is 15 MB); a ceiling, not a reservation.
const WRITER_BUDGET_PER_THREAD: usize = 40_000_000;
/// Files modified less than this before the previous run started are re-read even when size
/// and mtime match: a same-size edit within the file system's timestamp granularity of that
/// run would otherwise go unseen.
const RACY_WINDOW_NS: i64 = 2_000_000_000;
/// Most problem files listed by name in a report (all are counted).
const MAX_LISTED_PROBLEMS: usize = 20;

/// One indexing run of one root.
#[derive(Debug, Clone, Default)]
pub struct IndexRequest {
    pub root: PathBuf,
    /// Settings to change; the others keep the index's previous values (or the defaults).
    pub options: IndexOptions,
    /// Rebuild from scratch, with `options` over the defaults (not the previous settings).
    pub force: bool,
    /// Worker threads for reading and for the index writer; 0 = one per core.
    pub threads: usize,
    /// Set to stop the run; nothing it did is committed.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Settings given for a run; `None` keeps what the index had.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexOptions {
    pub chunk_lines: Option<usize>,
    pub overlap: Option<usize>,
    pub max_file_bytes: Option<u64>,
    pub exclude: Option<Vec<String>>,
    /// BM25 `k1` and `b`, each on its own.
    pub bm25_k1: Option<f32>,
    pub bm25_b: Option<f32>,
}

impl IndexOptions {
    fn over(&self, base: &Settings) -> Settings {
        Settings {
            chunk_lines: self.chunk_lines.unwrap_or(base.chunk_lines),
            overlap: self.overlap.unwrap_or(base.overlap),
            max_file_bytes: self.max_file_bytes.unwrap_or(base.max_file_bytes),
            exclude: self.exclude.clone().unwrap_or_else(|| base.exclude.clone()),
            bm25: Bm25Params {
                k1: self.bm25_k1.unwrap_or(base.bm25.k1),
                b: self.bm25_b.unwrap_or(base.bm25.b),
            },
        }
    }
}

/// Where a run is; sent to the caller's callback from the worker threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Listing the files.
    Walking,
    /// The walk found this many regular files.
    Walked { files: u64 },
    /// `done` of `total` files compared (and read and indexed where needed).
    Files { done: u64, total: u64 },
    /// Writing the index to disk.
    Committing,
}

/// A file that could not be indexed, with why.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    pub root: PathBuf,
    pub index_dir: PathBuf,
    /// Why the index was rebuilt from scratch, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt: Option<String>,
    /// Regular files the walk found (after ignore files and excludes).
    pub files_seen: u64,
    /// New or changed files, chunked and written.
    pub files_indexed: u64,
    /// Files whose content is as indexed (including read-and-hashed ones).
    pub files_unchanged: u64,
    /// Files read and hashed (the others were judged unchanged by size and mtime).
    pub files_read: u64,
    /// Files that left the index (deleted, now ignored, excluded or skipped).
    pub files_deleted: u64,
    /// Files left out, by reason (`binary`, `too_large`, `unreadable`, `symlink`, `special`).
    pub skipped: BTreeMap<String, u64>,
    /// The first unreadable files, with the error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    pub chunks_written: u64,
    /// Files and chunks in the index after the run.
    pub files_total: u64,
    pub chunks_total: u64,
    pub elapsed_ms: u64,
    /// Bytes on disk of the whole index directory.
    pub index_bytes: u64,
    pub settings: Settings,
}

/// Builds or updates the index of `request.root`; `progress` hears where the run is.
pub fn index(
    home: &IndexHome,
    request: &IndexRequest,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<IndexReport> {
    let started = Instant::now();
    let started_ns = now_ns();
    let root = canonical_root(&request.root)?;
    let dir = home.dir_for(&root);
    let existing = existing(&dir)?;
    let previous = match &existing {
        Existing::Usable(_, payload) => payload.clone(),
        Existing::Missing | Existing::Unusable(_) => None,
    };
    let base = match (&previous, request.force) {
        (Some(previous), false) => previous.settings.clone(),
        _ => Settings::default(),
    };
    let settings = request.options.over(&base);
    settings.validate()?;
    walk::check_excludes(&root, &settings.exclude)?;

    let (index, mut rebuilt) = match existing {
        Existing::Usable(index, _) => (*index, None),
        Existing::Missing => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            (create_index(&dir)?, None)
        }
        Existing::Unusable(reason) => {
            tracing::warn!(dir = %dir.display(), "rebuilding the code index: {reason}");
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            (create_index(&dir)?, Some(reason))
        }
    };
    let fields = Fields::of(&index.schema()).ok_or_else(|| Error::Outdated(root.clone()))?;
    if rebuilt.is_none() {
        if request.force {
            rebuilt = Some("forced".to_owned());
        } else if let Some(previous) = &previous
            && !previous.settings.same_chunking(&settings)
        {
            rebuilt = Some(format!(
                "chunking changed from {}/{} to {}/{} lines (size/overlap)",
                previous.settings.chunk_lines,
                previous.settings.overlap,
                settings.chunk_lines,
                settings.overlap
            ));
        }
    }

    let threads = match request.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let writer: IndexWriter<TantivyDocument> = index
        .writer_with_num_threads(threads, WRITER_BUDGET_PER_THREAD * threads)
        .map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => Error::Busy(root.clone()),
            other => Error::Index(other),
        })?;
    let manifest = if rebuilt.is_some() {
        writer.delete_all_documents()?;
        HashMap::new()
    } else {
        load_manifest(&searcher(&index)?, fields)?
    };
    let racy_since = match (&previous, &rebuilt) {
        (Some(previous), None) => previous.started_ns.saturating_sub(RACY_WINDOW_NS),
        _ => i64::MAX,
    };

    progress(Progress::Walking);
    let walked = walk::walk(&root, &settings.exclude, threads)?;
    progress(Progress::Walked {
        files: walked.files.len() as u64,
    });
    let work = Work {
        files: &walked.files,
        manifest: &manifest,
        writer: &writer,
        fields,
        settings: &settings,
        racy_since,
        next: AtomicUsize::new(0),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        cancel: request.cancel.as_deref(),
        progress,
    };
    let outcomes = work.run(threads)?;
    if request
        .cancel
        .as_deref()
        .is_some_and(|c| c.load(Ordering::Relaxed))
    {
        return Err(Error::Cancelled);
    }

    let mut report = IndexReport {
        root: root.clone(),
        index_dir: dir.clone(),
        rebuilt,
        files_seen: walked.files.len() as u64,
        files_indexed: 0,
        files_unchanged: 0,
        files_read: 0,
        files_deleted: 0,
        skipped: BTreeMap::new(),
        problems: Vec::new(),
        chunks_written: 0,
        files_total: 0,
        chunks_total: 0,
        elapsed_ms: 0,
        index_bytes: 0,
        settings: settings.clone(),
    };
    let mut present = HashSet::with_capacity(walked.files.len());
    let mut skips = Vec::new();
    for (i, outcome) in outcomes {
        let file = &walked.files[i];
        match outcome {
            Outcome::Unchanged { read } => {
                report.files_unchanged += 1;
                report.files_read += u64::from(read);
                present.insert(file.path.as_str());
            }
            Outcome::Touched => {
                report.files_unchanged += 1;
                report.files_read += 1;
                present.insert(file.path.as_str());
            }
            Outcome::Indexed { chunks } => {
                report.files_indexed += 1;
                report.files_read += 1;
                report.chunks_written += chunks;
                present.insert(file.path.as_str());
            }
            Outcome::Skipped(reason, detail) => skips.push((file.path.clone(), reason, detail)),
        }
    }
    skips.extend(
        walked
            .skipped
            .iter()
            .map(|s| (s.path.clone(), s.reason, s.detail.clone())),
    );
    report.skipped = walk::count_reasons(skips.iter().map(|(_, reason, _)| *reason));
    report.problems = skips
        .into_iter()
        .filter(|(_, reason, _)| *reason == SkipReason::Unreadable)
        .take(MAX_LISTED_PROBLEMS)
        .map(|(path, reason, detail)| Problem {
            path,
            reason: reason.as_str(),
            detail,
        })
        .collect();
    for path in manifest
        .keys()
        .filter(|p| !present.contains(String::as_str(p)))
    {
        writer.delete_term(Term::from_field_text(fields.file_path, path));
        writer.delete_term(Term::from_field_text(fields.path, path));
        report.files_deleted += 1;
    }

    progress(Progress::Committing);
    let payload = Payload {
        format: FORMAT,
        root,
        settings,
        started_ns,
    };
    let mut writer = writer;
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&payload.to_json());
    prepared.commit()?;
    writer.wait_merging_threads()?;

    let searcher = searcher(&index)?;
    report.files_total = count(&searcher, fields, KIND_FILE)?;
    report.chunks_total = count(&searcher, fields, KIND_CHUNK)?;
    report.index_bytes = dir_bytes(&dir);
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        root = %report.root.display(),
        indexed = report.files_indexed,
        unchanged = report.files_unchanged,
        deleted = report.files_deleted,
        elapsed_ms = report.elapsed_ms,
        "code index updated"
    );
    Ok(report)
}

/// What is in an index directory.
enum Existing {
    Missing,
    Usable(Box<Index>, Option<Payload>),
    /// An index of another format, or one that cannot be opened: it is replaced.
    Unusable(String),
}

fn existing(dir: &Path) -> Result<Existing> {
    if !dir.join("meta.json").is_file() {
        return Ok(Existing::Missing);
    }
    let index = match Index::open_in_dir(dir) {
        Ok(index) => index,
        Err(e) => {
            return Ok(Existing::Unusable(format!(
                "the index could not be opened ({e})"
            )));
        }
    };
    if Fields::of(&index.schema()).is_none() {
        return Ok(Existing::Unusable(
            "the index was built by another version".to_owned(),
        ));
    }
    match Payload::read(&index)? {
        Some(payload) if payload.format != FORMAT => Ok(Existing::Unusable(format!(
            "index format {} replaced by {FORMAT}",
            payload.format
        ))),
        payload => {
            register_tokenizer(&index);
            Ok(Existing::Usable(Box::new(index), payload))
        }
    }
}

fn searcher(index: &Index) -> Result<Searcher> {
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    Ok(reader.searcher())
}

fn count(searcher: &Searcher, fields: Fields, kind: &str) -> Result<u64> {
    let query = TermQuery::new(
        Term::from_field_text(fields.kind, kind),
        IndexRecordOption::Basic,
    );
    Ok(query.count(searcher)? as u64)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Total size of the files directly in `dir` (tantivy keeps an index flat).
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(std::result::Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
