//! Searching one root's index: the query is analyzed with the code tokenizer (never parsed as
//! query syntax), every distinct term is scored with BM25 over the chunk text and, with a
//! lower weight, over the chunk's path; optional filters keep a language, a path glob or
//! prefix, or a subdirectory. Hits come back best first with a highlighted snippet.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery, TermSetQuery,
};
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::bm25::{Bm25Params, Bm25TermQuery};
use crate::error::{Error, Result};
use crate::lang;
use crate::location::{IndexHome, canonical_root};
use crate::schema::{Fields, KIND_CHUNK, Payload, Settings, register_tokenizer};
use crate::snippet::{SnippetLine, snippet};
use crate::tokenizer::distinct_terms;

/// Most hits one search returns.
pub const MAX_LIMIT: usize = 1000;
/// Most distinct query terms used; the rest of a very long query is ignored.
const MAX_QUERY_TERMS: usize = 64;
/// Weight of a match in the path against one in the text.
const PATH_BOOST: f32 = 0.5;

/// One search.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    /// At most this many hits (1 to [`MAX_LIMIT`]).
    pub limit: usize,
    /// Only paths matching this: a glob (`src/**/*.rs`; one without `/` also matches file
    /// names, `*.py`), or a literal directory or file path (`crates/mcp`, `main.rs`).
    pub path: Option<String>,
    /// Only this language (a name such as `rust`, or an extension such as `rs`).
    pub lang: Option<String>,
    /// Only under this directory, relative to the root (set when searching from a subdirectory).
    pub within: Option<String>,
    /// BM25 parameters for this search instead of the index's.
    pub bm25: Option<Bm25Params>,
}

/// Ranked hits of one search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    pub root: PathBuf,
    pub query: String,
    /// The analyzed query terms.
    pub terms: Vec<String>,
    pub hits: Vec<Hit>,
    pub elapsed_ms: f64,
}

/// One matching chunk.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub language: String,
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
    pub snippet: Vec<SnippetLine>,
}

/// An opened index, ready to search; cheap to keep (it maps the index files).
pub struct CodeIndex {
    root: PathBuf,
    reader: IndexReader,
    fields: Fields,
    settings: Settings,
}

impl CodeIndex {
    /// The index of `root` (made canonical); `NotIndexed` when there is none.
    pub fn open(home: &IndexHome, root: &Path) -> Result<CodeIndex> {
        let root = canonical_root(root)?;
        if !home.is_indexed(&root) {
            return Err(Error::NotIndexed(root));
        }
        let index = Index::open_in_dir(home.dir_for(&root))?;
        let fields = Fields::of(&index.schema()).ok_or_else(|| Error::Outdated(root.clone()))?;
        register_tokenizer(&index);
        let settings = Payload::read(&index)?
            .map(|p| p.settings)
            .unwrap_or_default();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(CodeIndex {
            root,
            reader,
            fields,
            settings,
        })
    }

    /// The index of the nearest indexed root at or above `path`, and `path` relative to that
    /// root when it is a subdirectory (searches can keep to it).
    pub fn open_enclosing(home: &IndexHome, path: &Path) -> Result<(CodeIndex, Option<String>)> {
        let canonical = canonical_root(path)?;
        let Some(root) = home.enclosing_root(&canonical)? else {
            return Err(Error::NotIndexed(canonical));
        };
        let within = (canonical != root).then(|| crate::walk::relative(&root, &canonical));
        Ok((CodeIndex::open(home, &root)?, within))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Picks up what indexing runs committed since the index was opened.
    pub fn reload(&self) -> Result<()> {
        Ok(self.reader.reload()?)
    }

    /// The best chunks for `request`, best first.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults> {
        let started = Instant::now();
        let mut terms = distinct_terms(&request.query);
        terms.truncate(MAX_QUERY_TERMS);
        if terms.is_empty() {
            return Err(Error::EmptyQuery);
        }
        if request.limit == 0 || request.limit > MAX_LIMIT {
            return Err(Error::InvalidOption(format!(
                "the limit must be between 1 and {MAX_LIMIT}, got {}",
                request.limit
            )));
        }
        let params = request.bm25.unwrap_or(self.settings.bm25);
        params.validate()?;
        let searcher = self.reader.searcher();
        let hits = match self.query(&searcher, &terms, request, params)? {
            Some(query) => self.collect(&searcher, &*query, &terms, request.limit)?,
            None => Vec::new(),
        };
        Ok(SearchResults {
            root: self.root.clone(),
            query: request.query.clone(),
            terms,
            hits,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// The tantivy query; `None` when a filter already rules everything out.
    fn query(
        &self,
        searcher: &Searcher,
        terms: &[String],
        request: &SearchRequest,
        params: Bm25Params,
    ) -> Result<Option<Box<dyn Query>>> {
        let fields = self.fields;
        let chunk_docs = searcher.doc_freq(&Term::from_field_text(fields.kind, KIND_CHUNK))?;
        let mut text: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * 2);
        for term in terms {
            let content = Bm25TermQuery::new(
                Term::from_field_text(fields.content, term),
                params,
                chunk_docs,
            );
            let path = Bm25TermQuery::new(
                Term::from_field_text(fields.path_terms, term),
                params,
                chunk_docs,
            );
            text.push((Occur::Should, Box::new(content)));
            text.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(path), PATH_BOOST)),
            ));
        }
        let text: Box<dyn Query> = Box::new(BooleanQuery::new(text));
        let mut filters: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(language) = &request.lang {
            let term = Term::from_field_text(fields.lang, &lang::normalize(language));
            filters.push((
                Occur::Must,
                unscored(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        for filter in [
            request.path.as_deref().map(PathFilter::new).transpose()?,
            request.within.as_deref().map(PathFilter::prefix),
        ]
        .into_iter()
        .flatten()
        {
            let paths = matching_paths(searcher, fields, &filter)?;
            if paths.is_empty() {
                return Ok(None);
            }
            filters.push((Occur::Must, unscored(TermSetQuery::new(paths))));
        }
        if filters.is_empty() {
            return Ok(Some(text));
        }
        filters.push((Occur::Must, text));
        Ok(Some(Box::new(BooleanQuery::new(filters))))
    }

    fn collect(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        terms: &[String],
        limit: usize,
    ) -> Result<Vec<Hit>> {
        let fields = self.fields;
        let top = searcher.search(query, &TopDocs::with_limit(limit).order_by_score())?;
        let wanted: HashSet<String> = terms.iter().cloned().collect();
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("");
            let line = |field| {
                doc.get_first(field)
                    .and_then(|v| v.as_u64())
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0)
            };
            let start_line = line(fields.start_line);
            hits.push(Hit {
                path: text(fields.path).to_owned(),
                language: text(fields.lang).to_owned(),
                start_line,
                end_line: line(fields.end_line),
                score,
                snippet: snippet(text(fields.content), start_line, &wanted),
            });
        }
        Ok(hits)
    }
}

