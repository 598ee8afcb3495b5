-- Models synced from a provider's OpenRouter-style catalog (`fusion models sync NAME`); a sync
-- replaces every row of its provider. Prices are USD per million tokens; `free` is 0/1.
CREATE TABLE IF NOT EXISTS synced_models (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    context_window BIGINT,
    input_per_mtok DOUBLE PRECISION NOT NULL,
    output_per_mtok DOUBLE PRECISION NOT NULL,
    free BIGINT NOT NULL,
    synced_at_ms BIGINT NOT NULL,
    PRIMARY KEY (provider, model)
);
