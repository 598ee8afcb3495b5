-- Hourly rollups of the usage ledger: `usage_events` rows older than `storage.ledger_retention`
-- are summed here per UTC hour, caller, provider, model, outcome and estimated flag, then
-- deleted (one transaction per bounded batch), so the ledger stops growing without end while
-- every usage report reads raw rows and rollups together. Portable SQL (SQLite and PostgreSQL
-- through sqlx's Any driver): `hour_ms` is the Unix millisecond the UTC hour starts at, `day`
-- its UTC calendar day (YYYY-MM-DD, an hour lies in one day), `latency_ms` the sum of the
-- calls' latencies and `max_latency_ms` the largest, `estimated` BIGINT 0/1.
CREATE TABLE IF NOT EXISTS usage_hourly (
    hour_ms BIGINT NOT NULL,
    day TEXT NOT NULL,
    caller TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    outcome TEXT NOT NULL,
    estimated BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    latency_ms BIGINT NOT NULL,
    max_latency_ms BIGINT NOT NULL,
    PRIMARY KEY (hour_ms, caller, provider, model, outcome, estimated)
);

-- Finished tasks are deleted by age (`storage.task_retention`).
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished_ms);
