//! The store-test harness shared by the core's integration tests: a fresh, migrated store on
//! SQLite (a file in a tempdir) or on PostgreSQL (a database of its own from
//! `fusion_test_support::PgDatabase`; without a server the PostgreSQL variants fail, never pass
//! silently). Each body runs on both through `fusion_test_support::on_both_backends!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::PathBuf;

use fusion_core::store::{Store, StoreKind};

pub use fusion_test_support::{Backend, PgDatabase};

/// A fresh, migrated store; its database (or directory) goes away when this is dropped.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    pub sqlite_path: Option<PathBuf>,
    _pg: Option<PgDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub async fn new(backend: Backend) -> TestStore {
        let (url, sqlite_path, pg, dir, kind) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                // A directory that does not exist yet: open creates it.
                let path = dir.path().join("nested/data/fusion.db");
                let url = format!("sqlite://{}", path.display());
                (url, Some(path), None, Some(dir), StoreKind::Sqlite)
            }
            Backend::Postgres => {
                let pg = PgDatabase::create().await;
                (pg.url.clone(), None, Some(pg), None, StoreKind::Postgres)
            }
        };
        let store = Store::open(Some(&url)).await.unwrap();
        assert_eq!(store.kind(), kind);
        TestStore {
            store,
            url,
            sqlite_path,
            _pg: pg,
            _dir: dir,
        }
    }
}
