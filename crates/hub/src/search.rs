//! Full-text search over the aggregated tool catalog (what `find_tools` answers with): an
//! in-memory tantivy index of each tool's exposed name, title, description, argument names and
//! argument descriptions, with code search's identifier-aware tokenizer
//! ([`fusion_codesearch::CodeTokenizer`]: `_`, `-`, camelCase and letter/digit boundaries,
//! lowercased, split identifiers also kept whole), English-stemmed, and queries built
//! programmatically, so no user text is ever parsed as query syntax.

use std::collections::HashSet;

use fusion_codesearch::CodeTokenizer;
use rmcp::model::{JsonObject, Tool};
use serde_json::Value;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::tokenizer::{
    Language, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer, TokenStream,
};
use tantivy::{Index, ReloadPolicy, Searcher, TantivyDocument, Term};

/// Name under which the analyzer is registered in the index.
const ANALYZER: &str = "fusion_ident";
/// Tokens longer than this (bytes) are noise (hashes, base64) and are dropped.
const MAX_TOKEN_BYTES: usize = 40;
/// Indexing memory budget; tantivy's minimum per thread is 15 MB, and it is only a ceiling.
const WRITER_BUDGET_BYTES: usize = 20_000_000;
/// Longest text indexed per field of one tool (children may ship whole manuals as descriptions).
const MAX_FIELD_BYTES: usize = 16 * 1024;
/// How deep nested argument schemas (`properties`, `items`) are walked.
const MAX_SCHEMA_DEPTH: usize = 4;
/// Most distinct query terms used; the rest of a very long query is ignored.
const MAX_QUERY_TERMS: usize = 32;

/// Field weights: a name match counts most, then the title, the description, argument names and
/// last argument descriptions.
const BOOST_NAME: f32 = 4.0;
const BOOST_TITLE: f32 = 2.5;
const BOOST_DESCRIPTION: f32 = 1.5;
const BOOST_ARGS: f32 = 1.0;
const BOOST_ARG_DOCS: f32 = 0.5;

/// Filler words dropped from queries ("a tool to create an issue"), unless nothing else is left.
const QUERY_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "any", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from",
    "how", "i", "in", "is", "it", "me", "my", "of", "on", "or", "please", "some", "that", "the",
    "this", "to", "tool", "tools", "want", "we", "what", "which", "with", "you",
];

/// Why the index could not be built or searched (only internal tantivy failures: user query
/// text never causes one).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("tool search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// One search result: an exposed tool name and its relevance (higher is better).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub score: f32,
}

/// The searchable catalog; immutable once built (rebuild it when the catalog changes).
pub struct ToolIndex {
    searcher: Searcher,
    fields: Fields,
}

#[derive(Clone, Copy)]
struct Fields {
    name: Field,
    title: Field,
    description: Field,
    args: Field,
    arg_docs: Field,
}

impl Fields {
    fn weighted(self) -> [(Field, f32); 5] {
        [
            (self.name, BOOST_NAME),
            (self.title, BOOST_TITLE),
            (self.description, BOOST_DESCRIPTION),
            (self.args, BOOST_ARGS),
            (self.arg_docs, BOOST_ARG_DOCS),
        ]
    }
}

impl ToolIndex {
    /// Indexes these tools (names are the exposed, prefixed names).
    pub fn build(tools: &[Tool]) -> Result<Self, SearchError> {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs);
        let text = TextOptions::default().set_indexing_options(indexing);
        let mut builder = Schema::builder();
        let fields = Fields {
            name: builder.add_text_field("name", text.clone() | STORED),
            title: builder.add_text_field("title", text.clone()),
            description: builder.add_text_field("description", text.clone()),
            args: builder.add_text_field("args", text.clone()),
            arg_docs: builder.add_text_field("arg_docs", text),
        };
        let index = Index::create_in_ram(builder.build());
        index.tokenizers().register(ANALYZER, analyzer(false));

