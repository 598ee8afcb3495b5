//! Script types: what the mock answers for each model (reply text, latency, scripted failures,
//! stream shape). They load from JSON for the binary and have builder constructors for tests.
//!
//! JSON format (enums are externally tagged, snake_case; every `ModelScript` field is optional):
//!
//! ```json
//! {
//!   "models": {
//!     "fast":  { "reply": { "fixed": "hello" }, "latency_ms": 50 },
//!     "flaky": { "fail_first": 2,
//!                "failure": { "status": { "status": 503, "message": "overloaded", "retry_after": 1 } } },
//!     "seq":   { "reply": { "sequence": ["one", "two"] } },
//!     "tmpl":  { "reply": { "template": "[{model}] {system} / {prompt}" } },
//!     "pick":  { "reply": { "by_prompt_contains": [["weather", "sunny"], ["time", "noon"]] } },
//!     "cut":   { "reply": { "fixed": "a b c d" }, "chunk_words": 2, "chunk_delay_ms": 20,
//!                "cut_after_chunks": 1 },
//!     "down":  { "failure": "reset" },
//!     "quiet": { "usage": false },
//!     "capped": { "rate_limit": { "limit": 50, "window_secs": 86400 } },
//!     "priced": { "context_length": 8192,
//!                 "pricing": { "prompt": "0.000003", "completion": "0.000015" } },
//!     "agent": { "reply": { "until_tool_result": {
//!                  "reply": { "tool_calls": [{ "name": "time__get_current_time",
//!                                              "arguments": { "timezone": "UTC" } }] },
//!                  "then": { "template": "It is {tool_result}" } } } }
//!   },
//!   "default": { "reply": "echo" },
//!   "server": "llama_cpp"
//! }
//! ```
//!
//! A `tool_calls` reply answers with OpenAI `tool_calls` (`content: null`, `finish_reason:
//! "tool_calls"`; streamed as `delta.tool_calls` fragments); `until_tool_result` plays `reply`
//! until the request's last message is a `tool` message, then `then` — an agent that calls a
//! tool once, then answers with what it returned (`{tool_result}` in a template).
//!
//! `server` picks which local server the mock also impersonates, and so where it reports each
//! model's `context_length`: `openai` (default; in `/v1/models`, OpenRouter-style), `llama_cpp`
//! (`GET /props`), `ollama` (`POST /api/show`), `lm_studio` (`GET /api/v0/models`) or `vllm`
//! (`max_model_len` in `/v1/models`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole behaviour of a mock provider: a script per model name, and an optional script for
/// any other model. A model that is neither listed nor covered by `default` gets a 404
/// `model_not_found` error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Script {
    /// Scripts by exact model name.
    pub models: BTreeMap<String, ModelScript>,
    /// Script for every model not in `models`; `None` means unknown models are rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<ModelScript>,
    /// The local server the mock impersonates (where context lengths are reported).
    #[serde(skip_serializing_if = "ServerFlavor::is_openai")]
    pub server: ServerFlavor,
}

/// Which server's model-metadata endpoints the mock serves besides the OpenAI API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerFlavor {
    /// `context_length` (and `pricing`) in `/v1/models` entries, as OpenRouter lists them.
    #[default]
    Openai,
    /// llama.cpp's `GET /props` with `default_generation_settings.n_ctx` (of the first model).
    LlamaCpp,
    /// Ollama's `POST /api/show` with `model_info["llama.context_length"]`.
    Ollama,
    /// LM Studio's `GET /api/v0/models` with `max_context_length`.
    LmStudio,
    /// vLLM's `max_model_len` in `/v1/models` entries.
    Vllm,
}

impl ServerFlavor {
    fn is_openai(&self) -> bool {
        *self == Self::Openai
    }
}

impl Script {
    /// A script with no models and no default: every model is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// A script that echoes for any model name.
    pub fn echo_any() -> Self {
        Self::new().with_default(ModelScript::echo())
    }

