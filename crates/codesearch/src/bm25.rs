//! BM25 with settable `k1` and `b`. Tantivy 0.27 ranks with BM25 but fixes k1 = 1.2 and
//! b = 0.75 as constants, so this module supplies a term query that scores with the same
//! formula and statistics source (tantivy's postings, term frequencies and field norms) and
//! the caller's parameters; the defaults reproduce tantivy's scores (a test holds that).
//!
//! score(term, doc) = idf · (k1 + 1) · tf / (tf + k1 · (1 − b + b · dl / avgdl)), with
//! idf = ln(1 + (N − df + 0.5) / (df + 0.5)); N is the number of chunk documents (the
//! manifest's file documents are not counted), dl the document's field length.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, Searcher, SegmentReader, TantivyError, Term};

use crate::error::{Error, Result};

/// BM25's parameters: `k1` (term-frequency saturation, ≥ 0) and `b` (length normalization,
/// 0 to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bm25Params {
    pub k1: f32,
    pub b: f32,
}

impl Default for Bm25Params {
    /// Tantivy's (and Lucene's) values.
    fn default() -> Self {
        Self { k1: 1.2, b: 0.75 }
    }
}

impl Bm25Params {
    pub fn validate(&self) -> Result<()> {
        if !self.k1.is_finite() || self.k1 < 0.0 || self.k1 > 100.0 {
            return Err(Error::InvalidOption(format!(
                "BM25 k1 must be between 0 and 100, got {}",
                self.k1
            )));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(Error::InvalidOption(format!(
                "BM25 b must be between 0 and 1, got {}",
                self.b
            )));
        }
        Ok(())
    }
}

/// One term in one text field, scored with [`Bm25Params`] over `doc_count` documents.
#[derive(Debug, Clone)]
pub struct Bm25TermQuery {
    term: Term,
    params: Bm25Params,
    doc_count: u64,
}

impl Bm25TermQuery {
    pub fn new(term: Term, params: Bm25Params, doc_count: u64) -> Self {
        Self {
            term,
            params,
            doc_count,
        }
    }
}

impl Query for Bm25TermQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let Some(searcher) = enable_scoring.searcher() else {
            return Err(TantivyError::InvalidArgument(
                "a BM25 term query needs a searcher".to_owned(),
            ));
        };
        Ok(Box::new(Bm25TermWeight::new(
            searcher,
            self.term.clone(),
            self.params,
            self.doc_count,
        )?))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        visitor(&self.term, false);
    }
}

struct Bm25TermWeight {
    term: Term,
    /// idf · (k1 + 1)
    weight: Score,
    /// k1 · (1 − b + b · dl / avgdl) for each of tantivy's 256 field-norm codes.
    norms: Arc<[Score; 256]>,
}

impl Bm25TermWeight {
    fn new(
        searcher: &Searcher,
        term: Term,
        params: Bm25Params,
        doc_count: u64,
    ) -> tantivy::Result<Self> {
        let field = term.field();
        let mut tokens = 0u64;
        for segment in searcher.segment_readers() {
            tokens += segment.inverted_index(field)?.total_num_tokens();
        }
        let doc_freq = searcher.doc_freq(&term)?;
        let docs = doc_count.max(doc_freq).max(1);
        let average = (tokens as Score / docs as Score).max(1e-6);
        let mut norms = [0.0; 256];
        for (id, norm) in norms.iter_mut().enumerate() {
            let length = FieldNormReader::id_to_fieldnorm(id as u8) as Score;
            *norm = params.k1 * (1.0 - params.b + params.b * length / average);
        }
        Ok(Self {
            term,
            weight: idf(doc_freq, docs) * (params.k1 + 1.0),
            norms: Arc::new(norms),
        })
    }

    fn term_scorer(
        &self,
        reader: &SegmentReader,
        boost: Score,
    ) -> tantivy::Result<Option<Bm25Scorer>> {
        let field = self.term.field();
        let postings = reader
            .inverted_index(field)?
            .read_postings(&self.term, IndexRecordOption::WithFreqs)?;
        let Some(postings) = postings else {
            return Ok(None);
        };
        Ok(Some(Bm25Scorer {
            postings,
            fieldnorms: reader.get_fieldnorms_reader(field)?,
            weight: self.weight * boost,
            norms: self.norms.clone(),
        }))
    }
}

fn idf(doc_freq: u64, docs: u64) -> Score {
    let x = ((docs - doc_freq) as Score + 0.5) / (doc_freq as Score + 0.5);
    (1.0 + x).ln()
}