        let mut writer = index.writer_with_num_threads(1, WRITER_BUDGET_BYTES)?;
        for tool in tools {
            writer.add_document(document(fields, tool))?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;

        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            searcher: reader.searcher(),
            fields,
        })
    }

    /// Best matches first, at most `limit`; an empty or whitespace query returns nothing.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, SearchError> {
        let num_docs = usize::try_from(self.searcher.num_docs()).unwrap_or(usize::MAX);
        let limit = limit.min(num_docs);
        let terms = query_terms(query);
        if limit == 0 || terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in &terms {
            for (field, boost) in self.fields.weighted() {
                let query = TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(query), boost)),
                ));
            }
        }
        let query = BooleanQuery::new(clauses);
        let top = self
            .searcher
            .search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = self.searcher.doc(address)?;
            if let Some(name) = doc.get_first(self.fields.name).and_then(|v| v.as_str()) {
                hits.push(Hit {
                    name: name.to_owned(),
                    score,
                });
            }
        }
        Ok(hits)
    }
}

/// The analyzer for indexed text and queries: identifier splitting and lowercasing (code
/// search's tokenizer), long-token removal, optionally query stop words, then English stemming.
fn analyzer(stop_words: bool) -> TextAnalyzer {
    let base = TextAnalyzer::builder(CodeTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES));
    if stop_words {
        let words = QUERY_STOP_WORDS.iter().map(|w| (*w).to_owned());
        base.filter(StopWordFilter::remove(words))
            .filter(Stemmer::new(Language::English))
            .build()
    } else {
        base.filter(Stemmer::new(Language::English)).build()
    }
}

/// The distinct analyzed terms of a query, in order; stop words go unless they are all there is.
fn query_terms(query: &str) -> Vec<String> {
    let with_stop_words_removed = analyze(&mut analyzer(true), query);
    if with_stop_words_removed.is_empty() {
        analyze(&mut analyzer(false), query)
    } else {
        with_stop_words_removed
    }
}

fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut terms = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while terms.len() < MAX_QUERY_TERMS && stream.advance() {
        let text = &stream.token().text;
        if seen.insert(text.clone()) {
            terms.push(text.clone());
        }
    }
    terms
}

/// One tool as an index document.
fn document(fields: Fields, tool: &Tool) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(fields.name, &tool.name);
    let titles = [
        tool.title.as_deref(),
        tool.annotations.as_ref().and_then(|a| a.title.as_deref()),
    ];
    for title in titles.into_iter().flatten() {
        doc.add_text(fields.title, capped(title));
    }
    if let Some(description) = &tool.description {
        doc.add_text(fields.description, capped(description));
    }
    let mut args = Args::default();
    args.walk(&tool.input_schema, 0);
    doc.add_text(fields.args, capped(&args.names));
    doc.add_text(fields.arg_docs, capped(&args.docs));
    doc
}

/// Argument names and their descriptions, titles and enum values, gathered from a JSON Schema.
#[derive(Default)]
struct Args {
    names: String,
    docs: String,
}

impl Args {
    fn walk(&mut self, schema: &JsonObject, depth: usize) {
        if depth > MAX_SCHEMA_DEPTH || self.names.len() + self.docs.len() > 2 * MAX_FIELD_BYTES {
            return;
        }
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, property) in properties {
                push_word(&mut self.names, name);
                for key in ["title", "description"] {
                    if let Some(text) = property.get(key).and_then(Value::as_str) {
                        push_word(&mut self.docs, text);
                    }
                }
                if let Some(Value::Array(values)) = property.get("enum") {
                    for value in values.iter().filter_map(Value::as_str) {
                        push_word(&mut self.docs, value);
                    }
                }
                if let Value::Object(property) = property {
                    self.walk(property, depth + 1);
                }
            }
        }
        if let Some(Value::Object(items)) = schema.get("items") {
            self.walk(items, depth + 1);
        }
    }
}