    /// Adds (or replaces) the script of one model.
    pub fn with_model(mut self, name: impl Into<String>, model: ModelScript) -> Self {
        self.models.insert(name.into(), model);
        self
    }

    /// Sets the script used for models not listed in `models`.
    pub fn with_default(mut self, model: ModelScript) -> Self {
        self.default = Some(model);
        self
    }

    /// Impersonates `server` (see [`ServerFlavor`]).
    pub fn with_server(mut self, server: ServerFlavor) -> Self {
        self.server = server;
        self
    }

    /// The script that applies to `model`: its own entry, else the default.
    pub fn model(&self, model: &str) -> Option<&ModelScript> {
        self.models.get(model).or(self.default.as_ref())
    }

    /// Parses a script from JSON; the error names the path of the offending key.
    pub fn from_json(text: &str) -> Result<Self, ScriptError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let script: Self =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|err| ScriptError {
                path: err.path().to_string(),
                source: err.into_inner(),
            })?;
        deserializer.end().map_err(|source| ScriptError {
            path: ".".to_owned(),
            source,
        })?;
        Ok(script)
    }
}

/// A script that failed to parse, with the JSON path where it went wrong.
#[derive(Debug, thiserror::Error)]
#[error("invalid mock script at `{path}`: {source}")]
pub struct ScriptError {
    /// Dotted path of the offending key (`.` for the document itself).
    pub path: String,
    /// The underlying JSON error.
    #[source]
    pub source: serde_json::Error,
}

/// How one model behaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelScript {
    /// What the model answers.
    pub reply: Reply,
    /// Delay before the response headers (non-streaming and failures) or before the first chunk
    /// (streaming; headers are sent at once).
    pub latency_ms: u64,
    /// Failure applied on every call, or only on the first `fail_first` calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// When set, `failure` applies only to the first N calls to this model; later calls succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_first: Option<u32>,
    /// Include a `usage` object (tokens counted as whitespace-separated words).
    pub usage: bool,
    /// Streaming: delay before each content chunk.
    pub chunk_delay_ms: u64,
    /// Streaming: close the connection after N content chunks (no finish chunk, no `[DONE]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cut_after_chunks: Option<usize>,
    /// Streaming: words per content chunk (0 is treated as 1).
    pub chunk_words: usize,
    /// Listed in `/v1/models` as `context_length` (OpenRouter's catalog shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u32>,
    /// Listed in `/v1/models` as `pricing` (USD per token, as strings, like OpenRouter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// OpenRouter-style request limit: every answer carries `X-RateLimit-Limit`,
    /// `X-RateLimit-Remaining` and `X-RateLimit-Reset`; calls beyond the limit get HTTP 429.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// A request limit per window, stated in OpenRouter's headers. The window starts when the mock
/// starts and ends `window_secs` later (`X-RateLimit-Reset`, Unix milliseconds); the mock never
/// opens a second one. `Remaining` counts down by one per call to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub limit: u64,
    /// 86400 (a day) makes the 429 say `free-models-per-day`, as OpenRouter's daily cap does.
    pub window_secs: u64,
}

/// A catalog price: USD per token, written as decimal strings as OpenRouter does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    pub prompt: String,
    pub completion: String,
}

impl Default for ModelScript {
    fn default() -> Self {
        Self {
            reply: Reply::Echo,
            latency_ms: 0,
            failure: None,
            fail_first: None,
            usage: true,
            chunk_delay_ms: 0,
            cut_after_chunks: None,
            chunk_words: 1,
            context_length: None,
            pricing: None,
            rate_limit: None,
        }
    }
}

impl ModelScript {
    /// Answers `echo: <last user message>`.
    pub fn echo() -> Self {
        Self::default()
    }

    /// Always answers `text`.
    pub fn fixed(text: impl Into<String>) -> Self {
        Self::default().with_reply(Reply::Fixed(text.into()))
    }

