//! A streamed chat completion (the SSE `data:` chunks `/v1/chat/completions` sends) → the
//! Messages API event sequence: `message_start` and a `ping` at once, then per content block
//! `content_block_start`, `content_block_delta` (`text_delta`, or `input_json_delta` carrying a
//! tool call's argument fragments) and `content_block_stop`, then `message_delta` (stop reason,
//! usage) and `message_stop`. A chat error event (`data: {"error":...}`), a body that breaks or
//! ends before `[DONE]` becomes an `error` event that ends the stream. Council progress (SSE
//! comments) becomes `ping`s.

use std::collections::{HashMap, VecDeque};

use crate::answer_lines::Lines;
use axum::body::Body;
use axum::response::sse::Event;
use fusion_types::{ChatChunk, Usage};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use super::from_chat::{matched_stop, message_id, stop_reason, tool_use_id, usage};

/// A tool call's arguments held while its name has not arrived, at most (names come first in
/// practice; the arguments that follow a name stream through unheld).
const MAX_HELD_ARGUMENTS: usize = 8 * 1024 * 1024;

/// The Messages events for a chat SSE `body`, as each chunk arrives.
pub(super) fn translate(
    body: Body,
    model: String,
    stop_sequences: Vec<String>,
) -> impl Stream<Item = Event> + Send + 'static {
    let translator = Translator::new(model, stop_sequences);
    let queued: VecDeque<Event> = translator.start().into();
    let state = State {
        body: body.into_data_stream(),
        lines: Lines::default(),
        translator,
        queued,
        ended: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.queued.pop_front() {
                return Some((event, state));
            }
            if state.ended {
                return None;
            }
            match state.body.next().await {
                Some(Ok(bytes)) => {
                    let events = match state.lines.feed(&bytes) {
                        Ok(lines) => {
                            let mut events = Vec::new();
                            for line in lines {
                                events.extend(state.translator.on_line(&line));
                            }
                            events
                        }
                        Err(message) => state.translator.fail("api_error", &message),
                    };
                    state.queued.extend(events);
                }
                Some(Err(e)) => {
                    let events = state
                        .translator
                        .fail("api_error", &format!("the answer stream broke: {e}"));
                    state.queued.extend(events);
                }
                None => {
                    let events = state.translator.fail(
                        "api_error",
                        "the answer stream ended before it was complete",
                    );
                    state.queued.extend(events);
                }
            }
            state.ended |= state.translator.ended;
        }
    })
}

struct State {
    body: axum::body::BodyDataStream,
    lines: Lines,
    translator: Translator,
    queued: VecDeque<Event>,
    ended: bool,
}

/// The block being written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(usize),
    /// A tool call (its chat index) in the block at this index.
    Tool(u64, usize),
}

/// A tool call whose name has not arrived yet: its fragments wait.
#[derive(Default)]
struct Pending {
    id: Option<String>,
    name: Option<String>,
    arguments: String,
}

/// The state of one streamed answer.
struct Translator {
    id: String,
    model: String,
    stop_sequences: Vec<String>,
    /// The next content block's index.
    next: usize,
    open: Option<Open>,
    /// Chat tool-call index → its block index, once started.
    tools: HashMap<u64, usize>,
    pending: HashMap<u64, Pending>,
    finish: Option<String>,
    matched: Option<String>,
    usage: Option<Usage>,
    /// Bytes of text and arguments written (for an estimate when no usage came).
    written: usize,
    ended: bool,
}

impl Translator {
    fn new(model: String, stop_sequences: Vec<String>) -> Self {
        Self {
            id: message_id(""),
            model,
            stop_sequences,
            next: 0,
            open: None,
            tools: HashMap::new(),
            pending: HashMap::new(),
            finish: None,
            matched: None,
            usage: None,
            written: 0,
            ended: false,
        }
    }

