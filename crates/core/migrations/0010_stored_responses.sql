-- Stored responses of /v1/responses (`store`, true by default as in OpenAI's API): each row is
-- one response with the whole conversation it answered (its input items, a previous response's
-- conversation included) and the response object, both JSON text, so `previous_response_id`
-- can continue it and `GET /v1/responses/{id}` can return it. Bounded: the writer keeps the
-- newest rows only (by `seq`, microseconds since the epoch, bumped on collisions). Portable SQL
-- (SQLite and PostgreSQL through sqlx's Any driver).
CREATE TABLE IF NOT EXISTS stored_responses (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    model TEXT NOT NULL,
    input TEXT NOT NULL,
    response TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS stored_responses_by_seq ON stored_responses (seq);