    /// Answers a template; see [`Reply::Template`].
    pub fn template(template: impl Into<String>) -> Self {
        Self::default().with_reply(Reply::Template(template.into()))
    }

    /// The n-th call answers the n-th entry; the last entry repeats.
    pub fn sequence<I, S>(replies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::default().with_reply(Reply::Sequence(
            replies.into_iter().map(Into::into).collect(),
        ))
    }

    /// Answers the first `(needle, answer)` whose needle occurs in the last user message; else
    /// echoes.
    pub fn by_prompt_contains<I, N, A>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, A)>,
        N: Into<String>,
        A: Into<String>,
    {
        Self::default().with_reply(Reply::ByPromptContains(
            pairs
                .into_iter()
                .map(|(needle, answer)| (needle.into(), answer.into()))
                .collect(),
        ))
    }

    /// Fails every call with `failure`.
    pub fn failing(failure: Failure) -> Self {
        Self::default().with_failure(failure)
    }

    /// Replaces the reply.
    pub fn with_reply(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }

    /// Sets the latency before the response (or before the first stream chunk).
    pub fn with_latency_ms(mut self, latency_ms: u64) -> Self {
        self.latency_ms = latency_ms;
        self
    }

    /// Lists the model with this context length (where depends on [`Script::server`]).
    pub fn with_context_length(mut self, tokens: u32) -> Self {
        self.context_length = Some(tokens);
        self
    }

    /// Lists the model with an OpenRouter-style price: USD per token, as decimal strings.
    pub fn with_pricing(mut self, prompt: &str, completion: &str) -> Self {
        self.pricing = Some(Pricing {
            prompt: prompt.to_owned(),
            completion: completion.to_owned(),
        });
        self
    }

    /// States an OpenRouter-style limit of `limit` calls per `window_secs` (see [`RateLimit`]).
    pub fn with_rate_limit(mut self, limit: u64, window_secs: u64) -> Self {
        self.rate_limit = Some(RateLimit { limit, window_secs });
        self
    }

    /// Fails every call with `failure`.
    pub fn with_failure(mut self, failure: Failure) -> Self {
        self.failure = Some(failure);
        self.fail_first = None;
        self
    }

    /// Fails the first `n` calls with `failure`, then succeeds.
    pub fn failing_first(mut self, n: u32, failure: Failure) -> Self {
        self.failure = Some(failure);
        self.fail_first = Some(n);
        self
    }

    /// Omits the `usage` object (and the streamed usage chunk).
    pub fn without_usage(mut self) -> Self {
        self.usage = false;
        self
    }

    /// Streaming: delay before each content chunk.
    pub fn with_chunk_delay_ms(mut self, chunk_delay_ms: u64) -> Self {
        self.chunk_delay_ms = chunk_delay_ms;
        self
    }

    /// Streaming: words per content chunk.
    pub fn with_chunk_words(mut self, chunk_words: usize) -> Self {
        self.chunk_words = chunk_words;
        self
    }

    /// Streaming: close the connection after `n` content chunks.
    pub fn with_cut_after_chunks(mut self, n: usize) -> Self {
        self.cut_after_chunks = Some(n);
        self
    }

    /// The failure that applies to the call with 0-based index `call`, if any.
    pub fn failure_for_call(&self, call: u64) -> Option<&Failure> {
        let failure = self.failure.as_ref()?;
        match self.fail_first {
            Some(n) if call >= u64::from(n) => None,
            _ => Some(failure),
        }
    }

    /// Whether this script's behaviour depends on how many calls came before.
    pub(crate) fn counts_calls(&self) -> bool {
        self.fail_first.is_some() || self.rate_limit.is_some() || self.reply.counts_calls()
    }

    /// Answers with these OpenAI `tool_calls` (see [`Reply::ToolCalls`]).
    pub fn tool_calls<I>(calls: I) -> Self
    where
        I: IntoIterator<Item = ToolCall>,
    {
        Self::default().with_reply(Reply::ToolCalls(calls.into_iter().collect()))
    }

    /// Plays `reply` until the last message is a tool result, then `then` (see
    /// [`Reply::UntilToolResult`]).
    pub fn until_tool_result(reply: Reply, then: Reply) -> Self {
        Self::default().with_reply(Reply::UntilToolResult {
            reply: Box::new(reply),
            then: Box::new(then),
        })
    }
}

