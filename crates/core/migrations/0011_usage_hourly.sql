-- Hourly rollups of the usage ledger, so that usage reports read hours × keys of sums instead
-- of every call, and `usage_events` rows older than `storage.ledger_retention` can be deleted.
-- `usage_hourly` sums the calls of one UTC hour per caller, provider, model and outcome:
-- `hour_ms` is the Unix millisecond the hour starts at, `day` its UTC calendar day
-- (YYYY-MM-DD; an hour lies in one day), `estimated_calls` the calls whose tokens were
-- estimated, `latency_ms` the sum of the calls' latencies and `max_latency_ms` the largest. `usage_rollup` holds one row: every usage row before
-- `rolled_until_ms` is summed in `usage_hourly`, and reports read raw rows from there on.
-- Portable SQL (SQLite and PostgreSQL through sqlx's Any driver).
CREATE TABLE IF NOT EXISTS usage_hourly (
    hour_ms BIGINT NOT NULL,
    day TEXT NOT NULL,
    caller TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    outcome TEXT NOT NULL,
    calls BIGINT NOT NULL,
    estimated_calls BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    latency_ms BIGINT NOT NULL,
    max_latency_ms BIGINT NOT NULL,
    PRIMARY KEY (hour_ms, caller, provider, model, outcome)
);

-- The same sums per UTC day (`day_ms` its midnight), refreshed from `usage_hourly` for the days
-- a rollup touched, so a report over weeks reads days × keys of rows.
CREATE TABLE IF NOT EXISTS usage_daily (
    day_ms BIGINT NOT NULL,
    day TEXT NOT NULL,
    caller TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    outcome TEXT NOT NULL,
    calls BIGINT NOT NULL,
    estimated_calls BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    latency_ms BIGINT NOT NULL,
    max_latency_ms BIGINT NOT NULL,
    PRIMARY KEY (day_ms, caller, provider, model, outcome)
);

CREATE TABLE IF NOT EXISTS usage_rollup (
    id BIGINT PRIMARY KEY,
    rolled_until_ms BIGINT NOT NULL
);

INSERT INTO usage_rollup (id, rolled_until_ms)
SELECT 1, 0 WHERE NOT EXISTS (SELECT 1 FROM usage_rollup WHERE id = 1);

-- Finished tasks are deleted by age (`storage.task_retention`).
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished_ms);
