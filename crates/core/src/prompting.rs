//! Per-model prompting strategies (the routing server's `set_model_prompting_strategy`): a
//! system prompt, a template for the user's message, whether the model takes a chat or one
//! message, and an optional lead-in for its reply. Owns the strategy type and its bounds, how a
//! strategy rewrites a chat request, and the in-memory table the provider registry reads on
//! every call (strategies from the config, overridden by those set through MCP and kept in the
//! store).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use fusion_types::{ChatMessage, ChatRequest, Role};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest system prompt, user template or assistant lead-in, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// What a user template's placeholders are replaced with: the text of the user's message.
/// Longest first, so `{{prompt}}` is not read as `{` + `{prompt}` + `}`.
pub const PLACEHOLDERS: [&str; 4] = ["{{prompt}}", "{{task}}", "{prompt}", "{task}"];

/// How one model is prompted. Empty texts change nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptingStrategy {
    /// Put before the request's own system message (in the same message), or sent as the
    /// system message when the request has none.
    #[serde(default)]
    pub system_prompt: String,
    /// The last user message becomes this text with `{prompt}` (also `{{prompt}}`, `{task}`,
    /// `{{task}}`) replaced by the message; without a placeholder, the message follows the
    /// template after a blank line.
    #[serde(default = "default_user_prompt")]
    pub user_prompt: String,
    /// `false`: the whole conversation goes as one user message (system text, earlier turns as
    /// `User:`/`Assistant:` lines, then the templated message) — unless it carries tools, tool
    /// calls or non-text parts, which only a chat can hold.
    #[serde(default = "default_use_chat")]
    pub use_chat: bool,
    /// Sent as the start of the model's reply: a last assistant message in a chat, the end of
    /// the one message otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_prompt: Option<String>,
    /// How often the strategy worked (0–1), as measured by whoever set it; informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    /// The quality of answers under the strategy (0–1), as measured by whoever set it;
    /// informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_score: Option<f64>,
}

fn default_user_prompt() -> String {
    "{prompt}".to_owned()
}

fn default_use_chat() -> bool {
    true
}

impl Default for PromptingStrategy {
    fn default() -> Self {
        Self {
            system_prompt: String::new(),
            user_prompt: default_user_prompt(),
            use_chat: true,
            assistant_prompt: None,
            success_rate: None,
            quality_score: None,
        }
    }
}

impl PromptingStrategy {
    /// The first field out of bounds, with why: a text over [`MAX_TEMPLATE_BYTES`], a score
    /// outside 0–1.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let texts = [
            ("system_prompt", Some(&self.system_prompt)),
            ("user_prompt", Some(&self.user_prompt)),
            ("assistant_prompt", self.assistant_prompt.as_ref()),
        ];
        for (field, text) in texts {
            if let Some(text) = text
                && text.len() > MAX_TEMPLATE_BYTES
            {
                return Err((
                    field,
                    format!(
                        "is {} bytes; at most {MAX_TEMPLATE_BYTES} bytes (64 KiB) are accepted",
                        text.len()
                    ),
                ));
            }
        }
        for (field, score) in [
            ("success_rate", self.success_rate),
            ("quality_score", self.quality_score),
        ] {
            if let Some(score) = score
                && !(0.0..=1.0).contains(&score)
            {
                return Err((field, format!("is {score}; it must be between 0 and 1")));
            }
        }
        Ok(())
    }

    /// Rewrites `request` as this strategy says (see the fields).
    pub fn apply(&self, request: &mut ChatRequest) {
        if !is_identity(&self.user_prompt)
            && let Some(last) = request
                .messages
                .iter_mut()
                .rev()
                .find(|m| m.role == Role::User)
        {
            template_message(last, &self.user_prompt);
        }
        if !self.system_prompt.is_empty() {
            prepend_system(&mut request.messages, &self.system_prompt);
        }
        let lead_in = self.assistant_prompt.as_deref().filter(|p| !p.is_empty());
        if !self.use_chat && only_text(request) {
            flatten(request, lead_in);
        } else if let Some(lead_in) = lead_in {
            request
                .messages
                .push(ChatMessage::text(Role::Assistant, lead_in));
        }
    }
}

