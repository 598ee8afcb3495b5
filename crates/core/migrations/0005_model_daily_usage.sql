-- Daily request caps that providers state per model (OpenRouter's free models: X-RateLimit-*
-- headers with a day-long window, or a 429 saying the per-day limit is reached), with the calls
-- Fusion made in the current window, so a restart still skips a model whose cap is used up.
-- Portable SQL (SQLite and PostgreSQL through sqlx's Any driver): times are Unix milliseconds,
-- `exhausted` is 0/1. `model` is the upstream's model name; one row per provider and model,
-- overwritten as the window goes on.
CREATE TABLE IF NOT EXISTS model_daily_usage (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    requests BIGINT NOT NULL,
    daily_limit BIGINT,
    remaining BIGINT,
    reset_at_ms BIGINT NOT NULL,
    exhausted BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (provider, model)
);
