//! The store's error: what was being done (with the masked URL), a [`StoreFailure`] class that
//! tells a busy database, a unique violation and a pool timeout apart, and the driver's error
//! kept as `source()` rather than flattened into text. Its text names the database and quotes
//! the driver, so it belongs in logs: front doors answer [`StoreFailure::public_message`].

use std::error::Error as StdError;

use sqlx::error::DatabaseError;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    failure: StoreFailure,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// What kind of store failure it was, read from the driver's error (never from its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// The database is busy or locked by another writer (SQLite `SQLITE_BUSY`/`SQLITE_LOCKED`,
    /// PostgreSQL serialization failure, deadlock or lock not available): worth trying again.
    Busy,
    /// A row with the same unique key already exists.
    UniqueViolation,
    /// No pooled connection came free within the acquire timeout.
    PoolTimedOut,
    /// Anything else: a closed pool, a bad URL, a failed migration, an unreadable row.
    Other,
}

impl StoreError {
    /// A failure of Fusion's own making, with no driver error behind it.
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            failure: StoreFailure::Other,
            message: message.into(),
            source: None,
        }
    }

    /// A driver error, classified, kept as the source; `message` says what was being done.
    pub fn sqlx(message: impl Into<String>, err: sqlx::Error) -> Self {
        Self {
            failure: StoreFailure::of(&err),
            message: message.into(),
            source: Some(Box::new(err)),
        }
    }

    /// Any other error kept as the source (a migration, a file, a URL that does not parse).
    pub fn caused_by(
        message: impl Into<String>,
        err: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self {
            failure: StoreFailure::Other,
            message: message.into(),
            source: Some(Box::new(err)),
        }
    }

    /// The failure class.
    pub fn failure(&self) -> StoreFailure {
        self.failure
    }

    /// The full text (database URL masked, driver's words included): for logs, not clients.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The driver's error, when one caused this.
    pub fn sqlx_error(&self) -> Option<&sqlx::Error> {
        self.source.as_deref()?.downcast_ref::<sqlx::Error>()
    }
}

impl StoreFailure {
    /// Classifies a driver error by its variant and the database's own error code.
    pub fn of(err: &sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut => Self::PoolTimedOut,
            sqlx::Error::Database(db) => Self::of_database(db.as_ref()),
            sqlx::Error::Migrate(migrate) => match migrate.as_ref() {
                sqlx::migrate::MigrateError::Execute(inner)
                | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => Self::of(inner),
                // `MigrateError` is non-exhaustive: the rest are bookkeeping mismatches.
                _ => Self::Other,
            },
            // `sqlx::Error` is non-exhaustive: the rest (I/O, TLS, protocol, decoding, a closed
            // pool, a missing row) are nothing another attempt would fix by itself.
            _ => Self::Other,
        }
    }

    fn of_database(db: &dyn DatabaseError) -> Self {
        if db.is_unique_violation() {
            return Self::UniqueViolation;
        }
        let code = db.code();
        let code = code.as_deref().unwrap_or_default();
        // SQLite reports extended codes: the primary code is the low byte (5 BUSY, 6 LOCKED).
        let sqlite_busy = code
            .parse::<i32>()
            .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6));
        // PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
        let postgres_busy = matches!(code, "40001" | "40P01" | "55P03");
        if sqlite_busy || postgres_busy {
            Self::Busy
        } else {
            Self::Other
        }
    }

    /// A short class name for logs, metrics and error codes.
    pub fn class(self) -> &'static str {
        match self {
            Self::Busy => "store_busy",
            Self::UniqueViolation => "store_unique_violation",
            Self::PoolTimedOut => "store_pool_timeout",
            Self::Other => "store",
        }
    }

    /// The HTTP status a front door answers: 503 while busy or out of connections (try again),
    /// 409 for a conflicting row, 500 otherwise.
    pub fn status_code(self) -> u16 {
        match self {
            Self::Busy | Self::PoolTimedOut => 503,
            Self::UniqueViolation => 409,
            Self::Other => 500,
        }
    }

    /// Whether the same operation may succeed if tried again.
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Busy | Self::PoolTimedOut => true,
            Self::UniqueViolation | Self::Other => false,
        }
    }

    /// What a client is told: fixed text with no URL and no driver words (`None` for
    /// [`StoreFailure::Other`], a 500, which answers only a request id).
    pub fn public_message(self) -> Option<&'static str> {
        match self {
            Self::Busy => Some("Fusion's store is busy; try again shortly"),
            Self::PoolTimedOut => Some(
                "Fusion's store gave no connection in time (it is unreachable or overloaded); try again shortly",
            ),
            Self::UniqueViolation => Some("the store already holds a record with this key"),
            Self::Other => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, Executor};

    async fn sqlite(path: &std::path::Path) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        sqlx::AnyConnection::connect(&url).await.unwrap()
    }

    #[tokio::test]
    async fn a_unique_violation_is_told_apart_from_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut first = sqlite(&path).await;
        first
            .execute("CREATE TABLE t (id TEXT PRIMARY KEY)")
            .await
            .unwrap();
        first.execute("INSERT INTO t VALUES ('a')").await.unwrap();
        let duplicate = first
            .execute("INSERT INTO t VALUES ('a')")
            .await
            .unwrap_err();
        let err = StoreError::sqlx("inserting", duplicate);
        assert_eq!(err.failure(), StoreFailure::UniqueViolation);
        assert_eq!(err.failure().status_code(), 409);
        assert!(err.sqlx_error().is_some(), "the driver error is kept");
        assert!(err.source().is_some());

        // Another connection holds the write lock and this one will not wait: busy.
        first.execute("BEGIN EXCLUSIVE").await.unwrap();
        let mut second = sqlite(&path).await;
        second.execute("PRAGMA busy_timeout = 0").await.unwrap();
        let locked = second
            .execute("INSERT INTO t VALUES ('b')")
            .await
            .unwrap_err();
        let err = StoreError::sqlx("inserting", locked);
        assert_eq!(err.failure(), StoreFailure::Busy, "{err:?}");
        assert!(err.failure().is_retryable());
        assert_eq!(err.failure().status_code(), 503);
        first.execute("ROLLBACK").await.unwrap();
    }

    #[test]
    fn a_pool_timeout_is_its_own_class() {
        let err = StoreError::sqlx("reading", sqlx::Error::PoolTimedOut);
        assert_eq!(err.failure(), StoreFailure::PoolTimedOut);
        assert_eq!(err.failure().class(), "store_pool_timeout");
        assert!(err.failure().is_retryable());
        let closed = StoreError::sqlx("reading", sqlx::Error::PoolClosed);
        assert_eq!(closed.failure(), StoreFailure::Other);
        assert_eq!(closed.failure().status_code(), 500);
        assert!(closed.failure().public_message().is_none());
    }
}
