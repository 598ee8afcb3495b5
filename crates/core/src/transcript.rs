//! A chat conversation as one plain-text prompt, for upstreams that take a single text (`exec`
//! commands) and for councils asked through the chat API.

use fusion_types::{ChatMessage, Role};
use serde_json::Value;

/// The conversation as one prompt.
///
/// A lone user message is passed as its bare text. Anything else becomes a plain transcript:
/// the system and developer texts first, then one paragraph per message, each separated by a
/// blank line and labelled `User: `, `Assistant: ` or `Tool result: `; an assistant's tool
/// calls are written as `[tool call: name(arguments)]`.
pub fn render(messages: &[ChatMessage]) -> String {
    if let [only] = messages
        && only.role == Role::User
    {
        return only.text_content();
    }
    let mut paragraphs: Vec<String> = messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .map(ChatMessage::text_content)
        .filter(|text| !text.trim().is_empty())
        .collect();
    for message in messages {
        let label = match message.role {
            Role::System | Role::Developer => continue,
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::Tool => "Tool result",
        };
        let mut text = message.text_content();
        let calls = message.tool_calls.as_ref().and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            let function = &call["function"];
            let name = function["name"].as_str().unwrap_or_default();
            let arguments = function["arguments"].as_str().unwrap_or_default();
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("[tool call: {name}({arguments})]"));
        }
        paragraphs.push(format!("{label}: {text}"));
    }
    paragraphs.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lone_user_message_is_passed_bare_and_tool_turns_are_labelled() {
        assert_eq!(render(&[ChatMessage::text(Role::User, "hi")]), "hi");
        let mut call = ChatMessage::text(Role::Assistant, "");
        call.tool_calls = Some(json!([{"id": "c1", "type": "function",
            "function": {"name": "grep", "arguments": "{\"q\":\"x\"}"}}]));
        let result = ChatMessage::text(Role::Tool, "3 matches");
        let prompt = render(&[ChatMessage::text(Role::User, "find x"), call, result]);
        assert_eq!(
            prompt,
            "User: find x\n\nAssistant: [tool call: grep({\"q\":\"x\"})]\n\nTool result: 3 matches"
        );
    }
}