/// A template that leaves the message as it is: empty, or a placeholder alone.
fn is_identity(template: &str) -> bool {
    let template = template.trim();
    template.is_empty() || PLACEHOLDERS.contains(&template)
}

/// `template` with every placeholder replaced by `text` in one pass (a placeholder inside
/// `text` stays as written); without a placeholder, `text` after the template and a blank line.
pub fn render_user(template: &str, text: &str) -> String {
    let mut out = String::with_capacity(template.len() + text.len());
    let mut rest = template;
    let mut replaced = false;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match PLACEHOLDERS.iter().find(|p| tail.starts_with(*p)) {
            Some(placeholder) => {
                out.push_str(text);
                rest = &tail[placeholder.len()..];
                replaced = true;
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    if !replaced {
        if !out.is_empty() && !text.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(text);
    }
    out
}

/// Replaces the message's text with the rendered template; other parts (images) stay after it.
fn template_message(message: &mut ChatMessage, template: &str) {
    let rendered = render_user(template, &message.text_content());
    message.content = Some(match message.content.take() {
        Some(Value::Array(parts)) => {
            let mut kept: Vec<Value> = vec![serde_json::json!({"type": "text", "text": rendered})];
            kept.extend(parts.into_iter().filter(|p| !is_text_part(p)));
            Value::Array(kept)
        }
        _ => Value::String(rendered),
    });
}

fn is_text_part(part: &Value) -> bool {
    part.get("type").and_then(Value::as_str) == Some("text")
}

/// Puts `system` first: into the leading system (or developer) message, before its text, or
/// as a new system message.
fn prepend_system(messages: &mut Vec<ChatMessage>, system: &str) {
    match messages.first_mut() {
        Some(first) if matches!(first.role, Role::System | Role::Developer) => {
            let own = first.text_content();
            let text = if own.is_empty() {
                system.to_owned()
            } else {
                format!("{system}\n\n{own}")
            };
            first.content = Some(Value::String(text));
        }
        _ => messages.insert(0, ChatMessage::text(Role::System, system)),
    }
}

/// Whether the request is plain text a single message can carry: no tools, no tool calls or
/// results, no parts other than text.
fn only_text(request: &ChatRequest) -> bool {
    request.tools.is_none()
        && request.messages.iter().all(|m| {
            m.role != Role::Tool
                && m.tool_calls.is_none()
                && match &m.content {
                    Some(Value::Array(parts)) => parts.iter().all(is_text_part),
                    _ => true,
                }
        })
}

/// The conversation as one user message: system text, earlier turns labelled, the last user
/// message as it is, then the reply's lead-in.
fn flatten(request: &mut ChatRequest, lead_in: Option<&str>) {
    let last_user = request.messages.iter().rposition(|m| m.role == Role::User);
    let mut parts: Vec<String> = Vec::with_capacity(request.messages.len() + 1);
    for (i, message) in request.messages.iter().enumerate() {
        let text = message.text_content();
        if text.is_empty() {
            continue;
        }
        parts.push(match message.role {
            _ if Some(i) == last_user => text,
            Role::System | Role::Developer => text,
            Role::User => format!("User: {text}"),
            Role::Assistant | Role::Tool => format!("Assistant: {text}"),
        });
    }
    parts.extend(lead_in.map(str::to_owned));
    request.messages = vec![ChatMessage::text(Role::User, parts.join("\n\n"))];
}

/// Where a model's strategy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategySource {
    /// The model's `[prompting."MODEL"]` table in the configuration.
    Config,
    /// Set through `set_model_prompting_strategy`, kept in the store; wins over the config.
    Store,
}

/// A strategy set through MCP, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredStrategy {
    /// Fusion's model id.
    pub model: String,
    #[serde(flatten)]
    pub strategy: PromptingStrategy,
    /// When it was set, Unix milliseconds.
    pub updated_ms: i64,
}

