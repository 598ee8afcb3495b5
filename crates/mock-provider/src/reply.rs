//! Replies: reads the prompt out of a request's `messages`, renders a model's scripted
//! [`Reply`] for it (a text or tool calls), and splits text into words for `usage` counts and
//! stream chunks.

use std::borrow::Cow;

use serde_json::Value;

use crate::script::{Reply, ToolCall};

/// The parts of a request's messages that replies are built from.
#[derive(Debug, Default)]
pub(crate) struct Prompt<'a> {
    /// Text of the last `user` message ("" when there is none).
    pub last_user: Cow<'a, str>,
    /// Text of the first `system` (or `developer`) message ("" when there is none).
    pub system: Cow<'a, str>,
    /// Text of the last `tool` message ("" when there is none).
    pub tool_result: Cow<'a, str>,
    /// Whether the last message is a `tool` message (a tool's result to answer from).
    pub after_tool: bool,
}

/// What a rendered reply is: a text, or the tool calls of the script.
#[derive(Debug, PartialEq)]
pub(crate) enum Answer<'s> {
    Text(Cow<'s, str>),
    ToolCalls(&'s [ToolCall]),
}

impl Answer<'_> {
    /// Words of the answer, for `usage`: the text's, or each call's name and arguments.
    pub(crate) fn words(&self) -> u64 {
        match self {
            Self::Text(text) => word_count(text),
            Self::ToolCalls(calls) => calls
                .iter()
                .map(|c| 1 + word_count(&c.arguments_text()))
                .sum(),
        }
    }
}

impl<'a> Prompt<'a> {
    pub(crate) fn from_messages(messages: &'a [Value]) -> Self {
        let mut prompt = Prompt::default();
        let is_tool = |message: &Value| message.get("role").and_then(Value::as_str) == Some("tool");
        prompt.after_tool = messages.last().is_some_and(is_tool);
        let (mut have_user, mut have_tool) = (false, false);
        for message in messages.iter().rev() {
            let role = message.get("role").and_then(Value::as_str).unwrap_or("");
            match role {
                "user" if !have_user => {
                    prompt.last_user = message_text(message);
                    have_user = true;
                }
                "tool" if !have_tool => {
                    prompt.tool_result = message_text(message);
                    have_tool = true;
                }
                "system" | "developer" => {
                    // Iterating backwards: the last assignment is the first system message.
                    prompt.system = message_text(message);
                }
                _ => {}
            }
        }
        prompt
    }
}

/// Counts the words of every message's text: the mock's stand-in for prompt tokens.
pub(crate) fn prompt_words(messages: &[Value]) -> u64 {
    messages
        .iter()
        .map(|message| word_count(&message_text(message)))
        .sum()
}

/// The text of a message: a string `content`, or its `text` parts joined by newlines.
fn message_text(message: &Value) -> Cow<'_, str> {
    match message.get("content") {
        Some(Value::String(text)) => Cow::Borrowed(text),
        Some(Value::Array(parts)) => {
            let mut texts = parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str));
            let Some(first) = texts.next() else {
                return Cow::Borrowed("");
            };
            match texts.next() {
                None => Cow::Borrowed(first),
                Some(second) => {
                    let mut joined = format!("{first}\n{second}");
                    for text in texts {
                        joined.push('\n');
                        joined.push_str(text);
                    }
                    Cow::Owned(joined)
                }
            }
        }
        _ => Cow::Borrowed(""),
    }
}

/// Renders `reply` for the 0-based `call` to `model` with `prompt`.
pub(crate) fn render<'s>(
    reply: &'s Reply,
    call: u64,
    prompt: &Prompt<'_>,
    model: &str,
) -> Answer<'s> {
    match reply {
        Reply::ToolCalls(calls) => Answer::ToolCalls(calls),
        Reply::UntilToolResult { reply, then } => {
            let next = if prompt.after_tool { then } else { reply };
            render(next, call, prompt, model)
        }
        text => Answer::Text(render_text(text, call, prompt, model)),
    }
}

/// Renders a text reply (a tool-call reply renders as "").
fn render_text<'s>(reply: &'s Reply, call: u64, prompt: &Prompt<'_>, model: &str) -> Cow<'s, str> {
    match reply {
        Reply::ToolCalls(_) | Reply::UntilToolResult { .. } => Cow::Borrowed(""),
        Reply::Fixed(text) => Cow::Borrowed(text),
        Reply::Echo => Cow::Owned(echo(prompt)),
        Reply::Template(template) => Cow::Owned(fill_template(template, prompt, model)),
        Reply::Sequence(replies) => {
            let index = usize::try_from(call).unwrap_or(usize::MAX);
            match replies.get(index).or(replies.last()) {
                Some(text) => Cow::Borrowed(text),
                None => Cow::Borrowed(""),
            }
        }
        Reply::ByPromptContains(pairs) => pairs
            .iter()
            .find(|(needle, _)| prompt.last_user.contains(needle.as_str()))
            .map_or_else(
                || Cow::Owned(echo(prompt)),
                |(_, answer)| Cow::Borrowed(answer.as_str()),
            ),
    }
}

fn echo(prompt: &Prompt<'_>) -> String {
    let mut text = String::with_capacity(6 + prompt.last_user.len());
    text.push_str("echo: ");
    text.push_str(&prompt.last_user);
    text
}

