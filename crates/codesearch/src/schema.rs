//! The index's schema and what it keeps about itself. Two kinds of documents share one tantivy
//! index: a `file` document per indexed file (the manifest: path, size, mtime, content hash,
//! language, chunk count) and a `chunk` document per chunk (path, language, line range, text).
//! The settings an index was built with ride in tantivy's commit payload, so the index
//! directory holds all of code search's state and nothing else does.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexSettings};

use crate::bm25::Bm25Params;
use crate::error::{Error, Result};
use crate::tokenizer::{ANALYZER, CodeTokenizer};

/// Bumped whenever the schema or the meaning of a field changes: an index of another format is
/// rebuilt.
pub const FORMAT: u32 = 1;

pub const KIND_FILE: &str = "file";
pub const KIND_CHUNK: &str = "chunk";

/// Default chunk size and overlap, in lines.
pub const DEFAULT_CHUNK_LINES: usize = 60;
pub const DEFAULT_OVERLAP: usize = 10;
/// Files larger than this are skipped by default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Largest chunk size accepted.
pub const MAX_CHUNK_LINES: usize = 10_000;

/// The fields of both document kinds.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// `file` or `chunk` (indexed, not stored).
    pub kind: Field,
    /// A file document's path, relative to the root with `/` separators: its key.
    pub file_path: Field,
    /// A chunk's file path (its key for deletion, and the `--path` filter's terms).
    pub path: Field,
    /// The chunk's path split into words, searched with a lower weight than the text.
    pub path_terms: Field,
    pub lang: Field,
    pub start_line: Field,
    pub end_line: Field,
    /// The chunk's text (searched and stored, for snippets).
    pub content: Field,
    pub size: Field,
    pub mtime_ns: Field,
    pub hash: Field,
    pub chunks: Field,
}

impl Fields {
    pub fn schema() -> (Schema, Fields) {
        let text = |stored: bool| {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqs);
            let options = TextOptions::default().set_indexing_options(indexing);
            if stored {
                options.set_stored()
            } else {
                options
            }
        };
        let mut builder = Schema::builder();
        let fields = Fields {
            kind: builder.add_text_field("kind", STRING),
            file_path: builder.add_text_field("file_path", STRING | STORED),
            path: builder.add_text_field("path", STRING | STORED),
            path_terms: builder.add_text_field("path_terms", text(false)),
            lang: builder.add_text_field("lang", STRING | STORED),
            start_line: builder.add_u64_field("start_line", STORED),
            end_line: builder.add_u64_field("end_line", STORED),
            content: builder.add_text_field("content", text(true)),
            size: builder.add_u64_field("size", STORED),
            mtime_ns: builder.add_i64_field("mtime_ns", STORED),
            hash: builder.add_bytes_field("hash", STORED),
            chunks: builder.add_u64_field("chunks", STORED),
        };
        (builder.build(), fields)
    }

    /// The fields of an opened index, by name; `None` when its schema is not this one.
    pub fn of(schema: &Schema) -> Option<Fields> {
        let (expected, fields) = Self::schema();
        (schema == &expected).then_some(fields)
    }
}

/// Registers the code tokenizer on an index (needed before writing and for searching).
pub fn register_tokenizer(index: &Index) {
    index
        .tokenizers()
        .register(ANALYZER, CodeTokenizer::default());
}

/// How an index is built and ranked; kept in the commit payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Lines per chunk.
    pub chunk_lines: usize,
    /// Lines shared by consecutive chunks.
    pub overlap: usize,
    /// Larger files are skipped.
    pub max_file_bytes: u64,
    /// Gitignore-style globs (relative to the root) left out of the index.
    pub exclude: Vec<String>,
    /// BM25 parameters used when searching this index.
    pub bm25: Bm25Params,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            chunk_lines: DEFAULT_CHUNK_LINES,
            overlap: DEFAULT_OVERLAP,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            exclude: Vec::new(),
            bm25: Bm25Params::default(),
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<()> {
        if self.chunk_lines == 0 || self.chunk_lines > MAX_CHUNK_LINES {
            return Err(Error::InvalidOption(format!(
                "chunk lines must be between 1 and {MAX_CHUNK_LINES}, got {}",
                self.chunk_lines
            )));
        }
        if self.overlap >= self.chunk_lines {
            return Err(Error::InvalidOption(format!(
                "the overlap ({}) must be smaller than the chunk size ({} lines)",
                self.overlap, self.chunk_lines
            )));
        }
        if self.max_file_bytes == 0 {
            return Err(Error::InvalidOption(
                "the largest file size must be above 0 bytes".to_owned(),
            ));
        }
        self.bm25.validate()
    }

    /// Whether indexes built with `self` and `other` chunk files the same way (if not, every
    /// file must be chunked again).
    pub fn same_chunking(&self, other: &Settings) -> bool {
        self.chunk_lines == other.chunk_lines && self.overlap == other.overlap
    }
}

/// What an index keeps about itself, in tantivy's commit payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    pub format: u32,
    pub root: PathBuf,
    pub settings: Settings,
    /// When the last committed indexing run started (ns since the Unix epoch): files modified
    /// since shortly before then are re-read even when size and mtime match.
    pub started_ns: i64,
}

impl Payload {
    /// The payload of an index's last commit; `None` for a fresh index or a foreign payload.
    pub fn read(index: &Index) -> Result<Option<Payload>> {
        let meta = index.load_metas()?;
        Ok(meta
            .payload
            .as_deref()
            .and_then(|text| serde_json::from_str::<Payload>(text).ok()))
    }

    pub fn to_json(&self) -> String {
        // Plain data: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A new, empty index in `dir` with this schema.
pub fn create_index(dir: &Path) -> Result<Index> {
    let (schema, _) = Fields::schema();
    let index = Index::builder()
        .schema(schema)
        .settings(IndexSettings::default())
        .create_in_dir(dir)?;
    register_tokenizer(&index);
    Ok(index)
}