/// What a model answers: a text, or OpenAI tool calls.
///
/// JSON: `"echo"`, `{"fixed": "text"}`, `{"template": "..."}`, `{"sequence": ["a", "b"]}`,
/// `{"by_prompt_contains": [["needle", "answer"], ...]}`, `{"tool_calls": [{"name": "f",
/// "arguments": {...}}]}`, `{"until_tool_result": {"reply": <reply>, "then": <reply>}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// Always this text.
    Fixed(String),
    /// `echo: <last user message text>`.
    #[default]
    Echo,
    /// `{prompt}` is replaced by the last user message, `{system}` by the system message,
    /// `{tool_result}` by the last `tool` message and `{model}` by the requested model name
    /// (one pass: substituted text is not re-expanded).
    Template(String),
    /// The n-th call to this model gets the n-th entry; the last entry repeats. Empty = "".
    Sequence(Vec<String>),
    /// The first `(needle, answer)` whose needle is in the last user message; else echo.
    ByPromptContains(Vec<(String, String)>),
    /// OpenAI `tool_calls`, in order (ids `call_<n>`); no text.
    ToolCalls(Vec<ToolCall>),
    /// `reply` while the request's last message is not a `tool` message, `then` once it is.
    UntilToolResult { reply: Box<Reply>, then: Box<Reply> },
}

impl Reply {
    /// Whether the reply depends on how many calls came before (a sequence, anywhere in it).
    fn counts_calls(&self) -> bool {
        match self {
            Self::Sequence(_) => true,
            Self::UntilToolResult { reply, then } => reply.counts_calls() || then.counts_calls(),
            _ => false,
        }
    }
}