/// A model's strategy in force, where it comes from, and the configured one it overrides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStrategy {
    pub model: String,
    pub source: StrategySource,
    pub strategy: PromptingStrategy,
    /// When it was set (stored strategies only), Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_ms: Option<i64>,
    /// The configured strategy a stored one overrides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<PromptingStrategy>,
}

/// The strategies the registry applies, by Fusion model id: the configured ones, fixed with
/// the configuration, and the stored ones, read at start and replaced one by one as they are
/// set. A lookup takes a read lock and a hash lookup, never the store.
#[derive(Debug, Default)]
pub struct StrategyTable {
    configured: HashMap<String, Arc<PromptingStrategy>>,
    stored: RwLock<HashMap<String, Arc<StoredStrategy>>>,
}

impl StrategyTable {
    /// A table of the configured strategies, by model id.
    pub fn new(configured: impl IntoIterator<Item = (String, PromptingStrategy)>) -> Self {
        Self {
            configured: configured
                .into_iter()
                .map(|(model, s)| (model, Arc::new(s)))
                .collect(),
            stored: RwLock::default(),
        }
    }

    /// Takes the stored strategies read from the store (replacing those held).
    pub fn replace_stored(&self, rows: Vec<StoredStrategy>) {
        let rows = rows
            .into_iter()
            .map(|row| (row.model.clone(), Arc::new(row)))
            .collect();
        *self.stored.write().unwrap_or_else(PoisonError::into_inner) = rows;
    }

    /// Holds a strategy just stored; calls from now on use it.
    pub fn put_stored(&self, row: StoredStrategy) {
        self.stored
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(row.model.clone(), Arc::new(row));
    }

    fn stored(&self, model: &str) -> Option<Arc<StoredStrategy>> {
        self.stored
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(model)
            .cloned()
    }

    /// Rewrites `request` for `model` when it has a strategy (the stored one first).
    pub fn apply(&self, model: &str, request: &mut ChatRequest) {
        if let Some(stored) = self.stored(model) {
            stored.strategy.apply(request);
        } else if let Some(configured) = self.configured.get(model) {
            configured.apply(request);
        }
    }

