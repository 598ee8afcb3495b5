//! The store-test harness shared by the core's integration tests: a fresh, migrated store on
//! SQLite (a file in a tempdir) or on PostgreSQL (a database of its own on the server in
//! `FUSION_TEST_POSTGRES_URL`, from scripts/postgres.sh; without it the PostgreSQL variants
//! fail, never pass silently).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::PathBuf;

use fusion_core::store::{Store, StoreKind};
use sqlx::{Connection, Executor};

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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

/// A database of its own on the test server (tests run in parallel processes), dropped with
/// `WITH (FORCE)` on drop, also when the test panicked.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        let Ok(admin_url) = std::env::var("FUSION_TEST_POSTGRES_URL") else {
            panic!(
                "FUSION_TEST_POSTGRES_URL is not set: the PostgreSQL variants of the store tests \
                 need a server. Run scripts/test.sh (it starts one through scripts/postgres.sh), \
                 or run `scripts/postgres.sh` and export the FUSION_TEST_POSTGRES_URL=... line it \
                 prints."
            );
        };
        let name = format!("fusion_test_{:016x}", rand::random::<u64>());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(e) => panic!("cannot reach {admin_url} ({e}); run scripts/postgres.sh"),
        };
        let create = format!("CREATE DATABASE {name}");
        admin.execute(create.as_str()).await.unwrap();
        admin.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        PgDatabase {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                admin.execute(sql.as_str()).await?;
                admin.close().await
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("could not drop test database {}: {err}", self.name);
        }
    }
}

/// The URL with its database replaced: `postgres://u@h:p/postgres` → `postgres://u@h:p/NAME`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    let mut out = format!("{scheme}://{authority}/{name}");
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}
