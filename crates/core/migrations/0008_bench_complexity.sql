-- The router's complexity estimate of each benchmark result's task, in thousandths (0–1000):
-- the router reads a model's scores against it (a fit per model and category) to know its
-- chance on a task of a given complexity rather than its mean over easy and hard ones alike.
-- NULL for results recorded before it, and for rows written by other evaluations; those still
-- count in the category's mean. An integer, not a float: portable through sqlx's Any driver,
-- which binds a NULL f64 badly on PostgreSQL.
ALTER TABLE bench_results ADD COLUMN complexity_milli BIGINT;
