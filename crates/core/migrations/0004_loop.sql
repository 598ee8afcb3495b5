-- The loop checker's durable runs. Portable SQL (SQLite and PostgreSQL through sqlx's Any
-- driver): times are Unix milliseconds, JSON is TEXT. A run freezes its objective and
-- acceptance criteria at start; `status` is where the gate left it. Every report, check,
-- council review and decision of a run is one row of `loop_records`, numbered from 1 per run
-- and kind, its content a JSON document in `body`.
CREATE TABLE IF NOT EXISTS loop_runs (
    id TEXT PRIMARY KEY,
    objective TEXT NOT NULL,
    acceptance_criteria TEXT NOT NULL,
    status TEXT NOT NULL,
    first_prompt TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    caller TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS loop_runs_updated ON loop_runs (updated_ms);

CREATE TABLE IF NOT EXISTS loop_records (
    run_id TEXT NOT NULL REFERENCES loop_runs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    seq BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, seq)
);

CREATE INDEX IF NOT EXISTS loop_records_created ON loop_records (run_id, created_ms);
