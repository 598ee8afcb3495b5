//! End-to-end (issue 21): `fusion usage` reads the hourly rollups of usage rows past
//! `storage.ledger_retention` together with the raw rows — the real binary prints the same
//! report before and after the store's maintenance rolled the old rows up — and a bad
//! retention in the config is refused with its key named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::run_fusion;
use fusion_core::store::{Caller, RetentionPolicy, Store, UsageRecord, now_ms};
use serde_json::Value;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn config(dir: &Path, storage_extra: &str) -> std::path::PathBuf {
    let path = dir.join("fusion.toml");
    let text = format!(
        "[storage]\nurl = \"sqlite://{}/store.db\"\n{storage_extra}\n\n[router]\ndiscover = false\n",
        dir.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A call `age_ms` ago; costs are multiples of 1/8 so sums are exact in any order.
fn call(now: i64, age_ms: i64, i: u64) -> UsageRecord {
    UsageRecord {
        at_ms: now - age_ms,
        caller: [Caller::Http, Caller::Mcp][(i % 2) as usize],
        provider: ["openrouter", "local"][(i % 2) as usize].into(),
        model: ["llama", "qwen", "claude"][(i % 3) as usize].into(),
        tokens_in: 100 + i,
        tokens_out: 10 + i % 4,
        estimated: i % 4 == 1,
        cost_usd: (i % 5) as f64 / 8.0,
        latency_ms: 50 + i,
        outcome: if i % 7 == 3 { "timeout" } else { "ok" }.into(),
    }
}

async fn usage(dir: &Path, cfg: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["usage", "--json", "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = run_fusion(dir, &args, None, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn fusion_usage_reads_rolled_up_hours_with_the_raw_rows() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "ledger_retention = \"30d\"");
    let now = now_ms();
    // Sixty calls spread over the last 50 days: those older than 30 days get rolled up.
    let rows: Vec<UsageRecord> = (0..60u64)
        .map(|i| call(now, i64::try_from(i).unwrap() * 20 * HOUR + 5 * 60_000, i))
        .collect();
    let store = Store::open(Some(&format!("sqlite://{}/store.db", dir.path().display())))
        .await
        .unwrap();
    store.insert_usage(&rows).await.unwrap();
    let before = usage(dir.path(), &cfg, &[]).await;
    let week_before = usage(dir.path(), &cfg, &["--since", "7d"]).await;
    assert_eq!(before["total"]["calls"], 60, "{before}");

    let policy = RetentionPolicy {
        ledger: Duration::from_secs(30 * 86_400),
        ..RetentionPolicy::default()
    };
    let report = store.run_maintenance(&policy, now).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let old = rows
        .iter()
        .filter(|r| r.at_ms < now - 30 * DAY - HOUR)
        .count();
    assert!(
        report.usage_rows_rolled_up >= old as u64 && report.usage_rows_rolled_up > 0,
        "{report:?}"
    );
    let (raw, rolled) = store.usage_row_counts().await.unwrap();
    assert!(raw < 60 && rolled > 0, "{raw} raw, {rolled} rolled up");
    store.close().await;

    let after = usage(dir.path(), &cfg, &[]).await;
    assert_eq!(after, before, "the same report before and after the rollup");
    let week_after = usage(dir.path(), &cfg, &["--since", "7d"]).await;
    assert_eq!(week_after["total"], week_before["total"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_retention_is_refused_with_its_key_named() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in [
        ("ledger_retention = \"soon\"", "ledger_retention"),
        ("task_retention = \"1m\"", "storage.task_retention"),
    ] {
        let cfg = config(dir.path(), extra);
        let run = run_fusion(
            dir.path(),
            &["usage", "--config", cfg.to_str().unwrap()],
            None,
            &[],
        )
        .await;
        assert_eq!(run.code, 2, "{extra}: {}", run.stderr);
        assert!(run.stderr.contains(key), "{extra}: {}", run.stderr);
    }
}