impl Weight for Bm25TermWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.term_scorer(reader, boost)? {
            Some(scorer) => Box::new(scorer),
            None => Box::new(EmptyScorer),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if let Some(mut scorer) = self.term_scorer(reader, 1.0)?
            && scorer.seek(doc) == doc
        {
            return Ok(Explanation::new(
                "BM25 (k1, b as configured)",
                scorer.score(),
            ));
        }
        Err(TantivyError::InvalidArgument(format!(
            "document {doc} does not match the term"
        )))
    }
}

struct Bm25Scorer {
    postings: SegmentPostings,
    fieldnorms: FieldNormReader,
    weight: Score,
    norms: Arc<[Score; 256]>,
}

impl DocSet for Bm25Scorer {
    fn advance(&mut self) -> DocId {
        self.postings.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.postings.seek(target)
    }

    fn doc(&self) -> DocId {
        self.postings.doc()
    }

    fn size_hint(&self) -> u32 {
        self.postings.size_hint()
    }
}

impl Scorer for Bm25Scorer {
    fn score(&mut self) -> Score {
        let tf = self.postings.term_freq() as Score;
        let norm = self.norms[usize::from(self.fieldnorms.fieldnorm_id(self.doc()))];
        self.weight * tf / (tf + norm)
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::TermQuery;
    use tantivy::schema::{Schema, TEXT};
    use tantivy::{DocAddress, Index, TantivyDocument};

    use super::*;

    fn index(texts: &[&str]) -> (Index, tantivy::schema::Field) {
        let mut builder = Schema::builder();
        let body = builder.add_text_field("body", TEXT);
        let index = Index::create_in_ram(builder.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for text in texts {
            let mut doc = TantivyDocument::default();
            doc.add_text(body, text);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        (index, body)
    }

    fn scores(searcher: &Searcher, query: &dyn Query) -> Vec<(DocAddress, f32)> {
        let mut top: Vec<(DocAddress, f32)> = searcher
            .search(query, &TopDocs::with_limit(10).order_by_score())
            .unwrap()
            .into_iter()
            .map(|(score, address)| (address, score))
            .collect();
        top.sort_by_key(|(address, _)| *address);
        top
    }

    #[test]
    fn default_parameters_reproduce_tantivys_own_bm25_scores() {
        let (index, body) = index(&[
            "config parse config",
            "config",
            "parse the whole config file with many more words in it",
            "nothing relevant",
        ]);
        let searcher = index.reader().unwrap().searcher();
        let term = Term::from_field_text(body, "config");
        let theirs = scores(
            &searcher,
            &TermQuery::new(term.clone(), IndexRecordOption::WithFreqs),
        );
        let ours = scores(
            &searcher,
            &Bm25TermQuery::new(term, Bm25Params::default(), searcher.num_docs()),
        );
        assert_eq!(theirs.len(), 3);
        assert_eq!(theirs.len(), ours.len());
        for ((a, x), (b, y)) in theirs.iter().zip(&ours) {
            assert_eq!(a, b);
            assert!((x - y).abs() < 1e-5, "tantivy {x} vs ours {y}");
        }
    }

    #[test]
    fn b_zero_ignores_document_length_and_k1_zero_ignores_term_frequency() {
        let (index, body) = index(&[
            "config",
            "config and a lot of other words here",
            "config config",
        ]);
        let searcher = index.reader().unwrap().searcher();
        let term = Term::from_field_text(body, "config");
        let n = searcher.num_docs();
        let no_length = scores(
            &searcher,
            &Bm25TermQuery::new(term.clone(), Bm25Params { k1: 1.2, b: 0.0 }, n),
        );
        assert!(
            (no_length[0].1 - no_length[1].1).abs() < 1e-6,
            "{no_length:?}"
        );
        let with_length = scores(
            &searcher,
            &Bm25TermQuery::new(term.clone(), Bm25Params::default(), n),
        );
        assert!(with_length[0].1 > with_length[1].1, "{with_length:?}");
        let no_tf = scores(
            &searcher,
            &Bm25TermQuery::new(term, Bm25Params { k1: 0.0, b: 0.75 }, n),
        );
        assert!((no_tf[0].1 - no_tf[2].1).abs() < 1e-6, "{no_tf:?}");
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert!(Bm25Params { k1: -1.0, b: 0.5 }.validate().is_err());
        assert!(Bm25Params { k1: 1.0, b: 1.5 }.validate().is_err());
        assert!(
            Bm25Params {
                k1: f32::NAN,
                b: 0.5
            }
            .validate()
            .is_err()
        );
        assert!(Bm25Params::default().validate().is_ok());
    }
}
