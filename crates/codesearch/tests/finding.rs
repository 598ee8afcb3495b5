//! Finding code: one naming style finds the others, acronyms and digits are parts of their
//! own, ignore files and excludes keep files out, and the path, language and subdirectory
//! filters keep only what they name. Runs the real indexer on a fixture tree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Fixture, INDEXED, SEEN, paths};
use fusion_codesearch::{CodeIndex, IndexOptions, SearchRequest};

#[test]
fn a_query_in_one_naming_style_finds_every_style() {
    let f = Fixture::new();
    let report = f.index();
    assert_eq!(report.files_indexed, INDEXED, "{report:#?}");
    assert_eq!(report.files_seen, SEEN);
    let every_style = [
        "cmd/main.go",
        "docs/guide.md",
        "src/config.rs",
        "web/client.ts",
    ];
    for query in [
        "parseConfig",
        "parse_config",
        "ParseConfig",
        "parse-config",
        "PARSE_CONFIG",
    ] {
        let found = f.paths(query);
        for path in every_style {
            assert!(found.contains(&path.to_owned()), "{query} → {found:?}");
        }
    }
    // The whole identifier ranks the exact-identifier chunks above a mere `config` mention.
    let results = f.search("parseConfig");
    let last = results.hits.last().unwrap();
    assert!(
        !every_style.contains(&last.path.as_str()),
        "{:?}",
        paths(&results)
    );
}

#[test]
fn a_part_of_an_identifier_finds_it() {
    let f = Fixture::new();
    f.index();
    let config = f.paths("config");
    for path in [
        "app/loader.py",
        "cmd/main.go",
        "src/config.rs",
        "web/client.ts",
    ] {
        assert!(config.contains(&path.to_owned()), "{config:?}");
    }
    assert_eq!(f.paths("profile"), ["app/loader.py"]);
    assert_eq!(f.paths("userData"), ["app/loader.py", "web/client.ts"]);
}

#[test]
fn acronyms_and_digits_split_and_the_whole_identifier_is_kept() {
    let f = Fixture::new();
    f.index();
    assert_eq!(f.paths("httpserver2"), ["src/server.rs"]);
    // Its parts match elsewhere too (`HttpClient`), but the whole identifier ranks first.
    assert_eq!(f.search("HTTPServer2").hits[0].path, "src/server.rs");
    let http = f.paths("http");
    assert!(http.contains(&"src/server.rs".to_owned()), "{http:?}");
    assert!(http.contains(&"cmd/main.go".to_owned()), "{http:?}");
}

#[test]
fn hits_carry_line_ranges_scores_and_marked_snippets() {
    let f = Fixture::new();
    f.index();
    let results = f.search("parse_config");
    let hit = results
        .hits
        .iter()
        .find(|h| h.path == "src/config.rs")
        .unwrap();
    assert_eq!(hit.language, "rust");
    assert_eq!((hit.start_line, hit.end_line), (1, 11));
    assert!(hit.score > 0.0);
    let line = hit.snippet.iter().find(|l| !l.matches.is_empty()).unwrap();
    assert_eq!(line.line, 8);
    let marked: Vec<String> = line
        .matches
        .iter()
        .map(|m| {
            line.text
                .chars()
                .skip(m.start)
                .take(m.end - m.start)
                .collect()
        })
        .collect();
    assert_eq!(marked, ["parse_config", "Config"]);
    let scores: Vec<f32> = results.hits.iter().map(|h| h.score).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
}

#[test]
fn gitignore_and_ignore_files_are_honoured_outside_a_git_repository() {
    let f = Fixture::new();
    assert!(!f.path(".git").exists());
    f.index();
    let everything = [
        f.paths("parse_config"),
        f.paths("target"),
        f.paths("secret"),
        f.paths("generated"),
        f.paths("failed"),
    ]
    .concat();
    for ignored in ["target/", "secret/", "generated/", "debug.log", "data.bin"] {
        assert!(
            everything.iter().all(|p| !p.starts_with(ignored)),
            "{ignored} is indexed: {everything:?}"
        );
    }
}

#[test]
fn exclude_globs_keep_files_out() {
    let f = Fixture::new();
    let report = f.index_with(
        IndexOptions {
            exclude: Some(vec!["*.md".to_owned(), "web/".to_owned()]),
            ..IndexOptions::default()
        },
        false,
    );
    assert_eq!(report.files_indexed, INDEXED - 2);
    let found = f.paths("parseConfig");
    assert!(found.contains(&"src/config.rs".to_owned()), "{found:?}");
    assert!(
        found
            .iter()
            .all(|p| !p.ends_with(".md") && !p.starts_with("web/")),
        "{found:?}"
    );
    assert!(f.search("zanzibar").hits.is_empty());
}

#[test]
fn language_and_path_filters_keep_only_what_they_name() {
    let f = Fixture::new();
    f.index();
    let search = |lang: Option<&str>, path: Option<&str>| {
        paths(&f.search_with(SearchRequest {
            query: "config".to_owned(),
            limit: 50,
            lang: lang.map(str::to_owned),
            path: path.map(str::to_owned),
            ..SearchRequest::default()
        }))
    };
    assert_eq!(search(Some("python"), None), ["app/loader.py"]);
    assert_eq!(search(Some("py"), None), ["app/loader.py"]);
    assert_eq!(search(Some("Go"), None), ["cmd/main.go"]);
    assert_eq!(search(None, Some("*.ts")), ["web/client.ts"]);
    assert_eq!(search(None, Some("src/**")), ["src/config.rs"]);
    assert_eq!(search(None, Some("cmd")), ["cmd/main.go"]);
    assert_eq!(search(Some("rust"), Some("web/**")), Vec::<String>::new());
    assert_eq!(search(None, Some("nowhere/**")), Vec::<String>::new());
    assert_eq!(search(Some("cobol"), None), Vec::<String>::new());
}

#[test]
fn a_subdirectory_searches_its_enclosing_root_within_that_directory() {
    let f = Fixture::new();
    f.index();
    let (index, within) = CodeIndex::open_enclosing(&f.home, &f.path("src")).unwrap();
    assert_eq!(index.root(), f.root());
    assert_eq!(within.as_deref(), Some("src"));
    let results = index
        .search(&SearchRequest {
            query: "parseConfig".to_owned(),
            limit: 10,
            within,
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(paths(&results), ["src/config.rs"]);
}

#[test]
fn bm25_parameters_are_kept_with_the_index_and_change_the_scores() {
    let f = Fixture::new();
    let tuned = fusion_codesearch::Bm25Params { k1: 0.3, b: 0.0 };
    f.index_with(
        IndexOptions {
            bm25_k1: Some(tuned.k1),
            bm25_b: Some(tuned.b),
            ..IndexOptions::default()
        },
        false,
    );
    let index = CodeIndex::open(&f.home, &f.root()).unwrap();
    assert_eq!(index.settings().bm25, tuned);
    let request = |bm25| SearchRequest {
        query: "config".to_owned(),
        limit: 10,
        bm25,
        ..SearchRequest::default()
    };
    let stored = index.search(&request(None)).unwrap();
    let explicit = index.search(&request(Some(tuned))).unwrap();
    let default = index
        .search(&request(Some(fusion_codesearch::Bm25Params::default())))
        .unwrap();
    let top = |r: &fusion_codesearch::SearchResults| r.hits[0].score;
    assert_eq!(top(&stored), top(&explicit));
    assert!((top(&stored) - top(&default)).abs() > 1e-3);
}
