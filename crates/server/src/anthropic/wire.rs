//! The Anthropic Messages API request as `POST /v1/messages` and `/v1/messages/count_tokens`
//! receive it: typed where Fusion translates a field, every other top-level field kept in
//! `extra` (dropped when translating, named in the log). Parsing names the offending field
//! (`messages[1].content[0].tool_use_id`) in Anthropic's error shape.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::MessagesError;

/// A Messages API request body.
#[derive(Debug, Deserialize)]
pub(super) struct MessagesRequest {
    pub model: String,
    pub messages: Vec<InputMessage>,
    /// Required by `/v1/messages` (checked there), not by `count_tokens`.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub system: Option<System>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// `thinking`, `metadata`, `top_k`, `context_management`, `output_config`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `system`: a string or a list of text blocks.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum System {
    Text(String),
    Blocks(Vec<SystemBlock>),
}

#[derive(Debug, Deserialize)]
pub(super) struct SystemBlock {
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Role {
    User,
    Assistant,
}

#[derive(Debug, Deserialize)]
pub(super) struct InputMessage {
    pub role: Role,
    pub content: Content,
}

/// A message's content: a string or content blocks.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

/// A content block. Fields Fusion does not read (`cache_control`, `citations`) are ignored.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    /// A document: its text is kept when it is plain text, else it is dropped.
    Document {
        source: Value,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        is_error: Option<bool>,
    },
    /// The model's own reasoning from an earlier turn: not part of a chat message.
    Thinking,
    RedactedThinking,
    /// Server tool blocks, search results and any future type: dropped.
    #[serde(other)]
    Other,
}

/// Where an image block's bytes are.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ImageSource {
    Base64 {
        media_type: String,
        data: String,
    },
    Url {
        url: String,
    },
    /// A Files API id (or any other source): Fusion cannot fetch it.
    #[serde(other)]
    Other,
}

/// A tool the model may call. Anthropic's server tools (`type: "web_search_20250305"`, ...)
/// have a `type` other than `custom` and no schema.
#[derive(Debug, Deserialize)]
pub(super) struct Tool {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ToolChoice {
    Auto {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

/// Parses a Messages body; the error names the field serde could not read.
pub(super) fn parse(body: &[u8]) -> Result<MessagesRequest, MessagesError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(MessagesError::invalid(
            "the request body is empty; send a JSON Messages API request",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: MessagesRequest = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            MessagesError::invalid(format!("the request body is not valid JSON: {inner}"))
        } else if path == "." {
            MessagesError::invalid(format!(
                "the request body is not a Messages request: {inner}"
            ))
        } else {
            MessagesError::invalid(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| MessagesError::invalid(format!("the request body is not valid JSON: {e}")))?;
    if request.model.trim().is_empty() {
        return Err(MessagesError::invalid("model: must not be empty"));
    }
    if request.messages.is_empty() {
        return Err(MessagesError::invalid(
            "messages: at least one message is required",
        ));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_of(body: &str) -> String {
        let err = parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.status(), 400, "{body}");
        err.message().to_owned()
    }

    #[test]
    fn every_block_type_parses_and_unknown_ones_are_kept_as_other() {
        let body = r#"{"model":"m","max_tokens":5,"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":[{"type":"text","text":"hi"},
              {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},
              {"type":"image","source":{"type":"file","file_id":"f1"}},
              {"type":"search_result","source":"x","title":"t","content":[]}]},
             {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},
              {"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok","is_error":false}]}],
            "thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"u"}}"#;
        let request = parse(body.as_bytes()).unwrap();
        assert_eq!(request.messages.len(), 3);
        let Content::Blocks(blocks) = &request.messages[0].content else {
            panic!()
        };
        assert!(matches!(
            blocks[2],
            Block::Image {
                source: ImageSource::Other
            }
        ));
        assert!(matches!(blocks[3], Block::Other));
        assert!(request.extra.contains_key("thinking"));
        assert!(request.extra.contains_key("metadata"));
    }

    #[test]
    fn malformed_requests_name_the_field() {
        assert!(message_of(r#"{"model":"m","max_tokens":1}"#).contains("missing field `messages`"));
        assert!(
            message_of(r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#)
                .starts_with("messages[0].role")
        );
        let m = message_of(
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result"}]}]}"#,
        );
        assert!(m.starts_with("messages[0].content"), "{m}");
        assert!(
            message_of(r#"{"model":"m","messages":[],"max_tokens":"x"}"#).starts_with("max_tokens")
        );
        assert!(message_of("{\"model\": ").contains("not valid JSON"));
        assert!(
            message_of(r#"{"model":"m","messages":[{"role":"user","content":"x"}]} x"#)
                .contains("not valid JSON")
        );
        assert!(message_of("  ").contains("empty"));
        assert!(
            message_of(r#"{"model":" ","messages":[{"role":"user","content":"x"}]}"#)
                .starts_with("model")
        );
        assert!(message_of(r#"{"model":"m","messages":[]}"#).starts_with("messages"));
        assert!(message_of("[1]").contains("not a Messages request"));
    }
}
