//! The store: one SQLite file (WAL) by default, PostgreSQL to scale out, both through sqlx's
//! `Any` driver so one set of portable migrations (`crates/core/migrations`) serves both. Owns
//! opening (URL forms, SQLite pragmas, the default location in the user data dir), migrating,
//! and the masked URL shown in status output. Tables live in the submodules: `usage` (the usage
//! rows and their report), `ledger` (the batched writer off the request path), `catalog`
//! (models synced from a provider's catalog), `daily_usage` (per-model daily caps), `prompting`
//! (per-model prompting strategies), `tasks` (durable tasks and their jobs), `looped` (the loop
//! checker's runs and their trails), `councils` and `decisions` (the dashboard's history of
//! council runs and routing decisions) with `history`, their batched writer, `usage_series`
//! (usage per day for charts), `responses` (stored responses of `/v1/responses`), `rollup`
//! (old usage rows summed by hour) and `retention` (what each table keeps, and the maintenance
//! that applies it and gives SQLite's freed pages back).

pub mod bench;
pub mod catalog;
pub mod councils;
pub mod daily_usage;
pub mod decisions;
pub mod error;
mod files;
pub mod history;
pub mod ledger;
pub mod looped;
pub mod prompting;
pub mod responses;
pub mod retention;
pub mod rollup;
pub mod tasks;
pub mod usage;
pub mod usage_series;
mod usage_window;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

use crate::error::chain_message;

pub use bench::{BenchResultRow, BenchRunRow, MeasuredAtComplexity, MeasuredQuality};
pub use catalog::SyncedModel;
pub use councils::{CouncilRunRow, CouncilRunSummary};
pub use daily_usage::ModelDailyUsage;
pub use decisions::DecisionRow;
pub use error::{StoreError, StoreFailure};
pub use history::{CouncilEnded, History};
pub use ledger::{Ledger, LedgerLimits};
pub use looped::{LoopRecordKind, LoopRecordRow, LoopRunRow};
pub use responses::StoredResponse;
pub use retention::{Maintenance, MaintenanceReport, RetentionPolicy};
pub use rollup::RollupOutcome;
pub use tasks::{
    CancelOutcome, GroupCount, JobView, LeaseState, NewJob, NewTask, Recovered, TaskFilter,
    TaskKind, TaskOutcome, TaskPage, TaskState, TaskSummary, TaskView,
};
pub use usage::{Caller, UsageFilter, UsageGroup, UsageRecord, UsageReport, UsageTotals, now_ms};

/// The schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a pool waits for a connection (and `open` for the first one) before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The accepted URL forms, for error messages.
const ACCEPTED_FORMS: &str = "sqlite://PATH (or sqlite:PATH; a leading ~/ is expanded; \
     sqlite::memory: for a throwaway store), postgres://USER[:PASSWORD]@HOST[:PORT]/DB or \
     postgresql://...";

/// A handle on the store: a connection pool and which database it is. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    kind: StoreKind,
    display_url: Arc<str>,
    /// An in-memory SQLite store: its one connection is the database.
    memory: bool,
}

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("kind", &self.kind)
            .field("url", &self.display_url)
            .finish()
    }
}

