//! The one error type of code search: bad input (a missing directory, an invalid option or
//! glob, an empty query, no index for a path) and index failures, each with a message meant
//! for the person or model that asked.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: no such directory", .0.display())]
    MissingRoot(PathBuf),
    #[error("{}: not a directory (index a directory)", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no code index covers {}: run `fusion index {}` (or the code_index tool) first", .0.display(), .0.display())]
    NotIndexed(PathBuf),
    #[error("the query has no searchable words (it needs letters or digits)")]
    EmptyQuery,
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("invalid glob `{glob}`: {reason}")]
    InvalidGlob { glob: String, reason: String },
    #[error("the index of {} is being written by another indexing run; try again when it ends", .0.display())]
    Busy(PathBuf),
    #[error("indexing was cancelled; the index is as it was before")]
    Cancelled,
    #[error("the index of {} was built by another version of Fusion: run `fusion index {}` to rebuild it", .0.display(), .0.display())]
    Outdated(PathBuf),
    #[error("code index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("code index: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
