-- Durable async tasks and their jobs. Portable SQL (SQLite and PostgreSQL through sqlx's Any
-- driver): integers and booleans are BIGINT (0/1), times are Unix milliseconds, JSON is TEXT.
-- A task is what a client submitted (a routed completion or a council run); its jobs are the
-- model calls it made. `seq` orders tasks submitted in the same millisecond; `slot_group` is
-- the concurrency group the task is dispatched under ("local", "provider:NAME", "council");
-- `owner` and `lease_until_ms` say which process runs it and until when its claim holds.
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    priority BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    started_ms BIGINT,
    finished_ms BIGINT,
    slot_group TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL,
    progress_message TEXT,
    request TEXT NOT NULL,
    decision TEXT,
    model TEXT,
    provider TEXT,
    result TEXT,
    error TEXT,
    cost_usd DOUBLE PRECISION NOT NULL,
    tokens BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    owner TEXT,
    lease_until_ms BIGINT,
    cancel_requested BIGINT NOT NULL,
    caller TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (state, priority, created_ms, seq);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_ms);

-- One model call of a task; `attempt` is the task attempt (1-based) that made it, `seq` its
-- order within the task.
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    label TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,
    started_ms BIGINT,
    finished_ms BIGINT,
    error TEXT,
    cost_usd DOUBLE PRECISION NOT NULL,
    tokens BIGINT NOT NULL,
    cancel_requested BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS jobs_task ON jobs (task_id, seq);