/// Replaces `{prompt}`, `{system}` and `{model}` in one pass; other braces are kept.
fn fill_template(template: &str, prompt: &Prompt<'_>, model: &str) -> String {
    let mut out = String::with_capacity(template.len() + prompt.last_user.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let (value, skip) = if tail.starts_with("{prompt}") {
            (Some(prompt.last_user.as_ref()), "{prompt}".len())
        } else if tail.starts_with("{system}") {
            (Some(prompt.system.as_ref()), "{system}".len())
        } else if tail.starts_with("{tool_result}") {
            (Some(prompt.tool_result.as_ref()), "{tool_result}".len())
        } else if tail.starts_with("{model}") {
            (Some(model), "{model}".len())
        } else {
            (None, 1)
        };
        out.push_str(value.unwrap_or("{"));
        rest = &tail[skip..];
    }
    out.push_str(rest);
    out
}

/// Whitespace-separated words: the mock's token count.
pub(crate) fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Splits off the next stream chunk of `text`: up to `words` words, each with the whitespace
/// before it; trailing whitespace stays with the last chunk. Chunks concatenate back to `text`.
/// Returns `None` when `text` is empty.
pub(crate) fn next_chunk(text: &str, words: usize) -> Option<&str> {
    if text.is_empty() {
        return None;
    }
    let words = words.max(1);
    let mut seen = 0;
    let mut in_word = false;
    let mut cut = text.len();
    for (index, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_word && space {
            seen += 1;
            if seen == words {
                cut = index;
                break;
            }
        }
        in_word = !space;
    }
    if text[cut..].trim_start().is_empty() {
        cut = text.len();
    }
    Some(&text[..cut])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn chunks(text: &str, words: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(chunk) = next_chunk(rest, words) {
            out.push(chunk);
            rest = &rest[chunk.len()..];
        }
        out
    }

    #[test]
    fn chunks_carry_leading_whitespace_and_rejoin_to_the_text() {
        assert_eq!(chunks("hello big world", 1), ["hello", " big", " world"]);
        assert_eq!(chunks(" a b  c ", 2), [" a b", "  c "]);
        assert_eq!(chunks("one", 0), ["one"]);
        assert!(chunks("", 1).is_empty());
        let text = "ünï cödé\n  spans lines ";
        assert_eq!(chunks(text, 1).concat(), text);
    }

    #[test]
    fn prompt_takes_last_user_and_first_system_message() {
        let messages = json!([
            {"role": "system", "content": "be brief"},
            {"role": "system", "content": "second"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": [{"type": "text", "text": "part one"},
                                         {"type": "image_url", "image_url": {"url": "x"}},
                                         {"type": "text", "text": "part two"}]}
        ]);
        let messages = messages.as_array().unwrap();
        let prompt = Prompt::from_messages(messages);
        assert_eq!(prompt.last_user, "part one\npart two");
        assert_eq!(prompt.system, "be brief");
        assert_eq!(prompt_words(messages), 2 + 1 + 2 + 1 + 4);
    }

    #[test]
    fn template_fills_placeholders_once() {
        let prompt = Prompt {
            last_user: Cow::Borrowed("say {model}"),
            system: Cow::Borrowed("sys"),
            ..Prompt::default()
        };
        let text = fill_template("[{model}] {system}: {prompt} {other}", &prompt, "m1");
        assert_eq!(text, "[m1] sys: say {model} {other}");
    }

    #[test]
    fn sequence_repeats_its_last_entry() {
        let reply = Reply::Sequence(vec!["a".into(), "b".into()]);
        let prompt = Prompt::default();
        let got: Vec<_> = (0..4).map(|n| render(&reply, n, &prompt, "m")).collect();
        let text = |t: &'static str| Answer::Text(Cow::Borrowed(t));
        assert_eq!(got, [text("a"), text("b"), text("b"), text("b")]);
    }

    #[test]
    fn by_prompt_contains_falls_back_to_echo() {
        let reply = Reply::ByPromptContains(vec![("rain".into(), "umbrella".into())]);
        let wet = Prompt {
            last_user: Cow::Borrowed("will it rain?"),
            ..Prompt::default()
        };
        let dry = Prompt {
            last_user: Cow::Borrowed("sunny?"),
            ..Prompt::default()
        };
        assert_eq!(render_text(&reply, 0, &wet, "m"), "umbrella");
        assert_eq!(render_text(&reply, 0, &dry, "m"), "echo: sunny?");
    }

    #[test]
    fn until_tool_result_calls_tools_then_answers_with_the_result() {
        let call = ToolCall::new("time__now", json!({"timezone": "UTC"}));
        let reply = Reply::UntilToolResult {
            reply: Box::new(Reply::ToolCalls(vec![call.clone()])),
            then: Box::new(Reply::Template("It is {tool_result}.".into())),
        };
        let first = json!([{"role": "user", "content": "what time is it?"}]);
        let first = first.as_array().unwrap();
        let prompt = Prompt::from_messages(first);
        assert!(!prompt.after_tool);
        let answer = render(&reply, 0, &prompt, "m");
        assert_eq!(answer, Answer::ToolCalls(std::slice::from_ref(&call)));
        // "time__now" (1) + `{"timezone":"UTC"}` (1).
        assert_eq!(answer.words(), 2);
        let second = json!([
            {"role": "user", "content": "what time is it?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1"}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "12:00 UTC"}
        ]);
        let prompt = Prompt::from_messages(second.as_array().unwrap());
        assert!(prompt.after_tool);
        assert_eq!(
            render(&reply, 1, &prompt, "m"),
            Answer::Text(Cow::Owned("It is 12:00 UTC.".into()))
        );
    }
}
