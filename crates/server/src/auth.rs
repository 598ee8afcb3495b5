//! Key authentication for the API and metrics routes: a bearer key (`Authorization: Bearer`),
//! or Anthropic's `x-api-key` header (how Claude Code and the Anthropic SDK send theirs). With no
//! keys configured every request passes (the server then refuses non-loopback addresses unless
//! told otherwise).

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// Anthropic's key header.
const X_API_KEY: &str = "x-api-key";

pub async fn require_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.keys().is_empty() {
        return next.run(request).await;
    }
    let headers = request.headers();
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get(X_API_KEY).and_then(|v| v.to_str().ok()))
        .map(str::trim);
    match presented {
        Some(key)
            if state
                .keys()
                .iter()
                .any(|k| same(k.as_bytes(), key.as_bytes())) =>
        {
            next.run(request).await
        }
        _ if crate::anthropic::serves(request.uri().path()) => crate::anthropic::unauthorized(),
        _ => ApiError::unauthorized().into_response(),
    }
}

/// Compares in time that depends only on the lengths, not on where the keys differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn keys_match_only_when_identical() {
        assert!(same(b"sk-abc", b"sk-abc"));
        assert!(!same(b"sk-abc", b"sk-abd"));
        assert!(!same(b"sk-abc", b"sk-ab"));
        assert!(!same(b"", b"x"));
    }
}