/// A filter that does not change scores.
fn unscored(query: impl Query) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(Box::new(query), 0.0))
}

/// Which paths a `--path` value (or a subdirectory) keeps.
enum PathFilter {
    /// A glob, and whether it also matches bare file names (it has no `/`).
    Glob(GlobMatcher, bool),
    /// A literal path: itself, anything under it, and (without a `/`) any file of that name.
    Literal(String, bool),
}

impl PathFilter {
    fn new(pattern: &str) -> Result<PathFilter> {
        let pattern = pattern.trim().trim_start_matches("./");
        let names_too = !pattern.contains('/');
        if pattern.contains(['*', '?', '[', '{']) {
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| Error::InvalidGlob {
                    glob: pattern.to_owned(),
                    reason: e.kind().to_string(),
                })?;
            Ok(PathFilter::Glob(glob.compile_matcher(), names_too))
        } else {
            Ok(PathFilter::Literal(
                pattern.trim_end_matches('/').to_owned(),
                names_too,
            ))
        }
    }

    fn prefix(dir: &str) -> PathFilter {
        PathFilter::Literal(dir.trim_end_matches('/').to_owned(), false)
    }

    fn matches(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        match self {
            PathFilter::Glob(glob, names_too) => {
                glob.is_match(path) || (*names_too && glob.is_match(name))
            }
            PathFilter::Literal(literal, names_too) => {
                literal.is_empty()
                    || path == literal
                    || path
                        .strip_prefix(literal.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                    || (*names_too && name == literal)
            }
        }
    }
}

/// The chunk paths `filter` keeps, read from the path field's term dictionaries.
fn matching_paths(searcher: &Searcher, fields: Fields, filter: &PathFilter) -> Result<Vec<Term>> {
    let mut seen = HashSet::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(fields.path)?;
        let mut stream = inverted
            .terms()
            .stream()
            .map_err(|e| Error::Index(e.into()))?;
        while stream.advance() {
            if let Ok(path) = std::str::from_utf8(stream.key())
                && !seen.contains(path)
                && filter.matches(path)
            {
                seen.insert(path.to_owned());
            }
        }
    }
    Ok(seen
        .iter()
        .map(|path| Term::from_field_text(fields.path, path))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keeps(pattern: &str, path: &str) -> bool {
        PathFilter::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn globs_without_a_slash_match_file_names_anywhere() {
        assert!(keeps("*.rs", "src/deep/main.rs"));
        assert!(!keeps("*.rs", "src/main.py"));
        assert!(keeps("src/**/*.rs", "src/a/b/c.rs"));
        assert!(!keeps("src/*.rs", "src/a/c.rs"));
    }

    #[test]
    fn literal_paths_keep_themselves_and_what_is_under_them() {
        assert!(keeps("crates/mcp", "crates/mcp/src/lib.rs"));
        assert!(keeps("crates/mcp/", "crates/mcp/src/lib.rs"));
        assert!(!keeps("crates/mc", "crates/mcp/src/lib.rs"));
        assert!(keeps("main.rs", "src/main.rs"));
        assert!(keeps("./src", "src/main.rs"));
    }

    #[test]
    fn a_bad_glob_is_refused_naming_it() {
        let Err(Error::InvalidGlob { glob, .. }) = PathFilter::new("src/[") else {
            panic!("expected an invalid glob")
        };
        assert_eq!(glob, "src/[");
    }
}
