//! The per-file work of an indexing run: the manifest (the `file` documents, read into memory
//! at the start of a run) and the worker threads that compare each found file with it and
//! read, hash, chunk and write what changed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::{IndexWriter, Searcher, TantivyDocument, Term};

use crate::chunk;
use crate::error::{Error, Result};
use crate::indexer::Progress;
use crate::lang;
use crate::schema::{Fields, KIND_CHUNK, KIND_FILE, Settings};
use crate::walk::{self, FileText, FoundFile, SkipReason};

/// What the manifest knows about one indexed file.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    size: u64,
    mtime_ns: i64,
    hash: Vec<u8>,
    chunks: u64,
}

pub(crate) enum Outcome {
    Unchanged {
        read: bool,
    },
    /// Read, same content: only the manifest entry was rewritten.
    Touched,
    Indexed {
        chunks: u64,
    },
    Skipped(SkipReason, Option<String>),
}

/// The manifest: every `file` document, by path.
pub(crate) fn load_manifest(searcher: &Searcher, fields: Fields) -> Result<HashMap<String, Known>> {
    let query = TermQuery::new(
        Term::from_field_text(fields.kind, KIND_FILE),
        IndexRecordOption::Basic,
    );
    let mut addresses: Vec<_> = searcher
        .search(&query, &DocSetCollector)?
        .into_iter()
        .collect();
    // Document order keeps the document store's block cache warm.
    addresses.sort();
    let mut manifest = HashMap::with_capacity(addresses.len());
    for address in addresses {
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field| doc.get_first(field).and_then(|v| v.as_str());
        let number = |field| doc.get_first(field).and_then(|v| v.as_u64());
        let Some(path) = text(fields.file_path) else {
            continue;
        };
        manifest.insert(
            path.to_owned(),
            Known {
                size: number(fields.size).unwrap_or(0),
                mtime_ns: doc
                    .get_first(fields.mtime_ns)
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0),
                hash: doc
                    .get_first(fields.hash)
                    .and_then(|v| v.as_bytes())
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
                chunks: number(fields.chunks).unwrap_or(0),
            },
        );
    }
    Ok(manifest)
}

/// The second phase of a run: the found files, shared by the worker threads.
pub(crate) struct Work<'a> {
    pub(crate) files: &'a [FoundFile],
    pub(crate) manifest: &'a HashMap<String, Known>,
    pub(crate) writer: &'a IndexWriter<TantivyDocument>,
    pub(crate) fields: Fields,
    pub(crate) settings: &'a Settings,
    pub(crate) racy_since: i64,
    pub(crate) next: AtomicUsize,
    pub(crate) done: AtomicU64,
    /// Set by the first worker that fails, so the others stop too.
    pub(crate) stop: AtomicBool,
    pub(crate) cancel: Option<&'a AtomicBool>,
    pub(crate) progress: &'a (dyn Fn(Progress) + Sync),
}

impl Work<'_> {
    pub(crate) fn run(&self, threads: usize) -> Result<Vec<(usize, Outcome)>> {
        let results: Vec<Result<Vec<(usize, Outcome)>>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| scope.spawn(|| self.worker()))
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(Error::Internal("an indexing thread panicked".to_owned()))
                    })
                })
                .collect()
        });
        let mut all = Vec::with_capacity(self.files.len());
        for result in results {
            all.extend(result?);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all)
    }

    fn worker(&self) -> Result<Vec<(usize, Outcome)>> {
        let mut out = Vec::new();
        let total = self.files.len() as u64;
        loop {
            if self.stop.load(Ordering::Relaxed)
                || self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
            {
                break;
            }
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(file) = self.files.get(i) else {
                break;
            };
            match self.one(file) {
                Ok(outcome) => out.push((i, outcome)),
                Err(e) => {
                    self.stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
            (self.progress)(Progress::Files { done, total });
        }
        Ok(out)
    }

    fn one(&self, file: &FoundFile) -> Result<Outcome> {
        let known = self.manifest.get(&file.path);
        if let Some(known) = known
            && known.size == file.size
            && known.mtime_ns == file.mtime_ns
            && file.mtime_ns < self.racy_since
        {
            return Ok(Outcome::Unchanged { read: false });
        }
        if file.size > self.settings.max_file_bytes {
            return Ok(Outcome::Skipped(SkipReason::TooLarge, None));
        }
        let (text, hash, size) = match walk::read_text(file, self.settings.max_file_bytes) {
            FileText::Text { text, hash, size } => (text, hash, size),
            FileText::Skipped(reason, detail) => return Ok(Outcome::Skipped(reason, detail)),
        };
        let fields = self.fields;
        let language = lang::of_path(Path::new(&file.path));
        if let Some(known) = known
            && known.hash == hash
        {
            if known.size == size && known.mtime_ns == file.mtime_ns {
                return Ok(Outcome::Unchanged { read: true });
            }
            self.writer
                .delete_term(Term::from_field_text(fields.file_path, &file.path));
            self.writer.add_document(file_doc(
                fields,
                file,
                size,
                &hash,
                language,
                known.chunks,
            ))?;
            return Ok(Outcome::Touched);
        }
        if known.is_some() {
            self.writer
                .delete_term(Term::from_field_text(fields.file_path, &file.path));
            self.writer
                .delete_term(Term::from_field_text(fields.path, &file.path));
        }
        let chunks = chunk::chunks(&text, self.settings.chunk_lines, self.settings.overlap);
        let count = chunks.len() as u64;
        self.writer
            .add_document(file_doc(fields, file, size, &hash, language, count))?;
        for chunk in chunks {
            let mut doc = TantivyDocument::default();
            doc.add_text(fields.kind, KIND_CHUNK);
            doc.add_text(fields.path, &file.path);
            doc.add_text(fields.path_terms, &file.path);
            doc.add_text(fields.lang, language);
            doc.add_u64(fields.start_line, u64::from(chunk.start_line));
            doc.add_u64(fields.end_line, u64::from(chunk.end_line));
            doc.add_text(fields.content, chunk.text);
            self.writer.add_document(doc)?;
        }
        Ok(Outcome::Indexed { chunks: count })
    }
}

fn file_doc(
    fields: Fields,
    file: &FoundFile,
    size: u64,
    hash: &[u8],
    language: &str,
    chunks: u64,
) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(fields.kind, KIND_FILE);
    doc.add_text(fields.file_path, &file.path);
    doc.add_text(fields.lang, language);
    doc.add_u64(fields.size, size);
    doc.add_i64(fields.mtime_ns, file.mtime_ns);
    doc.add_bytes(fields.hash, hash);
    doc.add_u64(fields.chunks, chunks);
    doc
}
