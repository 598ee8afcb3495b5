//! Reading and validating a chat-completions body: the size limit (413), JSON that does not
//! fit the request shape (400 naming the offending field), and required fields.

use axum::extract::Request;
use bytes::Bytes;
use fusion_types::ChatRequest;

use crate::ApiError;

/// The body, at most `limit` bytes.
pub async fn read_body(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|err| {
            if is_length_limit(&err) {
                ApiError::too_large(limit)
            } else {
                ApiError::bad_request(format!("could not read the request body: {err}"), None)
            }
        })
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Parses and checks a chat request.
pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON chat completion request",
            None,
        ));
    }
    // The fast path parses plainly; only a failed parse is repeated with path tracking, to
    // name the offending field.
    let chat = match serde_json::from_slice::<ChatRequest>(body) {
        Ok(chat) => chat,
        Err(_) => return Err(explain(body)),
    };
    check(chat)
}

/// Why `body` does not parse, naming the field when serde can say which.
fn explain(body: &[u8]) -> ApiError {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, ChatRequest>(&mut de) {
        // Only trailing characters after the JSON can fail the plain parse but not this one.
        Ok(_) => ApiError::bad_request(
            match de.end() {
                Err(e) => format!("the request body is not valid JSON: {e}"),
                Ok(()) => "the request body is not a valid chat completion request".to_owned(),
            },
            None,
        ),
        Err(err) => {
            let syntax = err.inner().is_syntax() || err.inner().is_eof();
            // Broken JSON has no field to blame; a wrong type names the field as far as known.
            let param = if syntax { None } else { known_path(err.path()) };
            let inner = err.into_inner();
            let what = if syntax {
                "the request body is not valid JSON"
            } else {
                "the request body is not a valid chat completion request"
            };
            ApiError::bad_request(format!("{what}: {inner}"), param)
        }
    }
}

/// `messages[0].role`: the path up to the first segment serde could not name (never `?`);
/// `None` when not even the first is known.
fn known_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

fn check(chat: ChatRequest) -> Result<ChatRequest, ApiError> {
    if chat.model.trim().is_empty() {
        return Err(ApiError::bad_request(
            "`model` must not be empty",
            Some("model".into()),
        ));
    }
    if chat.messages.is_empty() {
        return Err(ApiError::bad_request(
            "`messages` must contain at least one message",
            Some("messages".into()),
        ));
    }
    if chat.n == Some(0) {
        return Err(ApiError::bad_request(
            "`n` must be at least 1",
            Some("n".into()),
        ));
    }
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(body: &str) -> Option<String> {
        let err = parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.status(), 400);
        err.body()["error"]["param"].as_str().map(str::to_owned)
    }

    #[test]
    fn a_wrong_field_type_names_the_field() {
        assert_eq!(
            param_of(
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#
            )
            .as_deref(),
            Some("temperature")
        );
        assert_eq!(
            param_of(r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#).as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(
            param_of(r#"{"model":"m"}"#),
            None,
            "a missing field is reported in the message"
        );
    }

    #[test]
    fn required_fields_are_checked() {
        assert_eq!(
            param_of(r#"{"model":"","messages":[{"role":"user","content":"x"}]}"#).as_deref(),
            Some("model")
        );
        assert_eq!(
            param_of(r#"{"model":"m","messages":[]}"#).as_deref(),
            Some("messages")
        );
        assert_eq!(
            param_of(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#)
                .as_deref(),
            Some("n")
        );
    }

    #[test]
    fn malformed_and_empty_bodies_are_bad_requests() {
        let trailing = parse(br#"{"model":"m","messages":[{"role":"user","content":"x"}]} extra"#)
            .unwrap_err();
        assert!(
            trailing.body()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("trailing characters")
        );
        let err = parse(b"{\"model\": ").unwrap_err();
        assert!(
            err.body()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not valid JSON")
        );
        assert_eq!(parse(b"  ").unwrap_err().status(), 400);
    }

    #[test]
    fn broken_json_names_no_param() {
        for body in [
            "{oops}",
            "{\"model\": ",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",,}]}",
        ] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert_eq!(
                err.body()["error"]["param"],
                serde_json::Value::Null,
                "{body}"
            );
        }
    }
}
