//! Benchmark runs and results (tables `bench_runs`, `bench_results`, migrations 0007 and 0008):
//! a run's row with its spec and status, one row per task × model × attempt (inserted once: a
//! resumed run skips what it has) with the router's complexity estimate of its task, and the
//! per-model, per-category aggregates the router routes on — overall, and by complexity.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;

/// One benchmark run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchRunRow {
    pub id: String,
    /// The suites it runs, comma-separated.
    pub suites: String,
    /// What it runs (models, tasks, runs per task, limits), as the bench engine wrote it.
    pub spec: serde_json::Value,
    /// `running`, `completed`, `interrupted` or `failed`.
    pub status: String,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
}

/// One answer to one task by one model, validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchResultRow {
    pub run_id: String,
    pub task_id: String,
    /// The Fusion model id.
    pub model: String,
    /// 1-based, up to the run's `runs_per_task`.
    pub attempt: u32,
    pub suite: String,
    /// The router's category name (`code`, `reasoning`, `summarization`, ...).
    pub category: String,
    /// 0 to 1 (1: the validator passed it).
    pub score: f64,
    pub latency_ms: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// The call failed (no answer to validate): the row counts for health, not quality.
    pub error: Option<String>,
    /// What the validator saw (JSON), for reports.
    pub detail: Option<serde_json::Value>,
    pub created_ms: i64,
}

/// A model's measured quality in one category: the mean score of `n` answered rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MeasuredQuality {
    pub model: String,
    pub category: String,
    pub n: u64,
    pub mean_score: f64,
}

/// A model's answers in one category at about one complexity (within 0.02): their count, mean
/// score and mean complexity — what the router fits its chance against complexity on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MeasuredAtComplexity {
    pub model: String,
    pub category: String,
    /// The router's complexity estimate of the tasks, 0–1 (their mean).
    pub complexity: f64,
    pub n: u64,
    pub mean_score: f64,
}

/// Thousandths of complexity grouped together by [`Store::measured_by_complexity`].
const COMPLEXITY_GROUP_MILLI: i64 = 20;

const RUN_COLUMNS: &str = "id, suites, spec, status, created_ms, finished_ms";
const RESULT_COLUMNS: &str = "run_id, task_id, model, attempt, suite, category, score, \
                              latency_ms, output_tokens, cost_usd, error, detail, created_ms";