    fn start(&self) -> Vec<Event> {
        vec![
            event(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": usage(Usage::default()),
                }}),
            ),
            event("ping", json!({"type": "ping"})),
        ]
    }

    /// One line of the chat stream.
    fn on_line(&mut self, line: &str) -> Vec<Event> {
        if self.ended {
            return Vec::new();
        }
        if line.starts_with(':') {
            // A council's progress comment; keep-alive comments are empty.
            return if line.len() > 1 {
                vec![event("ping", json!({"type": "ping"}))]
            } else {
                Vec::new()
            };
        }
        let Some(data) = line.strip_prefix("data:") else {
            return Vec::new();
        };
        let data = data.trim_start();
        if data == "[DONE]" {
            return self.finish();
        }
        // Every field of a chunk has a default: an error event parses too, its body in `extra`.
        let chunk: ChatChunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(e) => return self.fail("api_error", &format!("an unreadable answer chunk: {e}")),
        };
        if let Some(error) = chunk.extra.get("error") {
            let message = error["message"].as_str().unwrap_or("the model call failed");
            let kind = match error["type"].as_str() {
                Some("rate_limit_error") => "rate_limit_error",
                Some("invalid_request_error") => "invalid_request_error",
                _ => "api_error",
            };
            return self.fail(kind, message);
        }
        self.on_chunk(chunk)
    }

    fn on_chunk(&mut self, chunk: ChatChunk) -> Vec<Event> {
        let mut out = Vec::new();
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        let Some(choice) = chunk.choices.into_iter().next() else {
            return out;
        };
        if let Some(text) = choice.delta.get("content").and_then(Value::as_str)
            && !text.is_empty()
        {
            self.text(text, &mut out);
        }
        if let Some(calls) = choice.delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                self.tool_fragment(call, position, &mut out);
                if self.ended {
                    return out;
                }
            }
        }
        if let Some(matched) = matched_stop(&choice.extra, &self.stop_sequences) {
            self.matched = Some(matched);
        }
        if let Some(finish) = choice.finish_reason {
            self.finish = Some(finish);
        }
        out
    }

    fn text(&mut self, text: &str, out: &mut Vec<Event>) {
        let index = match self.open {
            Some(Open::Text(index)) => index,
            _ => {
                self.close(out);
                let index = self.begin(out, json!({"type": "text", "text": ""}));
                self.open = Some(Open::Text(index));
                index
            }
        };
        self.written += text.len();
        out.push(text_delta(index, text));
    }

    /// A `delta.tool_calls[]` fragment: the block starts once the call's name is known; its
    /// argument fragments follow as `input_json_delta`.
    fn tool_fragment(&mut self, call: &Value, position: usize, out: &mut Vec<Event>) {
        let key = call["index"].as_u64().unwrap_or(position as u64);
        let function = &call["function"];
        let arguments = function["arguments"].as_str().unwrap_or_default();
        self.written += arguments.len();
        if let Some(&index) = self.tools.get(&key) {
            if !arguments.is_empty() {
                out.push(delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": arguments}),
                ));
            }
            return;
        }
        let pending = self.pending.entry(key).or_default();
        if let Some(id) = call["id"].as_str().filter(|id| !id.is_empty()) {
            pending.id = Some(id.to_owned());
        }
        if let Some(name) = function["name"].as_str().filter(|n| !n.is_empty()) {
            pending.name = Some(name.to_owned());
        }
        pending.arguments.push_str(arguments);
        if pending.name.is_none() {
            if pending.arguments.len() > MAX_HELD_ARGUMENTS {
                out.extend(self.fail(
                    "api_error",
                    "a tool call's arguments grew past the limit before its name arrived",
                ));
            }
            return;
        }
        if let Some(pending) = self.pending.remove(&key) {
            self.start_tool(key, pending, out);
        }
    }

    fn start_tool(&mut self, key: u64, pending: Pending, out: &mut Vec<Event>) {
        self.close(out);
        let id = tool_use_id(pending.id.as_deref(), self.next);
        let name = pending.name.unwrap_or_default();
        let index = self.begin(
            out,
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
        );
        self.tools.insert(key, index);
        self.open = Some(Open::Tool(key, index));
        if !pending.arguments.is_empty() {
            out.push(delta(
                index,
                json!({"type": "input_json_delta", "partial_json": pending.arguments}),
            ));
        }
    }

    fn begin(&mut self, out: &mut Vec<Event>, block: Value) -> usize {
        let index = self.next;
        self.next += 1;
        out.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some(Open::Text(index) | Open::Tool(_, index)) = self.open.take() {
            out.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    /// `[DONE]`: calls still waiting for a name start now, the last block closes, then the
    /// stop reason, the usage and `message_stop`.
    fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        let mut pending: Vec<(u64, Pending)> = self.pending.drain().collect();
        pending.sort_by_key(|(key, _)| *key);
        for (key, call) in pending {
            self.start_tool(key, call, &mut out);
        }
        self.close(&mut out);
        let has_tools = !self.tools.is_empty();
        let reason = stop_reason(self.finish.as_deref(), has_tools, self.matched.is_some());
        let usage = self
            .usage
            .unwrap_or_else(|| Usage::new(0, self.written.div_ceil(4) as u64, true));
        out.push(event(
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": reason, "stop_sequence": self.matched},
                   "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}}),
        ));
        out.push(event("message_stop", json!({"type": "message_stop"})));
        self.ended = true;
        out
    }

    /// An `error` event; nothing follows it.
    fn fail(&mut self, kind: &str, message: &str) -> Vec<Event> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        vec![event(
            "error",
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        )]
    }
}

fn event(name: &'static str, data: Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// A `text_delta` event, written directly (the one event of every chunk of a text answer).
fn text_delta(index: usize, text: &str) -> Event {
    let text = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned());
    Event::default().event("content_block_delta").data(format!(
        r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"text_delta","text":{text}}}}}"#
    ))
}