impl Store {
    /// Opens (creating the SQLite file and its directory if needed, private to the user: see
    /// `files`) and migrates. `None` = [`Store::default_url`].
    pub async fn open(url: Option<&str>) -> crate::Result<Store> {
        sqlx::any::install_default_drivers();
        // The default store lives in Fusion's own data directory, which is kept private.
        let own_dir = url.is_none();
        let url = match url {
            Some(url) => url.trim().to_owned(),
            None => Self::default_url()?,
        };
        let display_url: Arc<str> = mask_url(&url).into();
        let target = Target::parse(&url).ok_or_else(|| {
            store_error(format!(
                "unsupported store URL `{display_url}`; accepted forms: {ACCEPTED_FORMS}"
            ))
        })?;
        let (kind, connect_url, options) = match target {
            Target::SqliteFile { path, query } => {
                let create = !query
                    .split('&')
                    .any(|kv| kv.starts_with("mode=") && kv != "mode=rwc");
                files::prepare(&path, own_dir, create)
                    .map_err(|err| store_error(format!("{err} (for {display_url})")))?;
                let url = sqlite_url(&path, &query);
                (
                    StoreKind::Sqlite,
                    url,
                    closing_broken_transactions(sqlite_pool_options(8)),
                )
            }
            Target::SqliteMemory => {
                // One connection that never closes: each in-memory connection is its own database.
                let options = sqlite_pool_options(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
                (StoreKind::Sqlite, "sqlite::memory:".to_owned(), options)
            }
            Target::Postgres => (StoreKind::Postgres, url.clone(), postgres_pool_options(10)),
        };
        let connect_options: AnyConnectOptions = connect_url.parse().map_err(|err| {
            let message = format!(
                "invalid store URL `{display_url}`: {}; accepted forms: {ACCEPTED_FORMS}",
                chain_message(&err)
            );
            crate::Error::from(StoreError::sqlx(message, err))
        })?;
        let cannot_open = |err: sqlx::Error| {
            let message = format!("cannot open {display_url}: {}", cause(&err));
            crate::Error::from(StoreError::sqlx(message, err))
        };
        // One direct connection first: the pool would retry a refused connection until its
        // acquire timeout and then report only the timeout, not the cause.
        match tokio::time::timeout(
            ACQUIRE_TIMEOUT,
            AnyConnection::connect_with(&connect_options),
        )
        .await
        {
            Ok(Ok(probe)) => drop(probe.close().await),
            Ok(Err(err)) => return Err(cannot_open(err)),
            Err(_) => return Err(cannot_open(sqlx::Error::PoolTimedOut)),
        }
        let pool = options
            .connect_with(connect_options)
            .await
            .map_err(cannot_open)?;
        let store = Store {
            pool,
            kind,
            display_url,
            memory: connect_url == "sqlite::memory:",
        };
        store.migrate().await?;
        Ok(store)
    }

    /// `sqlite://<data dir>/fusion/fusion.db` where the data dir is `$FUSION_DATA_DIR` if set,
    /// else the user data dir (`~/.local/share` on Linux).
    pub fn default_url() -> crate::Result<String> {
        Ok(format!(
            "sqlite://{}",
            Self::data_dir()?.join("fusion.db").display()
        ))
    }

    /// Fusion's own data directory, `<data dir>/fusion` (the data dir as for
    /// [`Store::default_url`]): the default store and the code-search indexes live there.
    pub fn data_dir() -> crate::Result<PathBuf> {
        let dir = match std::env::var_os("FUSION_DATA_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => expand_home(Path::new(&dir)),
            None => dirs::data_dir().ok_or_else(|| {
                store_error(
                    "no user data directory (set FUSION_DATA_DIR or give a store URL)".to_owned(),
                )
            })?,
        };
        Ok(dir.join("fusion"))
    }

    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Whether [`Store::close`] was called (on this handle or a clone).
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// Another handle on the same database with a connection pool of its own (at most
    /// `max_connections`, each opened on first use, the schema not migrated again): for a
    /// writer on a thread of its own, whose connections — and SQLite's worker threads — are
    /// then made by, and inherit the priority of, that thread. An in-memory SQLite store is
    /// its one connection, so it is shared instead.
    pub fn with_own_pool(&self, max_connections: u32) -> Store {
        if self.memory {
            return self.clone();
        }
        let options = match self.kind {
            StoreKind::Sqlite => closing_broken_transactions(sqlite_pool_options(max_connections)),
            StoreKind::Postgres => postgres_pool_options(max_connections),
        };
        Store {
            pool: options.connect_lazy_with((*self.pool.connect_options()).clone()),
            kind: self.kind,
            display_url: self.display_url.clone(),
            memory: false,
        }
    }

    /// The URL with any password masked, for status output.
    pub fn display_url(&self) -> String {
        self.display_url.to_string()
    }

    /// The pool, for modules that add their own tables and queries.
    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }

    /// Whether the database answers a trivial query within `within` (for `/health`): the error
    /// says why not.
    pub async fn ping(&self, within: Duration) -> crate::Result<()> {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(within, query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(store_error(format!(
                "{} does not answer: {}",
                self.display_url,
                chain_message(&err)
            ))),
            Err(_) => Err(store_error(format!(
                "{} did not answer within {}",
                self.display_url,
                humantime::format_duration(within)
            ))),
        }
    }

    /// Closes every connection; later queries fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> crate::Result<()> {
        let mut result = MIGRATOR.run(&self.pool).await;
        if result.is_err() && self.kind == StoreKind::Sqlite {
            // SQLite has no migration lock: two processes migrating a fresh file at once collide
            // on the bookkeeping row. The schema is idempotent; the second attempt sees it done.
            tokio::time::sleep(Duration::from_millis(100)).await;
            result = MIGRATOR.run(&self.pool).await;
        }
        result.map_err(|err| {
            let message = format!(
                "cannot migrate {}: {}",
                self.display_url,
                chain_message(&err)
            );
            StoreError::sqlx(message, sqlx::Error::Migrate(Box::new(err))).into()
        })
    }

    /// A `Store` error for a failed query, naming what was being done; the driver's error is
    /// kept as its source and classifies it.
    pub(crate) fn query_error(&self, doing: &str, err: sqlx::Error) -> crate::Error {
        let message = format!("{doing} ({}): {}", self.display_url, cause(&err));
        StoreError::sqlx(message, err).into()
    }
}

/// What a store URL points at.
enum Target {
    SqliteFile { path: PathBuf, query: String },
    SqliteMemory,
    Postgres,
}

