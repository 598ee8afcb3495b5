//! How a tool call that failed answers: a tool result with `isError` whose text says what went
//! wrong and whose `structuredContent` classifies it — `{"error": {"class", "retryable",
//! "message"}}` — so an agent can tell "try again" from "fix your call". Arguments that do not
//! parse answer `invalid_arguments` (one place, for every tool); an engine error answers its
//! own class and retryability, and only what a client may be told.

use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, ErrorCode};
use serde_json::json;

/// The class of a call whose arguments were wrong: never retryable as sent.
pub const INVALID_ARGUMENTS: &str = "invalid_arguments";

/// How the SDK's `Parameters` extractor words a deserialization failure.
const SDK_PARSE_PREFIX: &str = "failed to deserialize parameters:";

/// A failed call of `class`: `message` as text and in `structuredContent.error`.
pub fn failed(class: &str, retryable: bool, message: impl Into<String>) -> CallToolResult {
    let message = message.into();
    let mut result = CallToolResult::error(vec![ContentBlock::text(message.clone())]);
    result.structured_content = Some(json!({
        "error": { "class": class, "retryable": retryable, "message": message }
    }));
    result
}

/// Arguments `tool` cannot take: they did not parse, or a value is out of bounds.
pub fn invalid_arguments(tool: &str, problem: impl std::fmt::Display) -> CallToolResult {
    failed(
        INVALID_ARGUMENTS,
        false,
        format!("invalid arguments for `{tool}`: {problem}"),
    )
}

/// An engine error, classified: internal details stay in the log (see
/// `fusion_core::Error::for_client`).
pub fn from_core(err: &fusion_core::Error) -> CallToolResult {
    failed(err.class(), err.is_retryable(), err.for_client().message)
}

/// A tool's answer as the client gets it. A route answers Invalid params only when the SDK
/// could not parse its arguments into the tool's input type: that becomes an
/// `invalid_arguments` tool result the calling model can read. Anything else passes as it is.
pub fn answer(
    tool: &str,
    outcome: Result<CallToolResponse, ErrorData>,
) -> Result<CallToolResponse, ErrorData> {
    match outcome {
        Err(error) if error.code == ErrorCode::INVALID_PARAMS => {
            let problem = error
                .message
                .strip_prefix(SDK_PARSE_PREFIX)
                .unwrap_or(&error.message)
                .trim_start();
            Ok(invalid_arguments(tool, problem).into())
        }
        other => other,
    }
}

/// The shape of [`failed`]'s structured content, for tools that declare an output schema.
pub fn output_schema() -> serde_json::Value {
    json!({
        "description": "A failed call: its class, whether the same call may succeed if \
                        tried again, and what went wrong.",
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "class": {"type": "string"},
                    "retryable": {"type": "boolean"},
                    "message": {"type": "string"}
                },
                "required": ["class", "retryable", "message"]
            }
        },
        "required": ["error"]
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fusion_core::ErrorKind;
    use serde_json::Value;

    use super::*;

    fn error_of(result: &CallToolResult) -> &Value {
        &result.structured_content.as_ref().unwrap()["error"]
    }

    fn text_of(result: &CallToolResult) -> &str {
        &result.content[0].as_text().unwrap().text
    }

    #[test]
    fn a_malformed_argument_answers_invalid_arguments_not_retryable() {
        let parse = serde_json::from_value::<crate::AskInput>(json!({"prompt": 5})).unwrap_err();
        let sdk = ErrorData::invalid_params(format!("{SDK_PARSE_PREFIX} {parse}"), None);
        let Ok(CallToolResponse::Complete(result)) = answer("fusion_ask", Err(sdk)) else {
            panic!("an argument failure must be a tool result");
        };
        assert_eq!(result.is_error, Some(true));
        let error = error_of(&result);
        assert_eq!(error["class"], "invalid_arguments");
        assert_eq!(error["retryable"], false);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with("invalid arguments for `fusion_ask`: invalid type"),
            "{message}"
        );
        assert_eq!(text_of(&result), message);
    }

    #[test]
    fn an_upstream_timeout_answers_its_class_and_retryable() {
        let err: fusion_core::Error = ErrorKind::Timeout {
            provider: "local".into(),
            after: Duration::from_secs(30),
        }
        .into();
        let result = from_core(&err);
        assert_eq!(result.is_error, Some(true));
        let error = error_of(&result);
        assert_eq!(error["class"], "timeout");
        assert_eq!(error["retryable"], true);
        assert_eq!(error["message"], err.to_string());
        assert_eq!(text_of(&result), err.to_string());
    }

    #[test]
    fn an_internal_failure_answers_a_request_id_not_its_detail() {
        let err: fusion_core::Error = ErrorKind::MissingApiKey {
            provider: "openai".into(),
            env: "SECRET_ENV_NAME".into(),
        }
        .into();
        let result = from_core(&err);
        let message = error_of(&result)["message"].as_str().unwrap();
        assert!(message.contains("request id"), "{message}");
        assert!(!message.contains("SECRET_ENV_NAME"), "{message}");
        assert_eq!(error_of(&result)["retryable"], false);
    }

    #[test]
    fn other_protocol_errors_pass_unchanged() {
        let cancelled = ErrorData::internal_error("the request was cancelled by the client", None);
        let err = answer("fusion_ask", Err(cancelled)).unwrap_err();
        assert_eq!(err.code, ErrorCode::INTERNAL_ERROR);
    }
}
