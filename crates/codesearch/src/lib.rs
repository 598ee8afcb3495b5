//! Code search for agents: a full-text index of source files, one per indexed root, kept on
//! disk under Fusion's data directory. This crate owns walking (gitignore-aware, parallel),
//! chunking files into overlapping line ranges, the code-aware tokenizer, incremental
//! (re)indexing with the per-file manifest kept inside the index, BM25 ranking with settable
//! `k1` and `b`, and ranked, highlighted search results. Front doors (`fusion index`/`search`,
//! the MCP tools) are thin layers over it; progress is reported through a callback.

mod bm25;
mod chunk;
mod error;
mod indexer;
mod lang;
mod location;
mod schema;
mod search;
mod snippet;
mod tokenizer;
mod walk;
mod work;

pub use bm25::Bm25Params;
pub use chunk::{Chunk, chunks};
pub use error::{Error, Result};
pub use indexer::{IndexOptions, IndexReport, IndexRequest, Problem, Progress, index};
pub use lang::{normalize as normalize_language, of_path as language_of};
pub use location::{IndexHome, canonical_root};
pub use schema::{
    DEFAULT_CHUNK_LINES, DEFAULT_MAX_FILE_BYTES, DEFAULT_OVERLAP, MAX_CHUNK_LINES, Settings,
};
pub use search::{CodeIndex, Hit, MAX_LIMIT, SearchRequest, SearchResults};
pub use snippet::{MatchRange, SNIPPET_LINES, SnippetLine};
pub use tokenizer::{CodeTokenizer, distinct_terms};
