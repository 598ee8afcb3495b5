-- The usage ledger: one row per model call. Portable SQL (SQLite and PostgreSQL through sqlx's
-- Any driver): integers are BIGINT, booleans BIGINT 0/1, `day` is the UTC calendar day
-- (YYYY-MM-DD) computed by Fusion at insert so grouping by day needs no date functions.
CREATE TABLE IF NOT EXISTS usage_events (
    at_ms BIGINT NOT NULL,
    day TEXT NOT NULL,
    caller TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    estimated BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    latency_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS usage_events_at_ms ON usage_events (at_ms);
