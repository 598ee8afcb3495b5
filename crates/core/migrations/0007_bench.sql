-- Benchmarks (`fusion bench`, the benchmark_* MCP tools): one row per run, and one per task ×
-- model × attempt of a run — a resumed run skips the rows it has. A model's measured quality
-- per category is the mean score of its answered rows (`error` NULL); the router reads those
-- aggregates. Portable SQL (SQLite and PostgreSQL through sqlx's Any driver); times are Unix
-- milliseconds, `spec` and `detail` JSON text.
CREATE TABLE IF NOT EXISTS bench_runs (
    id TEXT PRIMARY KEY,
    suites TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    finished_ms BIGINT
);

CREATE TABLE IF NOT EXISTS bench_results (
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    model TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    suite TEXT NOT NULL,
    category TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    latency_ms BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    error TEXT,
    detail TEXT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, task_id, model, attempt)
);

CREATE INDEX IF NOT EXISTS bench_results_by_model ON bench_results (model, category);
