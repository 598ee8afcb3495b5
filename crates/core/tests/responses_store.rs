//! Stored responses of `/v1/responses` (migration 0010) on SQLite and PostgreSQL: a response is
//! read back by id with its conversation, storing the same id again replaces it, the table is
//! pruned to the newest rows, and a row too large to keep is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, TestStore};
use fusion_core::store::StoredResponse;
use fusion_core::store::responses::MAX_STORED_BYTES;
use serde_json::json;

fn row(id: &str, at_ms: i64, text: &str) -> StoredResponse {
    StoredResponse {
        id: id.into(),
        at_ms,
        model: "gpt-5".into(),
        input: json!([{"type": "message", "role": "user", "content": text}]),
        response: json!({"id": id, "object": "response", "output_text": format!("re: {text}")}),
    }
}

async fn a_stored_response_is_read_back_with_its_conversation_and_replaced_by_id(backend: Backend) {
    let t = TestStore::new(backend).await;
    let first = row("resp_1", 1_000, "hello");
    t.store.insert_response(&first).await.unwrap();
    assert_eq!(
        t.store.stored_response("resp_1").await.unwrap(),
        Some(first)
    );
    assert_eq!(t.store.stored_response("resp_none").await.unwrap(), None);
    let again = row("resp_1", 2_000, "changed");
    t.store.insert_response(&again).await.unwrap();
    assert_eq!(
        t.store.stored_response("resp_1").await.unwrap(),
        Some(again)
    );
    assert_eq!(t.store.stored_response_count().await.unwrap(), 1);
}

async fn stored_responses_are_pruned_to_the_newest_and_oversized_ones_refused(backend: Backend) {
    let t = TestStore::new(backend).await;
    for i in 0..5 {
        let r = row(&format!("resp_{i}"), 10_000 + i, "x");
        t.store.insert_response(&r).await.unwrap();
    }
    assert_eq!(t.store.prune_stored_responses(2).await.unwrap(), 3);
    assert!(t.store.stored_response("resp_2").await.unwrap().is_none());
    assert!(t.store.stored_response("resp_4").await.unwrap().is_some());
    let huge = row("resp_huge", 20_000, &"y".repeat(MAX_STORED_BYTES));
    let err = t.store.insert_response(&huge).await.unwrap_err();
    assert!(err.to_string().contains("resp_huge"), "{err}");
    assert!(
        t.store
            .stored_response("resp_huge")
            .await
            .unwrap()
            .is_none()
    );
}

fusion_test_support::on_both_backends!(
    a_stored_response_is_read_back_with_its_conversation_and_replaced_by_id,
    stored_responses_are_pruned_to_the_newest_and_oversized_ones_refused,
);