fn delta(index: usize, delta: Value) -> Event {
    event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::response::IntoResponse;
    use axum::response::sse::Sse;

    use super::*;

    /// The (event name, data) pairs the translator sends for a chat SSE body.
    async fn events_for(chat: &str) -> Vec<(String, Value)> {
        let stream = translate(
            Body::from(chat.to_owned()),
            "claude-x".into(),
            vec!["END".into()],
        );
        let response = Sse::new(stream.map(Ok::<_, Infallible>)).into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        text.split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let name = e
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap()
                    .to_owned();
                let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                (name, serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    fn chunk(delta: Value, finish: Option<&str>) -> String {
        let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {chunk}\n\n")
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[tokio::test]
    async fn text_streams_as_one_text_block_between_start_and_stop() {
        let usage = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}});
        let chat = [
            chunk(json!({"role": "assistant", "content": ""}), None),
            ": fusion {\"event\":\"panel_started\"}\n\n".to_owned(),
            chunk(json!({"content": "Hel"}), None),
            chunk(json!({"content": "lo"}), None),
            chunk(json!({}), Some("stop")),
            format!("data: {usage}\n\n"),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let events = events_for(&chat).await;
        assert_eq!(
            names(&events),
            [
                "message_start",
                "ping",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[0].1["message"]["model"], "claude-x");
        assert!(
            events[0].1["message"]["id"]
                .as_str()
                .unwrap()
                .starts_with("msg_")
        );
        assert_eq!(
            events[3].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        assert_eq!(
            events[4].1["delta"],
            json!({"type": "text_delta", "text": "Hel"})
        );
        let end = &events[7].1;
        assert_eq!(end["delta"]["stop_reason"], "end_turn");
        assert_eq!(end["usage"], json!({"input_tokens": 9, "output_tokens": 2}));
    }

    #[tokio::test]
    async fn tool_calls_stream_as_tool_use_blocks_with_input_json_deltas() {
        let call = |index: u64, id: Option<&str>, name: Option<&str>, args: &str| {
            let mut function = json!({"arguments": args});
            if let Some(name) = name {
                function["name"] = json!(name);
            }
            let mut call = json!({"index": index, "function": function});
            if let Some(id) = id {
                call["id"] = json!(id);
                call["type"] = json!("function");
            }
            chunk(json!({"tool_calls": [call]}), None)
        };
        let chat = [
            chunk(json!({"content": "Let me look."}), None),
            call(0, Some("call_a"), Some("Bash"), ""),
            call(0, None, None, "{\"command\":"),
            call(0, None, None, "\"echo hi\"}"),
            // A call whose name comes after its first fragment waits for it.
            call(1, Some("call_b"), None, "{\"path\""),
            call(1, None, Some("Read"), ":\"a\"}"),
            chunk(json!({}), Some("tool_calls")),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let events = events_for(&chat).await;
        assert_eq!(
            names(&events),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            events[5].1["content_block"],
            json!({"type": "tool_use", "id": "call_a", "name": "Bash", "input": {}})
        );
        assert_eq!(events[5].1["index"], 1);
        let json: String = [&events[6].1, &events[7].1]
            .iter()
            .map(|e| e["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(json, r#"{"command":"echo hi"}"#);
        assert_eq!(events[9].1["content_block"]["name"], "Read");
        assert_eq!(events[9].1["index"], 2);
        assert_eq!(events[10].1["delta"]["partial_json"], r#"{"path":"a"}"#);
        assert_eq!(events[12].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(
            events[12].1["usage"]["input_tokens"], 0,
            "no usage came: estimated"
        );
    }

    #[tokio::test]
    async fn an_error_or_an_early_end_becomes_an_error_event() {
        let chat = [
            chunk(json!({"content": "par"}), None),
            "data: {\"error\":{\"message\":\"provider `p`: kaboom\",\"type\":\"upstream_error\"}}\n\n".to_owned(),
        ]
        .concat();
        let events = events_for(&chat).await;
        let (name, data) = events.last().unwrap();
        assert_eq!(name, "error");
        assert_eq!(data["error"]["type"], "api_error");
        assert_eq!(data["error"]["message"], "provider `p`: kaboom");
        assert!(!names(&events).contains(&"message_stop"));
        let events = events_for(&chunk(json!({"content": "cut"}), None)).await;
        let (name, data) = events.last().unwrap();
        assert_eq!(name, "error");
        assert!(
            data["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ended before")
        );
        let events = events_for("data: {not json\n\n").await;
        assert_eq!(events.last().unwrap().0, "error");
    }

    #[tokio::test]
    async fn arguments_held_for_a_name_that_never_comes_are_bounded() {
        let piece = "x".repeat(1024 * 1024);
        let fragment = chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            None,
        );
        let chat = fragment.repeat(MAX_HELD_ARGUMENTS / piece.len() + 1);
        let events = events_for(&chat).await;
        let (name, data) = events.last().unwrap();
        assert_eq!(name, "error");
        assert!(data["error"]["message"].as_str().unwrap().contains("limit"));
        assert_eq!(names(&events).iter().filter(|n| **n == "error").count(), 1);
    }
}