impl Store {
    /// Records a new run (an id taken already is an error).
    pub async fn insert_bench_run(&self, run: &BenchRunRow) -> crate::Result<()> {
        sqlx::query(&format!(
            "INSERT INTO bench_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(run.id.as_str())
        .bind(run.suites.as_str())
        .bind(run.spec.to_string())
        .bind(run.status.as_str())
        .bind(run.created_ms)
        .bind(run.finished_ms)
        .execute(self.pool())
        .await
        .map_err(|e| self.query_error("recording a benchmark run", e))?;
        Ok(())
    }

    /// Sets a run's status (and when it finished, for an ended run).
    pub async fn set_bench_run_status(
        &self,
        id: &str,
        status: &str,
        finished_ms: Option<i64>,
    ) -> crate::Result<()> {
        sqlx::query("UPDATE bench_runs SET status = $1, finished_ms = $2 WHERE id = $3")
            .bind(status)
            .bind(finished_ms)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(|e| self.query_error("updating a benchmark run", e))?;
        Ok(())
    }

    /// One run, if there is one with this id.
    pub async fn bench_run(&self, id: &str) -> crate::Result<Option<BenchRunRow>> {
        let doing = "reading a benchmark run";
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM bench_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        row.as_ref()
            .map(read_run)
            .transpose()
            .map_err(|e| self.query_error(doing, e))
    }

    /// The latest `limit` runs, newest first.
    pub async fn bench_runs(&self, limit: u32) -> crate::Result<Vec<BenchRunRow>> {
        let doing = "listing benchmark runs";
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM bench_runs ORDER BY created_ms DESC, id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(read_run)
            .collect::<Result<_, _>>()
            .map_err(|e| self.query_error(doing, e))
    }

    /// Records one result; `false` when the run already has this task × model × attempt (it is
    /// kept as it was: a resumed run does not redo or overwrite work).
    pub async fn put_bench_result(&self, row: &BenchResultRow) -> crate::Result<bool> {
        self.put_bench_result_with_complexity(row, None).await
    }

    /// [`Self::put_bench_result`], with the router's complexity estimate (0–1; kept to the
    /// thousandth, clamped; a value that is not finite is kept as none) of the row's task.
    pub async fn put_bench_result_with_complexity(
        &self,
        row: &BenchResultRow,
        complexity: Option<f64>,
    ) -> crate::Result<bool> {
        let milli = complexity
            .filter(|c| c.is_finite())
            .map(|c| (c.clamp(0.0, 1.0) * 1000.0).round() as i64);
        let done = sqlx::query(&format!(
            "INSERT INTO bench_results ({RESULT_COLUMNS}, complexity_milli) VALUES ($1, $2, $3, \
             $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (run_id, task_id, model, attempt) DO NOTHING"
        ))
        .bind(row.run_id.as_str())
        .bind(row.task_id.as_str())
        .bind(row.model.as_str())
        .bind(i64::from(row.attempt))
        .bind(row.suite.as_str())
        .bind(row.category.as_str())
        .bind(row.score)
        .bind(i64::try_from(row.latency_ms).unwrap_or(i64::MAX))
        .bind(i64::try_from(row.output_tokens).unwrap_or(i64::MAX))
        .bind(row.cost_usd)
        .bind(row.error.clone())
        .bind(row.detail.as_ref().map(serde_json::Value::to_string))
        .bind(row.created_ms)
        .bind(milli)
        .execute(self.pool())
        .await
        .map_err(|e| self.query_error("recording a benchmark result", e))?;
        Ok(done.rows_affected() > 0)
    }

    /// The results of one run, or of every run, in run, task, model, attempt order.
    pub async fn bench_results(&self, run_id: Option<&str>) -> crate::Result<Vec<BenchResultRow>> {
        let doing = "reading benchmark results";
        let filter = if run_id.is_some() {
            "WHERE run_id = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM bench_results {filter} \
             ORDER BY run_id, task_id, model, attempt"
        );
        let mut query = sqlx::query(&sql);
        if let Some(id) = run_id {
            query = query.bind(id);
        }
        let rows = query
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(read_result)
            .collect::<Result<_, _>>()
            .map_err(|e| self.query_error(doing, e))
    }

    /// The results of the newest `runs` runs whose `suites` is exactly `suites` (the council
    /// eval's `eval:council`, say), in one query, in run, task, model, attempt order.
    pub async fn bench_results_of_suite(
        &self,
        suites: &str,
        runs: u32,
    ) -> crate::Result<Vec<BenchResultRow>> {
        let doing = "reading benchmark results by suite";
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM bench_results WHERE run_id IN (SELECT id FROM \
             bench_runs WHERE suites = $1 ORDER BY created_ms DESC, id DESC LIMIT $2) \
             ORDER BY run_id, task_id, model, attempt"
        );
        let rows = sqlx::query(&sql)
            .bind(suites)
            .bind(i64::from(runs))
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(read_result)
            .collect::<Result<_, _>>()
            .map_err(|e| self.query_error(doing, e))
    }

    /// Per model and category, the count and mean score of answered results (every run).
    pub async fn measured_quality(&self) -> crate::Result<Vec<MeasuredQuality>> {
        let doing = "reading measured quality";
        let rows = sqlx::query(
            "SELECT model, category, COUNT(*) AS n, AVG(score) AS mean_score FROM bench_results \
             WHERE error IS NULL GROUP BY model, category ORDER BY model, category",
        )
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(|row| {
                Ok(MeasuredQuality {
                    model: row.try_get("model")?,
                    category: row.try_get("category")?,
                    n: u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
                    mean_score: row.try_get("mean_score")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.query_error(doing, e))
    }
}

impl Store {
    /// Per model and category, the answered results with a recorded complexity, grouped by
    /// complexity (within 0.02): count, mean score and mean complexity (every run), in model,
    /// category, complexity order. At most 51 groups per model and category.
    pub async fn measured_by_complexity(&self) -> crate::Result<Vec<MeasuredAtComplexity>> {
        let doing = "reading measured quality by complexity";
        let rows = sqlx::query(&format!(
            "SELECT model, category, COUNT(*) AS n, AVG(score) AS mean_score, \
             AVG(CAST(complexity_milli AS DOUBLE PRECISION)) AS mean_milli FROM bench_results \
             WHERE error IS NULL AND complexity_milli IS NOT NULL \
             GROUP BY model, category, complexity_milli / {COMPLEXITY_GROUP_MILLI} \
             ORDER BY model, category, MIN(complexity_milli)"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(doing, e))?;
        rows.iter()
            .map(|row| {
                let milli: f64 = row.try_get("mean_milli")?;
                Ok(MeasuredAtComplexity {
                    model: row.try_get("model")?,
                    category: row.try_get("category")?,
                    complexity: (milli / 1000.0).clamp(0.0, 1.0),
                    n: u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
                    mean_score: row.try_get("mean_score")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.query_error(doing, e))
    }
}

fn read_run(row: &AnyRow) -> Result<BenchRunRow, sqlx::Error> {
    Ok(BenchRunRow {
        id: row.try_get("id")?,
        suites: row.try_get("suites")?,
        spec: json(row, "spec")?.unwrap_or(serde_json::Value::Null),
        status: row.try_get("status")?,
        created_ms: row.try_get("created_ms")?,
        finished_ms: row.try_get("finished_ms")?,
    })
}

fn read_result(row: &AnyRow) -> Result<BenchResultRow, sqlx::Error> {
    let count = |name: &str| -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
    };
    Ok(BenchResultRow {
        run_id: row.try_get("run_id")?,
        task_id: row.try_get("task_id")?,
        model: row.try_get("model")?,
        attempt: u32::try_from(count("attempt")?).unwrap_or(u32::MAX),
        suite: row.try_get("suite")?,
        category: row.try_get("category")?,
        score: row.try_get("score")?,
        latency_ms: count("latency_ms")?,
        output_tokens: count("output_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
        error: row.try_get("error")?,
        detail: json(row, "detail")?,
        created_ms: row.try_get("created_ms")?,
    })
}

/// A JSON text column, parsed (`None` when NULL).
fn json(row: &AnyRow, name: &str) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let text: Option<String> = row.try_get(name)?;
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}
