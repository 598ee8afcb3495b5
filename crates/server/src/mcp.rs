//! `/mcp`: the MCP Streamable HTTP endpoint, mounted from `fusion_mcp` (the SDK does all the
//! protocol work). Two adjustments on the way out: the SDK answers a body that is not JSON with
//! `415` and a plain-text line; clients get `400` with a JSON-RPC parse error (-32700, `id`
//! null) instead, as JSON-RPC prescribes, so any client library can show it. And a session
//! ended with `DELETE` is answered `200`, not the SDK's `202`: the official Python client
//! counts anything but 200/204 as a failed termination and says so in its log.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

/// Largest SDK error text carried over into the JSON-RPC message.
const MAX_DETAIL_BYTES: usize = 4096;

pub fn service(state: &AppState) -> fusion_mcp::McpHttpService {
    let server = &state.config().server;
    fusion_mcp::http_service(
        fusion_mcp::FusionMcp::new(state.fusion()).with_hub(state.hub().clone()),
        fusion_mcp::HttpOptions {
            allowed_hosts: server.allowed_hosts.clone(),
            allowed_origins: server.allowed_origins.clone(),
            max_body_bytes: server.max_body_bytes,
            shutdown: state.shutdown_token().clone(),
        },
    )
}

/// Answers a session ended with `DELETE` with `200` (the SDK says `202 Accepted`).
pub async fn ended_sessions(request: Request, next: Next) -> Response {
    let delete = request.method() == axum::http::Method::DELETE;
    let mut response = next.run(request).await;
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// Turns the SDK's `415` for an undecodable JSON body into `400` + JSON-RPC `-32700`.
pub async fn parse_errors(request: Request, next: Next) -> Response {
    let declared_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let response = next.run(request).await;
    if !declared_json || response.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return response;
    }
    let detail = match axum::body::to_bytes(response.into_body(), MAX_DETAIL_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::from("the body is not a JSON-RPC message"),
    };
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32700, "message": format!("Parse error: {detail}") },
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    async fn sdk_like() -> Response {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "fail to deserialize request body x",
        )
            .into_response()
    }

    async fn call(content_type: &str) -> (StatusCode, String) {
        let app = Router::new()
            .route("/mcp", post(sdk_like))
            .layer(axum::middleware::from_fn(parse_errors));
        let response = app
            .oneshot(
                Request::post("/mcp")
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from("{nope"))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn undecodable_json_becomes_a_json_rpc_parse_error() {
        let (status, body) = call("application/json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], -32700);
        assert_eq!(body["id"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn a_wrong_content_type_keeps_its_415() {
        let (status, _) = call("text/plain").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
