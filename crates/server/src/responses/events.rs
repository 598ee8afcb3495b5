//! A streamed chat completion (the SSE `data:` chunks `/v1/chat/completions` sends) → the
//! Responses API event sequence, each event named (`event:`) and numbered (`sequence_number`):
//! `response.created`, `response.in_progress`; per text run `response.output_item.added`,
//! `response.content_part.added`, `response.output_text.delta`…, `response.output_text.done`,
//! `response.content_part.done`, `response.output_item.done`; per tool call
//! `response.output_item.added`, `response.function_call_arguments.delta`…,
//! `response.function_call_arguments.done`, `response.output_item.done`; then
//! `response.completed` with the whole response (or `response.incomplete` when the answer hit
//! `max_output_tokens`). A chat error event, or a body that breaks or ends before `[DONE]`,
//! becomes `response.failed`, which ends the stream. Council progress comments are skipped.

use std::collections::HashMap;

use fusion_types::{ChatChunk, Usage};
use serde_json::{Value, json};

use super::from_chat::{Shell, call_item, fresh_id, message_item, status, text_part};

/// One event to send: its name and data (the `sequence_number` is set here).
pub(super) type Named = (&'static str, Value);

/// A function call being streamed.
struct Call {
    /// Its index in `output`.
    output_index: usize,
    item_id: String,
    call_id: String,
    name: String,
    arguments: String,
}

/// The state of one streamed response.
pub(super) struct Translator {
    shell: Shell,
    sequence: u64,
    /// Finished output items, in order (a slot is reserved while its item streams).
    output: Vec<Value>,
    /// The text item being written: its output index, id and text so far.
    text: Option<(usize, String, String)>,
    /// Chat tool-call index → the call being streamed.
    calls: HashMap<u64, Call>,
    /// Fragments of calls whose name has not arrived yet.
    waiting: HashMap<u64, (Option<String>, Option<String>, String)>,
    finish: Option<String>,
    usage: Option<Usage>,
    /// Bytes written (for an estimate when no usage came) and the prompt's estimate.
    written: usize,
    prompt_estimate: u64,
    pub ended: bool,
}

impl Translator {
    pub fn new(shell: Shell, prompt_estimate: u64) -> Self {
        Self {
            shell,
            sequence: 0,
            output: Vec::new(),
            text: None,
            calls: HashMap::new(),
            waiting: HashMap::new(),
            finish: None,
            usage: None,
            written: 0,
            prompt_estimate,
            ended: false,
        }
    }

    fn emit(&mut self, name: &'static str, mut data: Value) -> Named {
        data["type"] = json!(name);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        (name, data)
    }

    pub fn start(&mut self) -> Vec<Named> {
        let running = self.shell.object("in_progress", &[], None);
        vec![
            self.emit("response.created", json!({"response": running})),
            self.emit("response.in_progress", json!({"response": running})),
        ]
    }

    /// One line of the chat stream.
    pub fn on_line(&mut self, line: &str) -> Vec<Named> {
        if self.ended || line.starts_with(':') {
            return Vec::new();
        }
        let Some(data) = line.strip_prefix("data:") else {
            return Vec::new();
        };
        let data = data.trim_start();
        if data == "[DONE]" {
            return self.complete();
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(value) => value,
            Err(e) => return self.fail(&format!("an unreadable answer chunk: {e}")),
        };
        if let Some(error) = value.get("error") {
            let message = error["message"].as_str().unwrap_or("the model call failed");
            return self.fail(message);
        }
        match serde_json::from_value::<ChatChunk>(value) {
            Ok(chunk) => self.on_chunk(chunk),
            Err(e) => self.fail(&format!("an unreadable answer chunk: {e}")),
        }
    }

    fn on_chunk(&mut self, chunk: ChatChunk) -> Vec<Named> {
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
            self.on_text(text, &mut out);
        }
        if let Some(calls) = choice.delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                self.on_call(call, position, &mut out);
            }
        }
        if let Some(finish) = choice.finish_reason {
            self.finish = Some(finish);
        }
        out
    }

    fn on_text(&mut self, delta: &str, out: &mut Vec<Named>) {
        self.written += delta.len();
        if self.text.is_none() {
            let index = self.output.len();
            let id = fresh_id("msg");
            self.output.push(Value::Null);
            let item = json!({"type": "message", "id": id, "status": "in_progress",
                "role": "assistant", "content": []});
            out.push(self.emit(
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            ));
            out.push(self.emit(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0,
                    "part": text_part("")}),
            ));
            self.text = Some((index, id, String::new()));
        }
        let Some((index, id, text)) = self.text.as_mut() else {
            return;
        };
        text.push_str(delta);
        let data = json!({"item_id": id, "output_index": index, "content_index": 0,
            "delta": delta, "logprobs": []});
        out.push(self.emit("response.output_text.delta", data));
    }

    /// Closes the text item being written.
    fn close_text(&mut self, out: &mut Vec<Named>) {
        let Some((index, id, text)) = self.text.take() else {
            return;
        };
        out.push(self.emit(
            "response.output_text.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "text": text,
                "logprobs": []}),
        ));
        out.push(self.emit(
            "response.content_part.done",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                "part": text_part(&text)}),
        ));
        let item = message_item(&id, &text);
        self.output[index] = item.clone();
        out.push(self.emit(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        ));
    }

    /// A `delta.tool_calls[]` fragment: the item starts once the call's name is known.
    fn on_call(&mut self, call: &Value, position: usize, out: &mut Vec<Named>) {
        let key = call["index"].as_u64().unwrap_or(position as u64);
        let function = &call["function"];
        let arguments = function["arguments"].as_str().unwrap_or_default();
        self.written += arguments.len();
        if let Some(open) = self.calls.get_mut(&key) {
            if arguments.is_empty() {
                return;
            }
            open.arguments.push_str(arguments);
            let data = json!({"item_id": open.item_id, "output_index": open.output_index,
                "delta": arguments});
            out.push(self.emit("response.function_call_arguments.delta", data));
            return;
        }
        let waiting = self.waiting.entry(key).or_default();
        if let Some(id) = call["id"].as_str().filter(|id| !id.is_empty()) {
            waiting.0 = Some(id.to_owned());
        }
        if let Some(name) = function["name"].as_str().filter(|n| !n.is_empty()) {
            waiting.1 = Some(name.to_owned());
        }
        waiting.2.push_str(arguments);
        if waiting.1.is_none() {
            return;
        }
        let Some((id, name, arguments)) = self.waiting.remove(&key) else {
            return;
        };
        self.close_text(out);
        let open = Call {
            output_index: self.output.len(),
            item_id: fresh_id("fc"),
            call_id: id.unwrap_or_else(|| fresh_id("call")),
            name: name.unwrap_or_default(),
            arguments: String::new(),
        };
        self.output.push(Value::Null);
        let item = call_item(&open.item_id, &open.call_id, &open.name, "", "in_progress");
        out.push(self.emit(
            "response.output_item.added",
            json!({"output_index": open.output_index, "item": item}),
        ));
        self.calls.insert(key, open);
        if !arguments.is_empty() {
            self.on_call(
                &json!({"index": key, "function": {"arguments": arguments}}),
                0,
                out,
            );
        }
    }

    /// `[DONE]`: the open items close and the response completes.
    fn complete(&mut self) -> Vec<Named> {
        let mut out = Vec::new();
        self.close_text(&mut out);
        let mut calls: Vec<Call> = self.calls.drain().map(|(_, call)| call).collect();
        calls.sort_by_key(|c| c.output_index);
        for call in calls {
            let data = json!({"item_id": call.item_id, "output_index": call.output_index,
                "name": call.name, "arguments": call.arguments});
            out.push(self.emit("response.function_call_arguments.done", data));
            let item = call_item(
                &call.item_id,
                &call.call_id,
                &call.name,
                &call.arguments,
                "completed",
            );
            self.output[call.output_index] = item.clone();
            out.push(self.emit(
                "response.output_item.done",
                json!({"output_index": call.output_index, "item": item}),
            ));
        }
        self.output.retain(|item| !item.is_null());
        let usage = self.usage.unwrap_or_else(|| {
            Usage::new(
                self.prompt_estimate,
                (self.written as u64).div_ceil(4),
                true,
            )
        });
        let status = status(self.finish.as_deref());
        let response = self.shell.object(status, &self.output, Some(usage));
        let name = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        out.push(self.emit(name, json!({"response": response})));
        self.ended = true;
        out
    }

    /// The answer failed: `response.failed` with the reason ends the stream.
    pub fn fail(&mut self, message: &str) -> Vec<Named> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        self.output.retain(|item| !item.is_null());
        let mut response = self.shell.object("failed", &self.output, self.usage);
        response["error"] = json!({"code": "server_error", "message": message});
        vec![self.emit("response.failed", json!({"response": response}))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Vec<Named> {
        let mut t = Translator::new(Shell::new(&json!({}), "gpt-5"), 3);
        let mut out = t.start();
        for line in lines {
            out.extend(t.on_line(line));
        }
        out
    }

    fn names(events: &[Named]) -> Vec<&str> {
        events.iter().map(|(name, _)| *name).collect()
    }

    #[test]
    fn text_deltas_stream_as_the_responses_event_sequence() {
        let events = run(&[
            r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#,
            ": council progress",
            r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
            r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
            "data: [DONE]",
        ]);
        assert_eq!(
            names(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, (name, data)) in events.iter().enumerate() {
            assert_eq!(data["sequence_number"], i as u64);
            assert_eq!(data["type"], *name);
        }
        let done = &events[9].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output_text"], "Hello");
        assert_eq!(done["usage"]["input_tokens"], 5);
    }

    #[test]
    fn a_tool_call_streams_its_arguments_and_completes_as_a_function_call_item() {
        let events = run(&[
            r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Running."}}]}"#,
            r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"shell","arguments":"{\"cmd\":"}}]}}]}"#,
            r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"ls\"}"}}]},"finish_reason":"tool_calls"}]}"#,
            "data: [DONE]",
        ]);
        let names = names(&events);
        assert_eq!(
            &names[2..],
            [
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let done = &events.last().unwrap().1["response"];
        assert_eq!(done["output"][1]["type"], "function_call");
        assert_eq!(done["output"][1]["call_id"], "call_1");
        assert_eq!(done["output"][1]["arguments"], "{\"cmd\":\"ls\"}");
        assert_eq!(
            done["usage"]["input_tokens"], 3,
            "estimated without reported usage"
        );
    }

    #[test]
    fn an_error_event_or_a_garbled_chunk_fails_the_response() {
        let events = run(&[
            r#"data: {"error":{"message":"upstream overloaded"}}"#,
            "data: [DONE]",
        ]);
        assert_eq!(
            names(&events),
            [
                "response.created",
                "response.in_progress",
                "response.failed"
            ]
        );
        assert_eq!(
            events[2].1["response"]["error"]["message"],
            "upstream overloaded"
        );
        let events = run(&["data: {nope"]);
        assert_eq!(events.last().unwrap().0, "response.failed");
    }
}