/// One scripted tool call: the function's name and its arguments — a JSON object (sent as its
/// JSON text, as OpenAI does) or a string sent as it is (to script malformed arguments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub name: String,
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl ToolCall {
    /// A call of `name` with `arguments`.
    pub fn new(name: impl Into<String>, arguments: serde_json::Value) -> Self {
        Self {
            name: name.into(),
            arguments,
        }
    }

    /// The `arguments` string of the wire format.
    pub fn arguments_text(&self) -> String {
        match &self.arguments {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

/// A scripted failure.
///
/// JSON: `{"status": {"status": 429, "message": "slow down", "retry_after": 2}}`, `"hang"`,
/// `"malformed"`, `"empty_choices"`, `"reset"`, `"endless"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Failure {
    /// An HTTP error with an OpenAI-shaped body, and a `Retry-After` header when set.
    Status {
        status: u16,
        #[serde(default)]
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// Accept the request and never answer (until the client gives up or the mock stops).
    Hang,
    /// 200 with a body that is not JSON (a truncated completion); streaming: a truncated event.
    Malformed,
    /// 200 with valid JSON but `choices: []`; streaming: one chunk with `choices: []`.
    EmptyChoices,
    /// Drop the connection without any response (TCP reset).
    Reset,
    /// 200 and a body that never ends (64 KiB chunks of JSON-looking text; streaming: one
    /// `data:` line without end), until the client hangs up or the mock stops.
    Endless,
}

impl Failure {
    /// An HTTP error status with an OpenAI-shaped body.
    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// An HTTP error status with an OpenAI-shaped body and a `Retry-After: <seconds>` header.
    pub fn status_retry_after(status: u16, message: impl Into<String>, seconds: u64) -> Self {
        Self::Status {
            status,
            message: message.into(),
            retry_after: Some(seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_script_parses() {
        let text = r#"{
          "models": {
            "fast":  { "reply": { "fixed": "hello" }, "latency_ms": 50 },
            "flaky": { "fail_first": 2,
                       "failure": { "status": { "status": 503, "message": "overloaded", "retry_after": 1 } } },
            "seq":   { "reply": { "sequence": ["one", "two"] } },
            "tmpl":  { "reply": { "template": "[{model}] {system} / {prompt}" } },
            "pick":  { "reply": { "by_prompt_contains": [["weather", "sunny"], ["time", "noon"]] } },
            "cut":   { "reply": { "fixed": "a b c d" }, "chunk_words": 2, "chunk_delay_ms": 20,
                       "cut_after_chunks": 1 },
            "down":  { "failure": "reset" },
            "quiet": { "usage": false },
            "capped": { "rate_limit": { "limit": 50, "window_secs": 86400 } },
            "priced": { "context_length": 8192,
                        "pricing": { "prompt": "0.000003", "completion": "0.000015" } },
            "agent": { "reply": { "until_tool_result": {
                         "reply": { "tool_calls": [{ "name": "time__get_current_time",
                                                     "arguments": { "timezone": "UTC" } }] },
                         "then": { "template": "It is {tool_result}" } } } }
          },
          "default": { "reply": "echo" },
          "server": "llama_cpp"
        }"#;
        let script = Script::from_json(text).unwrap();
        assert_eq!(
            script.models["fast"],
            ModelScript::fixed("hello").with_latency_ms(50)
        );
        assert_eq!(
            script.models["flaky"],
            ModelScript::echo().failing_first(2, Failure::status_retry_after(503, "overloaded", 1))
        );
        assert_eq!(script.models["down"], ModelScript::failing(Failure::Reset));
        assert_eq!(script.models["quiet"], ModelScript::echo().without_usage());
        assert_eq!(script.default, Some(ModelScript::echo()));
        assert_eq!(
            script.models["capped"],
            ModelScript::echo().with_rate_limit(50, 86_400)
        );
        assert_eq!(
            script.models["priced"],
            ModelScript::echo()
                .with_context_length(8192)
                .with_pricing("0.000003", "0.000015")
        );
        assert_eq!(
            script.models["agent"],
            ModelScript::until_tool_result(
                Reply::ToolCalls(vec![ToolCall::new(
                    "time__get_current_time",
                    serde_json::json!({"timezone": "UTC"})
                )]),
                Reply::Template("It is {tool_result}".into())
            )
        );
        assert_eq!(script.server, ServerFlavor::LlamaCpp);
    }

    #[test]
    fn script_round_trips_through_json() {
        let script = Script::echo_any()
            .with_model("a", ModelScript::sequence(["x", "y"]).with_chunk_words(3))
            .with_model(
                "b",
                ModelScript::by_prompt_contains([("n", "a")]).with_failure(Failure::Hang),
            );
        let json = serde_json::to_string(&script).unwrap();
        assert_eq!(Script::from_json(&json).unwrap(), script);
    }

    #[test]
    fn unknown_key_is_rejected_with_its_path() {
        let err = Script::from_json(r#"{"models": {"a": {"latency": 5}}}"#).unwrap_err();
        assert_eq!(err.path, "models.a.latency");
        assert!(err.to_string().contains("latency"), "{err}");
    }

    #[test]
    fn fail_first_limits_failure_to_first_calls() {
        let model = ModelScript::echo().failing_first(2, Failure::Malformed);
        assert!(model.failure_for_call(0).is_some());
        assert!(model.failure_for_call(1).is_some());
        assert!(model.failure_for_call(2).is_none());
        let always = ModelScript::failing(Failure::Malformed);
        assert!(always.failure_for_call(100).is_some());
    }
}
