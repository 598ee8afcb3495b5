-- The dashboard's history: one row per council run, whatever front door ran it (with its whole
-- trace as JSON), and one per routing decision the router made for a caller (written in
-- batches off the request path). Both tables are bounded: their writer keeps the newest rows
-- only. `seq` orders rows made in the same millisecond (microseconds since the epoch, bumped
-- on collisions in one process). Portable SQL (SQLite and PostgreSQL through sqlx's Any
-- driver): times are Unix milliseconds, booleans BIGINT 0/1, JSON is TEXT.
CREATE TABLE IF NOT EXISTS council_runs (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    council TEXT NOT NULL,
    caller TEXT NOT NULL,
    question TEXT NOT NULL,
    status TEXT NOT NULL,
    degraded BIGINT NOT NULL,
    total_ms BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    result TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS council_runs_by_seq ON council_runs (seq);

CREATE TABLE IF NOT EXISTS routing_decisions (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    caller TEXT NOT NULL,
    chosen TEXT,
    summary TEXT NOT NULL,
    decision TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS routing_decisions_by_seq ON routing_decisions (seq);