    /// The strategy in force for `model`, if any.
    pub fn describe(&self, model: &str) -> Option<ModelStrategy> {
        let configured = self
            .configured
            .get(model)
            .map(|s| PromptingStrategy::clone(s));
        match self.stored(model) {
            Some(stored) => Some(ModelStrategy {
                model: model.to_owned(),
                source: StrategySource::Store,
                strategy: stored.strategy.clone(),
                updated_ms: Some(stored.updated_ms),
                overrides: configured,
            }),
            None => configured.map(|strategy| ModelStrategy {
                model: model.to_owned(),
                source: StrategySource::Config,
                strategy,
                updated_ms: None,
                overrides: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages,
            ..ChatRequest::default()
        }
    }

    fn texts(request: &ChatRequest) -> Vec<(Role, String)> {
        request
            .messages
            .iter()
            .map(|m| (m.role, m.text_content()))
            .collect()
    }

    #[test]
    fn every_placeholder_spelling_takes_the_message_and_a_placeholder_in_it_stays() {
        assert_eq!(render_user("Q: {prompt} A:", "hi"), "Q: hi A:");
        assert_eq!(render_user("[{{prompt}}]", "hi"), "[hi]");
        assert_eq!(render_user("{task} / {{task}}", "x"), "x / x");
        assert_eq!(render_user("{prompt}", "say {prompt}"), "say {prompt}");
        assert_eq!(render_user("{other} {prompt}", "x"), "{other} x");
        assert_eq!(render_user("Be brief.", "hi"), "Be brief.\n\nhi");
    }

    #[test]
    fn a_chat_strategy_puts_its_system_prompt_first_and_templates_the_last_user_message() {
        let strategy = PromptingStrategy {
            system_prompt: "You are terse.".into(),
            user_prompt: "### Task\n{prompt}\n### Answer".into(),
            ..PromptingStrategy::default()
        };
        let mut with_system = request(vec![
            ChatMessage::text(Role::System, "Judge fairly."),
            ChatMessage::text(Role::User, "first"),
            ChatMessage::text(Role::Assistant, "ok"),
            ChatMessage::text(Role::User, "second"),
        ]);
        strategy.apply(&mut with_system);
        assert_eq!(
            texts(&with_system),
            [
                (Role::System, "You are terse.\n\nJudge fairly.".to_owned()),
                (Role::User, "first".to_owned()),
                (Role::Assistant, "ok".to_owned()),
                (Role::User, "### Task\nsecond\n### Answer".to_owned()),
            ]
        );
        let mut bare = request(vec![ChatMessage::text(Role::User, "q")]);
        strategy.apply(&mut bare);
        assert_eq!(bare.messages[0].role, Role::System);
        assert_eq!(bare.messages.len(), 2);
    }

    #[test]
    fn without_chat_the_conversation_goes_as_one_user_message_with_the_lead_in_last() {
        let strategy = PromptingStrategy {
            system_prompt: "S".into(),
            user_prompt: "Q: {prompt}".into(),
            use_chat: false,
            assistant_prompt: Some("A:".into()),
            ..PromptingStrategy::default()
        };
        let mut chat = request(vec![
            ChatMessage::text(Role::User, "one"),
            ChatMessage::text(Role::Assistant, "two"),
            ChatMessage::text(Role::User, "three"),
        ]);
        strategy.apply(&mut chat);
        assert_eq!(
            texts(&chat),
            [(
                Role::User,
                "S\n\nUser: one\n\nAssistant: two\n\nQ: three\n\nA:".to_owned()
            )]
        );
        // Tools need a chat: the strategy keeps one and leads the reply with a message.
        let mut tooled = request(vec![ChatMessage::text(Role::User, "x")]);
        tooled.tools = Some(serde_json::json!([]));
        strategy.apply(&mut tooled);
        assert_eq!(tooled.messages.len(), 3);
        assert_eq!(tooled.messages[2].role, Role::Assistant);
    }

    #[test]
    fn image_parts_stay_after_the_templated_text() {
        let mut message = ChatMessage::text(Role::User, "");
        message.content = Some(serde_json::json!([
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:,"}}
        ]));
        let mut req = request(vec![message]);
        let strategy = PromptingStrategy {
            user_prompt: "<{prompt}>".into(),
            use_chat: false,
            ..PromptingStrategy::default()
        };
        strategy.apply(&mut req);
        let parts = req.messages[0].content.clone().unwrap();
        assert_eq!(parts[0]["text"], "<what is this>");
        assert_eq!(parts[1]["type"], "image_url");
    }

    #[test]
    fn oversized_texts_and_scores_outside_zero_to_one_are_refused_naming_the_field() {
        let big = PromptingStrategy {
            user_prompt: "x".repeat(MAX_TEMPLATE_BYTES + 1),
            ..PromptingStrategy::default()
        };
        assert_eq!(big.check().unwrap_err().0, "user_prompt");
        let score = PromptingStrategy {
            quality_score: Some(1.5),
            ..PromptingStrategy::default()
        };
        assert_eq!(score.check().unwrap_err().0, "quality_score");
        assert!(PromptingStrategy::default().check().is_ok());
    }

    #[test]
    fn a_stored_strategy_overrides_the_configured_one() {
        let configured = PromptingStrategy {
            system_prompt: "config".into(),
            ..PromptingStrategy::default()
        };
        let table = StrategyTable::new([("m".to_owned(), configured.clone())]);
        assert_eq!(table.describe("m").unwrap().source, StrategySource::Config);
        table.put_stored(StoredStrategy {
            model: "m".into(),
            strategy: PromptingStrategy {
                system_prompt: "stored".into(),
                ..PromptingStrategy::default()
            },
            updated_ms: 7,
        });
        let described = table.describe("m").unwrap();
        assert_eq!(described.source, StrategySource::Store);
        assert_eq!(described.overrides, Some(configured));
        let mut req = request(vec![ChatMessage::text(Role::User, "q")]);
        table.apply("m", &mut req);
        assert_eq!(req.messages[0].text_content(), "stored");
        assert!(table.describe("other").is_none());
    }
}
