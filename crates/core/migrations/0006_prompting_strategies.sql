-- Per-model prompting strategies set through MCP (`set_model_prompting_strategy`); the provider
-- registry applies them to every call of the model, over any `prompting` of its config entry.
-- Portable SQL (SQLite and PostgreSQL through sqlx's Any driver): `use_chat` is 0/1, times are
-- Unix milliseconds. One row per Fusion model id, overwritten when set again.
CREATE TABLE IF NOT EXISTS prompting_strategies (
    model TEXT PRIMARY KEY,
    system_prompt TEXT NOT NULL,
    user_prompt TEXT NOT NULL,
    use_chat BIGINT NOT NULL,
    assistant_prompt TEXT,
    success_rate DOUBLE PRECISION,
    quality_score DOUBLE PRECISION,
    updated_ms BIGINT NOT NULL
);
