//! Finding the files of a root: a parallel, gitignore-aware walk (`.gitignore`, `.ignore`,
//! `.git/info/exclude` and the global git excludes, honoured also outside git repositories;
//! hidden files skipped; symlinks not followed) minus the exclude globs, giving each regular
//! file's relative path, size and mtime; and reading one file's text for indexing (binary files
//! — a NUL byte in the first 8 KiB — and oversized ones are refused).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use ignore::overrides::OverrideBuilder;
use ignore::{ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};

use crate::error::{Error, Result};

/// How much of a file is looked at for a NUL byte.
const BINARY_PROBE_BYTES: usize = 8 * 1024;

/// Why a file was left out of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A NUL byte in its first 8 KiB.
    Binary,
    /// Larger than the size limit.
    TooLarge,
    /// It could not be opened or read (permissions, vanished, an I/O error).
    Unreadable,
    /// A symbolic link (never followed).
    Symlink,
    /// Not a regular file: a FIFO, socket or device.
    Special,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::TooLarge => "too_large",
            Self::Unreadable => "unreadable",
            Self::Symlink => "symlink",
            Self::Special => "special",
        }
    }
}

/// A regular file found by the walk.
#[derive(Debug, Clone)]
pub struct FoundFile {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub absolute: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
}

/// A file (or directory) the walk could not take, with the reason.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: String,
    pub reason: SkipReason,
    pub detail: Option<String>,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walked {
    /// Sorted by path.
    pub files: Vec<FoundFile>,
    pub skipped: Vec<Skipped>,
}

/// Walks `root` (canonical) with `threads` threads, leaving out the `exclude` globs
/// (gitignore syntax, relative to the root) and every file the ignore files rule out.
pub fn walk(root: &Path, exclude: &[String], threads: usize) -> Result<Walked> {
    let overrides = excludes(root, exclude)?;
    let walker = WalkBuilder::new(root)
        .hidden(true)
        .follow_links(false)
        .require_git(false)
        .overrides(overrides)
        .threads(threads.max(1))
        .build_parallel();
    let found = Mutex::new(Walked::default());
    walker.visit(&mut CollectorBuilder {
        root,
        found: &found,
    });
    let mut walked = found
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    walked.files.sort_by(|a, b| a.path.cmp(&b.path));
    walked.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walked)
}

/// Checks the exclude globs (the error names the first bad one).
pub fn check_excludes(root: &Path, exclude: &[String]) -> Result<()> {
    excludes(root, exclude).map(|_| ())
}

fn excludes(root: &Path, exclude: &[String]) -> Result<ignore::overrides::Override> {
    let mut overrides = OverrideBuilder::new(root);
    for glob in exclude {
        overrides
            .add(&format!("!{glob}"))
            .map_err(|e| Error::InvalidGlob {
                glob: glob.clone(),
                reason: e.to_string(),
            })?;
    }
    overrides.build().map_err(|e| Error::InvalidGlob {
        glob: exclude.join(", "),
        reason: e.to_string(),
    })
}

struct CollectorBuilder<'s> {
    root: &'s Path,
    found: &'s Mutex<Walked>,
}

impl<'s> ParallelVisitorBuilder<'s> for CollectorBuilder<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Collector {
            root: self.root,
            found: self.found,
            local: Walked::default(),
        })
    }
}

/// One walker thread's findings, handed over when the thread is done with it.
struct Collector<'s> {
    root: &'s Path,
    found: &'s Mutex<Walked>,
    local: Walked,
}

impl ParallelVisitor for Collector<'_> {
    fn visit(&mut self, entry: std::result::Result<ignore::DirEntry, ignore::Error>) -> WalkState {
        match entry {
            Ok(entry) => visit(self.root, &entry, &mut self.local),
            Err(e) => self.local.skipped.push(Skipped {
                path: error_path(self.root, &e),
                reason: SkipReason::Unreadable,
                detail: Some(e.to_string()),
            }),
        }
        WalkState::Continue
    }
}

impl Drop for Collector<'_> {
    fn drop(&mut self) {
        let mut all = self
            .found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.files.append(&mut self.local.files);
        all.skipped.append(&mut self.local.skipped);
    }
}

fn visit(root: &Path, entry: &ignore::DirEntry, out: &mut Walked) {
    let Some(kind) = entry.file_type() else {
        return; // stdin; never produced for a directory walk
    };
    if kind.is_dir() {
        return;
    }
    let path = relative(root, entry.path());
    if kind.is_symlink() {
        out.skipped.push(Skipped {
            path,
            reason: SkipReason::Symlink,
            detail: None,
        });
        return;
    }
    if !kind.is_file() {
        out.skipped.push(Skipped {
            path,
            reason: SkipReason::Special,
            detail: None,
        });
        return;
    }
    match entry.metadata() {
        Ok(meta) => out.files.push(FoundFile {
            path,
            absolute: entry.path().to_path_buf(),
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
        }),
        Err(e) => out.skipped.push(Skipped {
            path,
            reason: SkipReason::Unreadable,
            detail: Some(e.to_string()),
        }),
    }
}

fn error_path(root: &Path, error: &ignore::Error) -> String {
    let mut current = error;
    loop {
        match current {
            ignore::Error::WithPath { path, .. } => return relative(root, path),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                current = err;
            }
            _ => return String::new(),
        }
    }
}

/// `path` relative to `root`, with `/` separators.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Nanoseconds since the Unix epoch (negative before it; 0 when the platform has no mtime).
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    let Ok(modified) = meta.modified() else {
        return 0;
    };
    match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// A file's text as read for indexing.
pub enum FileText {
    /// Its text (invalid UTF-8 replaced) and the hash of its bytes.
    Text {
        text: String,
        hash: [u8; 16],
        size: u64,
    },
    Skipped(SkipReason, Option<String>),
}

/// Reads `file`: refused as binary when its first 8 KiB hold a NUL byte, as too large when it
/// has grown past `max_bytes` since the walk.
pub fn read_text(file: &FoundFile, max_bytes: u64) -> FileText {
    let mut handle = match std::fs::File::open(&file.absolute) {
        Ok(handle) => handle,
        Err(e) => return FileText::Skipped(SkipReason::Unreadable, Some(e.to_string())),
    };
    let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0).min(1 << 24) + 1);
    // One byte past the limit tells "grew too large" from "exactly at the limit".
    let limit = max_bytes.saturating_add(1);
    if let Err(e) = (&mut handle).take(limit).read_to_end(&mut bytes) {
        return FileText::Skipped(SkipReason::Unreadable, Some(e.to_string()));
    }
    if bytes.len() as u64 > max_bytes {
        return FileText::Skipped(SkipReason::TooLarge, None);
    }
    if bytes[..bytes.len().min(BINARY_PROBE_BYTES)].contains(&0) {
        return FileText::Skipped(SkipReason::Binary, None);
    }
    let hash = xxhash_rust::xxh3::xxh3_128(&bytes).to_le_bytes();
    let size = bytes.len() as u64;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    FileText::Text { text, hash, size }
}

/// Counts of skipped files by reason name, for reports.
pub fn count_reasons(reasons: impl Iterator<Item = SkipReason>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for reason in reasons {
        *counts.entry(reason.as_str().to_owned()).or_insert(0) += 1;
    }
    counts
}
