//! Per-model daily usage in the store (migration 0005) on SQLite and PostgreSQL: a row is
//! written, overwritten as the window goes on, and read back only while its window lasts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, TestStore};
use fusion_core::store::ModelDailyUsage;

/// 2025-03-01T00:00:00Z.
const NOW: i64 = 1_740_787_200_000;
const HOUR: i64 = 3_600_000;

fn usage(model: &str, requests: u64, reset_at_ms: i64) -> ModelDailyUsage {
    ModelDailyUsage {
        provider: "openrouter".into(),
        model: model.into(),
        requests,
        daily_limit: Some(50),
        remaining: Some(50 - requests),
        reset_at_ms,
        exhausted: false,
        updated_ms: NOW,
    }
}

async fn daily_usage_is_upserted_per_model_and_read_back_while_its_window_lasts(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = &t.store;
    let capped = usage("meta/llama:free", 1, NOW + 10 * HOUR);
    store.put_model_daily_usage(&capped).await.unwrap();
    let ended = usage("qwen/qwen3:free", 7, NOW - HOUR);
    store.put_model_daily_usage(&ended).await.unwrap();
    assert_eq!(
        store.model_daily_usage(NOW).await.unwrap(),
        std::slice::from_ref(&capped)
    );

    let used_up = ModelDailyUsage {
        requests: 50,
        remaining: Some(0),
        daily_limit: None,
        exhausted: true,
        updated_ms: NOW + 1,
        ..capped
    };
    store.put_model_daily_usage(&used_up).await.unwrap();
    assert_eq!(store.model_daily_usage(NOW).await.unwrap(), [used_up]);
    assert!(
        store
            .model_daily_usage(NOW + 10 * HOUR)
            .await
            .unwrap()
            .is_empty()
    );
}

fusion_test_support::on_both_backends!(
    daily_usage_is_upserted_per_model_and_read_back_while_its_window_lasts
);
