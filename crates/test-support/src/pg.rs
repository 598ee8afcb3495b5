//! A PostgreSQL database of its own per test, on the server in `FUSION_TEST_POSTGRES_URL`
//! (`scripts/postgres.sh` starts one and prints the variable; `scripts/test.sh` does both).
//! Without the variable a PostgreSQL test fails; it never passes silently.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor};

/// A fresh database, dropped `WITH (FORCE)` when this is dropped (also after a panic).
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// The database's URL: the server's URL with the database name replaced.
    pub url: String,
}

impl PgDatabase {
    /// Creates a database with a name no other test (in this or another process) uses.
    pub async fn create() -> PgDatabase {
        let Ok(admin_url) = std::env::var("FUSION_TEST_POSTGRES_URL") else {
            panic!(
                "FUSION_TEST_POSTGRES_URL is not set: the PostgreSQL tests need a server. Run \
                 scripts/test.sh (it starts one through scripts/postgres.sh), or run \
                 `scripts/postgres.sh` and export the FUSION_TEST_POSTGRES_URL=... line it prints."
            );
        };
        let name = unique_name();
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(e) => panic!("cannot reach {admin_url} ({e}); run scripts/postgres.sh"),
        };
        let create = format!("CREATE DATABASE {name}");
        admin
            .execute(create.as_str())
            .await
            .unwrap_or_else(|e| panic!("{create}: {e}"));
        if let Err(e) = admin.close().await {
            panic!("closing the admin connection to {admin_url}: {e}");
        }
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
                .map_err(sqlx::Error::Io)?;
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

/// `fusion_test_<pid>_<nanos>_<n>`: unique across the test processes nextest runs at once and
/// across the databases one test makes.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("fusion_test_{}_{nanos}_{n}", std::process::id())
}

/// The URL with its database replaced: `postgres://u@h:p/postgres` → `postgres://u@h:p/NAME`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let Some((scheme, rest)) = base.split_once("://") else {
        panic!("FUSION_TEST_POSTGRES_URL `{url}` is not a URL like postgres://user@host:port/db");
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{name}");
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_one_in_the_url_and_the_query_stays() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:55432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:55432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t3"), "postgres://h:1/t3");
    }
}
