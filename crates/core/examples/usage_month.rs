//! The store side of `bench/usage_month.sh` (issue 21): fills a store with synthetic usage rows
//! through the public `Store` API (so the rows are exactly what the ledger writes), runs one
//! maintenance pass, and prints the store's row counts and size. Not part of Fusion.
//!
//! ```text
//! usage_month generate URL DAYS RATE   # DAYS of calls ending now, RATE calls a second
//! usage_month maintain URL RETENTION   # one maintenance pass (ledger retention like "30d")
//! usage_month stats URL                # raw, hourly and daily rows, pages, free pages
//! ```
//!
//! Each prints one line of JSON on stdout.

use std::error::Error;
use std::io::Write;
use std::time::Instant;

use fusion_core::store::{Caller, RetentionPolicy, Store, StoreKind, UsageRecord, now_ms};
use sqlx::Row;

/// Rows one `insert_usage` call writes (one transaction).
const CHUNK: usize = 20_000;
/// Most rows one run generates.
const MAX_ROWS: u64 = 200_000_000;
/// Models a synthetic call goes to, with their provider and price per call in 1/1024 dollars.
const ROUTES: [(&str, &str, u64); 8] = [
    ("openrouter", "llama-3.3-70b", 2),
    ("openrouter", "deepseek-v3", 3),
    ("openrouter", "qwen-2.5-72b", 1),
    ("anthropic", "claude-sonnet", 40),
    ("anthropic", "claude-haiku", 8),
    ("openai", "gpt-4o-mini", 4),
    ("local", "smollm2", 0),
    ("local", "qwen2.5-coder", 0),
];
const CALLERS: [Caller; 4] = [Caller::Http, Caller::Mcp, Caller::Cli, Caller::Task];

type Result<T> = std::result::Result<T, Box<dyn Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: usage_month generate URL DAYS RATE | maintain URL RETENTION | stats URL";
    let (command, url) = match args.as_slice() {
        [command, url, ..] => (command.as_str(), url.as_str()),
        _ => return Err(usage.into()),
    };
    let store = Store::open(Some(url)).await?;
    let line = match (command, &args[2..]) {
        ("generate", [days, rate]) => generate(&store, days.parse()?, rate.parse()?).await?,
        ("maintain", [retention]) => {
            let policy = RetentionPolicy {
                ledger: humantime::parse_duration(retention)?,
                ..RetentionPolicy::default()
            };
            let started = Instant::now();
            let report = store.run_maintenance(&policy, now_ms()).await;
            let mut value = serde_json::to_value(&report)?;
            value["seconds"] = started.elapsed().as_secs_f64().into();
            value
        }
        ("stats", []) => stats(&store).await?,
        _ => return Err(usage.into()),
    };
    store.close().await;
    writeln!(std::io::stdout().lock(), "{line}")?;
    Ok(())
}

/// `days` of calls ending now at `rate` a second, each key chosen by a cheap hash of its index.
async fn generate(store: &Store, days: u64, rate: f64) -> Result<serde_json::Value> {
    if !(rate > 0.0 && rate <= 10_000.0) || days == 0 || days > 3_650 {
        return Err("DAYS must be 1..=3650 and RATE in (0, 10000] calls a second".into());
    }
    let span_ms = days * 86_400_000;
    let total = ((span_ms as f64 / 1000.0) * rate) as u64;
    if total > MAX_ROWS {
        return Err(format!("{total} rows is more than {MAX_ROWS}").into());
    }
    let step_ms = span_ms as f64 / total.max(1) as f64;
    let start = now_ms() - i64::try_from(span_ms)?;
    let started = Instant::now();
    let mut chunk = Vec::with_capacity(CHUNK);
    for i in 0..total {
        let h = mix(i);
        let (provider, model, price) = ROUTES[(h % ROUTES.len() as u64) as usize];
        let tokens_in = 50 + (h >> 8) % 2_000;
        let tokens_out = 10 + (h >> 20) % 800;
        chunk.push(UsageRecord {
            at_ms: start + (i as f64 * step_ms) as i64,
            caller: CALLERS[((h >> 4) % 4) as usize],
            provider: provider.into(),
            model: model.into(),
            tokens_in,
            tokens_out,
            estimated: (h >> 32).is_multiple_of(10),
            cost_usd: price as f64 / 1024.0,
            latency_ms: 80 + (h >> 40) % 3_000,
            outcome: match (h >> 48) % 100 {
                0 | 1 => "timeout",
                2 => "status",
                _ => "ok",
            }
            .into(),
        });
        if chunk.len() == CHUNK {
            store.insert_usage(&chunk).await?;
            chunk.clear();
        }
    }
    store.insert_usage(&chunk).await?;
    Ok(serde_json::json!({
        "rows": total,
        "days": days,
        "rate_per_second": rate,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

/// splitmix64: a well-spread hash of the row index.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

async fn stats(store: &Store) -> Result<serde_json::Value> {
    let (raw, rolled) = store.usage_row_counts().await?;
    let daily: i64 = sqlx::query("SELECT COUNT(*) FROM usage_daily")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    let mut value =
        serde_json::json!({ "raw_rows": raw, "hourly_rows": rolled, "daily_rows": daily });
    if store.kind() == StoreKind::Sqlite {
        for pragma in ["page_count", "page_size", "freelist_count", "auto_vacuum"] {
            let row = sqlx::query(&format!("PRAGMA {pragma}"))
                .fetch_one(store.pool())
                .await?;
            value[pragma] = row.try_get::<i64, _>(0)?.into();
        }
    }
    Ok(value)
}
