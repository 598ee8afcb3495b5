//! Bad input gets clear errors, and files that cannot be indexed are skipped, counted by
//! reason and named: a missing or non-directory root, invalid options and globs, an empty
//! query, an unindexed directory; unreadable, oversized, binary, symlinked and special files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Fixture, INDEXED, write};
use fusion_codesearch::{CodeIndex, Error, IndexOptions, IndexRequest, SearchRequest};

fn index_error(f: &Fixture, root: std::path::PathBuf, options: IndexOptions) -> Error {
    let request = IndexRequest {
        root,
        options,
        ..IndexRequest::default()
    };
    fusion_codesearch::index(&f.home, &request, &|_| {}).unwrap_err()
}

#[test]
fn a_missing_directory_or_a_file_as_root_is_refused_naming_the_path() {
    let f = Fixture::new();
    let missing = f.path("no/such/dir");
    let err = index_error(&f, missing.clone(), IndexOptions::default());
    assert!(matches!(err, Error::MissingRoot(_)), "{err:?}");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
    let err = index_error(&f, f.path("src/config.rs"), IndexOptions::default());
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn invalid_options_and_globs_are_refused_before_anything_is_written() {
    let f = Fixture::new();
    let overlap = index_error(
        &f,
        f.root(),
        IndexOptions {
            chunk_lines: Some(10),
            overlap: Some(10),
            ..IndexOptions::default()
        },
    );
    assert!(overlap.to_string().contains("overlap"), "{overlap}");
    let zero = index_error(
        &f,
        f.root(),
        IndexOptions {
            chunk_lines: Some(0),
            ..IndexOptions::default()
        },
    );
    assert!(zero.to_string().contains("chunk lines"), "{zero}");
    let bm25 = index_error(
        &f,
        f.root(),
        IndexOptions {
            bm25_b: Some(2.0),
            ..IndexOptions::default()
        },
    );
    assert!(bm25.to_string().contains("b must be"), "{bm25}");
    let glob = index_error(
        &f,
        f.root(),
        IndexOptions {
            exclude: Some(vec!["src/[".to_owned()]),
            ..IndexOptions::default()
        },
    );
    assert!(
        matches!(&glob, Error::InvalidGlob { glob, .. } if glob == "src/["),
        "{glob:?}"
    );
    assert!(
        CodeIndex::open(&f.home, &f.root()).is_err(),
        "nothing was committed"
    );
}

#[test]
fn an_empty_query_a_zero_limit_and_an_unindexed_directory_are_errors() {
    let f = Fixture::new();
    let err = CodeIndex::open(&f.home, &f.root()).err().unwrap();
    assert!(matches!(err, Error::NotIndexed(_)), "{err:?}");
    assert!(err.to_string().contains("fusion index"), "{err}");
    f.index();
    let index = CodeIndex::open(&f.home, &f.root()).unwrap();
    for query in ["", "   ", "-- ++ ()"] {
        let err = index
            .search(&SearchRequest {
                query: query.to_owned(),
                limit: 10,
                ..SearchRequest::default()
            })
            .unwrap_err();
        assert!(matches!(err, Error::EmptyQuery), "{query:?}: {err:?}");
    }
    let err = index
        .search(&SearchRequest {
            query: "config".to_owned(),
            limit: 0,
            ..SearchRequest::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    let err = index
        .search(&SearchRequest {
            query: "config".to_owned(),
            limit: 5,
            path: Some("{unclosed".to_owned()),
            ..SearchRequest::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidGlob { .. }), "{err:?}");
}

#[test]
fn oversized_files_are_skipped_and_counted() {
    let f = Fixture::new();
    write(&f.path("big.txt"), &"word ".repeat(2000));
    let report = f.index_with(
        IndexOptions {
            max_file_bytes: Some(4096),
            ..IndexOptions::default()
        },
        false,
    );
    assert_eq!(report.skipped.get("too_large"), Some(&1), "{report:#?}");
    assert_eq!(report.skipped.get("binary"), Some(&1));
    assert_eq!(report.files_indexed, INDEXED);
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_is_skipped_and_named_and_the_rest_is_indexed() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let locked = f.path("src/locked.rs");
    write(&locked, "fn locked_away() {}\n");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let report = f.index();
    // Root (tests often run as root) reads a mode-000 file anyway: then it is indexed, and
    // the unreadable case is not observable here; the dangling-symlink and FIFO cases below
    // are skipped for every user.
    if std::fs::File::open(&locked).is_ok() {
        assert_eq!(report.files_indexed, INDEXED + 1);
    } else {
        assert_eq!(report.skipped.get("unreadable"), Some(&1), "{report:#?}");
        assert_eq!(report.problems[0].path, "src/locked.rs");
        assert!(report.problems[0].detail.is_some());
        assert_eq!(report.files_indexed, INDEXED);
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[cfg(unix)]
#[test]
fn symlinks_and_fifos_are_skipped_without_being_opened() {
    let f = Fixture::new();
    std::os::unix::fs::symlink(f.path("nowhere.rs"), f.path("src/dangling.rs")).unwrap();
    std::os::unix::fs::symlink(f.path("src/config.rs"), f.path("src/alias.rs")).unwrap();
    let fifo = f.path("src/pipe.rs");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Opening the FIFO for reading would block this test forever.
    let report = f.index();
    assert_eq!(report.skipped.get("symlink"), Some(&2), "{report:#?}");
    assert_eq!(report.skipped.get("special"), Some(&1));
    assert_eq!(report.files_indexed, INDEXED);
}