impl Target {
    fn parse(url: &str) -> Option<Target> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Some(Target::Postgres);
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
            return Some(Target::SqliteMemory);
        }
        if path.is_empty() {
            return None;
        }
        Some(Target::SqliteFile {
            path: expand_home(Path::new(&percent_decode(path))),
            query: query.to_owned(),
        })
    }
}

fn postgres_pool_options(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

fn sqlite_pool_options(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // journal_mode persists in the file; the rest is per connection. auto_vacuum
                // takes effect only on a file without tables (a new store: the first
                // connection runs this before the first migration), so retention's deletes
                // can give pages back (`retention::reclaim_space`); an older file keeps
                // `none` until that converts it.
                conn.execute(
                    "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; \
                     PRAGMA foreign_keys = ON;",
                )
                .await?;
                Ok(())
            })
        })
}

/// A file-backed SQLite pool closes a connection that comes back still inside a transaction
/// instead of keeping it. A COMMIT that fails on a full disk (SQLITE_FULL) is rolled back by
/// SQLite itself; sqlx's own ROLLBACK then fails and it keeps counting the transaction as open,
/// so the connection's next `begin` became a SAVEPOINT whose RELEASE committed nothing, and the
/// transaction it opened held the write lock for good: every later write found the database
/// locked, even once the disk had room again. Closing the connection ends whatever it held.
/// (Not for an in-memory store, whose one connection is the database.)
fn closing_broken_transactions(options: AnyPoolOptions) -> AnyPoolOptions {
    options.after_release(|conn, _meta| {
        Box::pin(async move {
            if !conn.is_in_transaction() {
                return Ok(true);
            }
            // A dropped transaction queued its rollback: this statement runs after it.
            conn.execute("SELECT 1").await?;
            if conn.is_in_transaction() {
                tracing::warn!("closing a store connection left inside a failed transaction");
                return Ok(false);
            }
            Ok(true)
        })
    })
}

/// The URL handed to sqlx: the path percent-encoded, `mode=rwc` unless the caller chose a mode.
fn sqlite_url(path: &Path, query: &str) -> String {
    let mut url = format!("sqlite://{}", percent_encode(&path.to_string_lossy()));
    let mut params: Vec<&str> = query.split('&').filter(|kv| !kv.is_empty()).collect();
    if !params.iter().any(|kv| kv.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    url.push('?');
    url.push_str(&params.join("&"));
    url
}

/// `~/x` → `$HOME/x`; anything else unchanged.
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), dirs::home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~:+,=@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with the password (in the user info or a `password=` parameter) replaced by `***`.
pub(crate) fn mask_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// sqlx's error and its causes; a refused connection says so.
fn cause(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::PoolTimedOut => format!(
            "no connection within {} (is the server running and reachable?)",
            humantime::format_duration(ACQUIRE_TIMEOUT)
        ),
        _ => chain_message(err),
    }
}

/// A `Store` error of Fusion's own making (no driver error behind it).
pub(crate) fn store_error(message: String) -> crate::Error {
    StoreError::other(message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_the_user_info_and_the_query() {
        assert_eq!(
            mask_url("postgres://fusion:s3cret@db:5432/fusion"),
            "postgres://fusion:***@db:5432/fusion"
        );
        assert_eq!(
            mask_url("postgresql://db/fusion?user=u&password=s3cret&sslmode=disable"),
            "postgresql://db/fusion?user=u&password=***&sslmode=disable"
        );
        assert_eq!(
            mask_url("postgres://postgres@127.0.0.1:55432/postgres"),
            "postgres://postgres@127.0.0.1:55432/postgres"
        );
        assert_eq!(mask_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }

    #[test]
    fn sqlite_urls_accept_both_forms_and_expand_home() {
        let Some(Target::SqliteFile { path, query }) = Target::parse("sqlite:///tmp/x%20y.db?a=b")
        else {
            panic!("not a file target");
        };
        assert_eq!(path, PathBuf::from("/tmp/x y.db"));
        assert_eq!(query, "a=b");
        assert!(matches!(
            Target::parse("sqlite:rel.db"),
            Some(Target::SqliteFile { .. })
        ));
        assert!(matches!(
            Target::parse("sqlite::memory:"),
            Some(Target::SqliteMemory)
        ));
        if let Some(home) = dirs::home_dir() {
            let Some(Target::SqliteFile { path, .. }) = Target::parse("sqlite://~/f/fusion.db")
            else {
                panic!("not a file target");
            };
            assert_eq!(path, home.join("f/fusion.db"));
        }
        assert!(Target::parse("mysql://x").is_none());
        assert!(Target::parse("sqlite://").is_none());
    }

    #[test]
    fn sqlite_url_encodes_the_path_and_creates_the_file() {
        assert_eq!(
            sqlite_url(Path::new("/tmp/a b#?.db"), ""),
            "sqlite:///tmp/a%20b%23%3F.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url(Path::new("/tmp/a.db"), "mode=ro"),
            "sqlite:///tmp/a.db?mode=ro"
        );
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
    }
}
