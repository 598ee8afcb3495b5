//! Incremental indexing: an unchanged tree is not read again, a changed file is re-read and
//! re-indexed alone, a touched but identical file is re-read without being re-indexed, deleted
//! files leave the index, settings persist in the index, and changed chunking or `force`
//! rebuilds. Runs the real indexer on a fixture tree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::{Fixture, INDEXED, SEEN, set_age, write};
use fusion_codesearch::{Error, IndexOptions, IndexRequest};

#[test]
fn an_unchanged_tree_is_not_read_again() {
    let f = Fixture::new();
    let first = f.index();
    assert_eq!(first.files_read, INDEXED);
    assert_eq!(first.skipped.get("binary"), Some(&1));
    let second = f.index();
    assert_eq!(second.files_read, 0, "{second:#?}");
    assert_eq!(second.files_indexed, 0);
    assert_eq!(second.files_unchanged, INDEXED);
    assert_eq!(second.chunks_written, 0);
    assert_eq!(second.files_total, INDEXED);
    assert_eq!(second.chunks_total, first.chunks_total);
    assert!(second.rebuilt.is_none());
}

#[test]
fn changing_one_file_rereads_and_reindexes_exactly_that_file() {
    let f = Fixture::new();
    f.index();
    assert_eq!(f.paths("listen"), ["src/config.rs"]);
    write(
        &f.path("src/config.rs"),
        "pub fn load_settings_quickly() {}\n",
    );
    set_age(&f.path("src/config.rs"), 1800);
    let report = f.index();
    assert_eq!(report.files_read, 1, "{report:#?}");
    assert_eq!(report.files_indexed, 1);
    assert_eq!(report.files_unchanged, INDEXED - 1);
    assert_eq!(report.chunks_written, 1);
    assert_eq!(
        f.search("loadSettingsQuickly").hits[0].path,
        "src/config.rs"
    );
    assert!(
        f.search("listen").hits.is_empty(),
        "the old text left the index"
    );
    assert_eq!(f.index().files_read, 0, "the manifest holds the new state");
}

#[test]
fn touching_a_file_rereads_it_without_reindexing() {
    let f = Fixture::new();
    let first = f.index();
    set_age(&f.path("web/client.ts"), 1234);
    let report = f.index();
    assert_eq!(report.files_read, 1, "{report:#?}");
    assert_eq!(report.files_indexed, 0);
    assert_eq!(report.chunks_written, 0);
    assert_eq!(report.files_unchanged, INDEXED);
    assert_eq!(report.chunks_total, first.chunks_total);
    assert_eq!(f.index().files_read, 0, "the new mtime is in the manifest");
    assert!(
        f.paths("fetchUserData")
            .contains(&"web/client.ts".to_owned())
    );
}

#[test]
fn deleted_and_newly_ignored_files_leave_the_index() {
    let f = Fixture::new();
    f.index();
    assert_eq!(f.paths("zanzibar"), ["docs/guide.md"]);
    std::fs::remove_file(f.path("docs/guide.md")).unwrap();
    std::fs::write(f.path(".ignore"), "generated/\napp/\n").unwrap();
    let report = f.index();
    assert_eq!(report.files_deleted, 2, "{report:#?}");
    assert_eq!(report.files_total, INDEXED - 2);
    assert_eq!(report.files_seen, SEEN - 2);
    assert!(f.search("zanzibar").hits.is_empty());
    assert!(f.search("profile").hits.is_empty());
}

#[test]
fn settings_are_kept_in_the_index_between_runs() {
    let f = Fixture::new();
    f.index_with(
        IndexOptions {
            chunk_lines: Some(4),
            overlap: Some(1),
            exclude: Some(vec!["*.md".to_owned()]),
            ..IndexOptions::default()
        },
        false,
    );
    let again = f.index();
    assert!(again.rebuilt.is_none(), "{again:#?}");
    assert_eq!(again.settings.chunk_lines, 4);
    assert_eq!(again.settings.overlap, 1);
    assert_eq!(again.settings.exclude, ["*.md"]);
    assert_eq!(again.files_total, INDEXED - 1);
    // 11 lines in chunks of 4 overlapping by 1: lines 1-4, 4-7, 7-10, 10-11; `config`
    // is in each, `parse_config` (line 8) only in the third, which ranks first.
    let hits = f.search("parse_config").hits;
    let mut config: Vec<(u32, u32)> = hits
        .iter()
        .filter(|h| h.path == "src/config.rs")
        .map(|h| (h.start_line, h.end_line))
        .collect();
    assert_eq!(config[0], (7, 10));
    config.sort();
    assert_eq!(config, [(1, 4), (4, 7), (7, 10), (10, 11)]);
}

#[test]
fn changed_chunking_and_force_rebuild_from_scratch() {
    let f = Fixture::new();
    f.index();
    let rechunked = f.index_with(
        IndexOptions {
            chunk_lines: Some(5),
            overlap: Some(0),
            ..IndexOptions::default()
        },
        false,
    );
    assert!(rechunked.rebuilt.as_deref().unwrap().contains("chunking"));
    assert_eq!(rechunked.files_indexed, INDEXED);
    assert_eq!(rechunked.files_total, INDEXED);
    let forced = f.index_with(IndexOptions::default(), true);
    assert_eq!(forced.rebuilt.as_deref(), Some("forced"));
    assert_eq!(forced.files_indexed, INDEXED);
    assert_eq!(
        forced.settings.chunk_lines,
        fusion_codesearch::DEFAULT_CHUNK_LINES
    );
    assert_eq!(forced.files_total, INDEXED);
}

#[test]
fn a_cancelled_run_commits_nothing() {
    let f = Fixture::new();
    f.index();
    write(&f.path("src/new.rs"), "fn brand_new_function() {}\n");
    let request = IndexRequest {
        root: f.root(),
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..IndexRequest::default()
    };
    let outcome = fusion_codesearch::index(&f.home, &request, &|_| {});
    assert!(matches!(outcome, Err(Error::Cancelled)), "{outcome:?}");
    assert!(
        !f.paths("brandNewFunction")
            .contains(&"src/new.rs".to_owned())
    );
    assert_eq!(f.index().files_indexed, 1);
}

#[test]
fn progress_reports_every_file_then_the_commit() {
    let f = Fixture::new();
    let seen = std::sync::Mutex::new(Vec::new());
    let request = IndexRequest {
        root: f.root(),
        ..IndexRequest::default()
    };
    fusion_codesearch::index(&f.home, &request, &|p| seen.lock().unwrap().push(p)).unwrap();
    let seen = seen.into_inner().unwrap();
    use fusion_codesearch::Progress;
    assert_eq!(seen.first(), Some(&Progress::Walking));
    assert!(seen.contains(&Progress::Walked { files: SEEN }));
    assert!(seen.contains(&Progress::Files {
        done: SEEN,
        total: SEEN
    }));
    assert_eq!(seen.last(), Some(&Progress::Committing));
}
