//! The two store backends and [`on_both_backends!`](crate::on_both_backends), which runs one
//! async test body on each of them.

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A database of its own on the server in `FUSION_TEST_POSTGRES_URL` (see
    /// [`PgDatabase`](crate::PgDatabase)).
    Postgres,
}

/// Runs each named body — `async fn NAME(backend: Backend)` in the calling module, or
/// `MODULE::NAME` — once per backend, as the tests `sqlite::NAME` and `postgres::NAME` (so a
/// filter such as `-E 'not test(/^postgres::/)'` selects one store). Each test gets a
/// multi-threaded runtime with 2 workers, or as many as `worker_threads = N;` says first.
///
/// ```ignore
/// fusion_test_support::on_both_backends!(opens_a_fresh_store, reopening_is_idempotent);
/// fusion_test_support::on_both_backends!(worker_threads = 4; queue::slots_hold, cancel::stops);
/// ```
#[macro_export]
macro_rules! on_both_backends {
    (worker_threads = $threads:literal; $($module:ident :: $name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$module::$name($crate::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$module::$name($crate::Backend::Postgres).await
                }
            )+
        }
    };
    (worker_threads = $threads:literal; $($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )+
        }
    };
    ($($body:tt)+) => {
        $crate::on_both_backends!(worker_threads = 2; $($body)+);
    };
}