fn push_word(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

/// At most `MAX_FIELD_BYTES` of `text`, cut on a character boundary.
fn capped(text: &str) -> &str {
    &text[..text.floor_char_boundary(MAX_FIELD_BYTES)]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn tool(name: &str, description: &str, schema: Value) -> Tool {
        let Value::Object(schema) = schema else {
            panic!("schema must be an object")
        };
        Tool::new(name.to_owned(), description.to_owned(), Arc::new(schema))
    }

    fn plain(name: &str, description: &str) -> Tool {
        tool(name, description, json!({"type": "object"}))
    }

    fn names(index: &ToolIndex, query: &str, limit: usize) -> Vec<String> {
        let hits = index.search(query, limit).unwrap();
        hits.into_iter().map(|hit| hit.name).collect()
    }

    #[test]
    fn a_name_match_ranks_above_a_description_only_match() {
        let index = ToolIndex::build(&[
            plain("jira__new_ticket", "Create an issue in the backlog."),
            plain("github__create_issue", "Opens a new ticket."),
            plain("fs__read_file", "Reads a file from disk."),
        ])
        .unwrap();
        let hits = index.search("create issue", 10).unwrap();
        let order: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(order, ["github__create_issue", "jira__new_ticket"]);
        assert!(hits[0].score > hits[1].score, "{hits:?}");
    }

    #[test]
    fn snake_kebab_dotted_and_camel_case_names_are_split_into_words() {
        let index = ToolIndex::build(&[
            plain("createIssue", ""),
            plain("gitlab__create-merge.request", ""),
            plain("github__create_issue", ""),
            plain("HTTPServerStatus", ""),
            plain("aws__s3ListBuckets", ""),
            plain("unrelated", "nothing here"),
        ])
        .unwrap();
        let mut found = names(&index, "create issue", 10);
        found.sort();
        assert_eq!(
            found,
            [
                "createIssue",
                "github__create_issue",
                "gitlab__create-merge.request"
            ],
        );
        assert_eq!(names(&index, "issue", 10).len(), 2);
        assert_eq!(
            names(&index, "merge request", 1),
            ["gitlab__create-merge.request"]
        );
        assert_eq!(names(&index, "server status", 10), ["HTTPServerStatus"]);
        assert_eq!(names(&index, "http", 10), ["HTTPServerStatus"]);
        assert_eq!(names(&index, "list buckets", 10), ["aws__s3ListBuckets"]);
        assert_eq!(names(&index, "s3", 10), ["aws__s3ListBuckets"]);
        // The query side is split the same way, and the server prefix is a word too.
        assert_eq!(names(&index, "createIssue", 10).len(), 3);
        assert_eq!(names(&index, "github", 10), ["github__create_issue"]);
    }

    #[test]
    fn split_words_are_also_indexed_whole_and_stemmed() {
        let index = ToolIndex::build(&[
            plain("vcs__open", "Opens a GitHub issue."),
            plain("notes__add", "Adds a note."),
        ])
        .unwrap();
        assert_eq!(names(&index, "github", 10), ["vcs__open"]);
        assert_eq!(names(&index, "git hub", 10), ["vcs__open"]);
        assert_eq!(names(&index, "issues", 10), ["vcs__open"]);
        assert_eq!(names(&index, "adding notes", 10), ["notes__add"]);
    }

    #[test]
    fn argument_names_and_descriptions_are_searchable() {
        let schema = json!({
            "type": "object",
            "properties": {
                "repoOwner": {"type": "string", "description": "Account that owns it"},
                "labels": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"colour_hex": {"type": "string"}}
                    }
                },
                "state": {"type": "string", "enum": ["draft", "published"]}
            }
        });
        let index = ToolIndex::build(&[
            tool("github__update", "Updates things.", schema),
            plain("github__other", "Something else."),
        ])
        .unwrap();
        assert_eq!(names(&index, "repo owner", 10), ["github__update"]);
        assert_eq!(names(&index, "account", 10), ["github__update"]);
        assert_eq!(names(&index, "colour hex", 10), ["github__update"]);
        assert_eq!(names(&index, "published", 10), ["github__update"]);
    }

    #[test]
    fn a_description_match_ranks_above_an_argument_only_match() {
        let schema = json!({"type": "object", "properties": {"branch": {"type": "string"}}});
        let index = ToolIndex::build(&[
            tool("git__commit", "Records changes.", schema),
            plain("git__switch", "Switches to another branch."),
        ])
        .unwrap();
        assert_eq!(names(&index, "branch", 10), ["git__switch", "git__commit"]);
    }

    #[test]
    fn query_syntax_is_never_interpreted() {
        let index = ToolIndex::build(&[
            plain("github__create_issue", "Create an issue."),
            plain("fs__read_file", "Read a file."),
        ])
        .unwrap();
        for query in [
            "\"create issue",
            "name:create AND (issue OR",
            "issue^3 -create +read ~2 *",
            "[a TO z} {}",
            "NOT OR AND",
            "'\\/\\\\:",
            "\u{0}\u{1f600} ✓ créer",
            ")))(((",
        ] {
            index.search(query, 5).unwrap();
        }
        assert_eq!(
            names(&index, "name:create AND (issue)", 1),
            ["github__create_issue"]
        );
    }

    #[test]
    fn an_empty_or_blank_query_and_a_zero_limit_return_nothing() {
        let index = ToolIndex::build(&[plain("a__b", "c")]).unwrap();
        assert!(index.search("", 10).unwrap().is_empty());
        assert!(index.search(" \t\n ", 10).unwrap().is_empty());
        assert!(index.search("--__..", 10).unwrap().is_empty());
        assert!(index.search("b", 0).unwrap().is_empty());
        let empty = ToolIndex::build(&[]).unwrap();
        assert!(empty.search("b", 10).unwrap().is_empty());
    }

    #[test]
    fn stop_words_are_dropped_unless_they_are_the_whole_query() {
        let index = ToolIndex::build(&[
            plain("files__list_all", "Lists every file."),
            plain("github__create_issue", "Opens a ticket for the project."),
        ])
        .unwrap();
        let hits = names(&index, "a tool to create an issue for me", 10);
        assert_eq!(hits, ["github__create_issue"]);
        assert_eq!(names(&index, "for", 10), ["github__create_issue"]);
    }

    #[test]
    fn the_limit_is_respected() {
        let tools: Vec<Tool> = (0..20)
            .map(|i| plain(&format!("srv__search_{i}"), "Search things."))
            .collect();
        let index = ToolIndex::build(&tools).unwrap();
        assert_eq!(index.search("search", 3).unwrap().len(), 3);
        assert_eq!(index.search("search", 1000).unwrap().len(), 20);
        assert_eq!(index.search("search", usize::MAX).unwrap().len(), 20);
    }

    #[test]
    fn five_hundred_tools_index_and_search_and_the_index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ToolIndex>();
        let verbs = ["create", "get", "list", "update", "delete"];
        let nouns = ["issue", "file", "bucket", "user", "message"];
        let mut tools = Vec::new();
        for i in 0..500 {
            let verb = verbs[i % 5];
            let noun = nouns[(i / 5) % 5];
            let schema = json!({
                "type": "object",
                "properties": {format!("{noun}Id"): {"type": "string", "description": "Which one"}}
            });
            let name = format!("server{}__{verb}_{noun}_{i}", i % 17);
            let description = format!("Tool {i}: {verb}s a {noun}. {}", "Details. ".repeat(20));
            tools.push(tool(&name, &description, schema));
        }
        let index = ToolIndex::build(&tools).unwrap();
        let hits = index.search("delete message", 10).unwrap();
        assert_eq!(hits.len(), 10);
        let all_match = hits.iter().all(|h| h.name.contains("delete_message"));
        assert!(all_match, "{hits:?}");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert_eq!(index.search("bucket", 500).unwrap().len(), 100);
    }

    #[test]
    fn very_long_text_is_capped_without_failing() {
        let long = "é".repeat(MAX_FIELD_BYTES) + " needle";
        let index = ToolIndex::build(&[plain("x__y", &long), plain("x__z", "needle")]).unwrap();
        assert_eq!(names(&index, "needle", 10), ["x__z"]);
    }

    #[test]
    fn identifiers_split_at_humps_digits_and_punctuation_and_are_also_kept_whole() {
        let words = |text: &str| {
            analyze(
                &mut TextAnalyzer::builder(CodeTokenizer::default()).build(),
                text,
            )
        };
        assert_eq!(
            words("github__create_issue"),
            ["github", "create", "issue", "githubcreateissue"]
        );
        assert_eq!(words("createIssue"), ["create", "issue", "createissue"]);
        assert_eq!(words("HTTPServer"), ["http", "server", "httpserver"]);
        assert_eq!(
            words("oauth2.token-v10"),
            ["oauth", "2", "oauth2", "token", "v", "10", "tokenv10"]
        );
        assert_eq!(words("  "), Vec::<String>::new());
    }
}
