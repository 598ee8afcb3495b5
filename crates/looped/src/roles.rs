//! The loop checker's roles and who plays them: each role's models (or councils) from
//! `[loop.roles]`, preferred first — unset, the default council's judge model, else the first
//! configured model — and the calls that ask a role, falling back along its list. Every call
//! goes through the provider registry (a council role through `council::run`, which does too).

use fusion_types::{ChatMessage, ChatRequest, Role};

use fusion_core::config::{COUNCIL_PREFIX, Config};
use fusion_core::council;
use fusion_core::providers::ProviderRegistry;
use fusion_core::strict_json::{Attempt, JsonModel};

/// A role of the loop checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopRole {
    Explorer,
    Builder,
    Critic,
    Sentinel,
    Conductor,
    Checker,
}

impl LoopRole {
    /// The four views of a deliberation round.
    pub const VIEWS: [LoopRole; 4] = [Self::Explorer, Self::Builder, Self::Critic, Self::Sentinel];

    /// The role's key in `[loop.roles]` and in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Explorer => "explorer",
            Self::Builder => "builder",
            Self::Critic => "critic",
            Self::Sentinel => "sentinel",
            Self::Conductor => "conductor",
            Self::Checker => "checker",
        }
    }

    /// The role's name in prompts.
    pub fn title(self) -> &'static str {
        match self {
            Self::Explorer => "Explorer",
            Self::Builder => "Builder",
            Self::Critic => "Critic",
            Self::Sentinel => "Performance Sentinel",
            Self::Conductor => "Loop Conductor",
            Self::Checker => "Checker",
        }
    }

    fn configured(self, config: &Config) -> &[String] {
        let roles = &config.looped.roles;
        match self {
            Self::Explorer => &roles.explorer,
            Self::Builder => &roles.builder,
            Self::Critic => &roles.critic,
            Self::Sentinel => &roles.sentinel,
            Self::Conductor => &roles.conductor,
            Self::Checker => &roles.checker,
        }
    }
}

/// Who plays a role: one model, or a whole council.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Model(String),
    Council(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Model(id) => f.write_str(id),
            Self::Council(name) => write!(f, "{COUNCIL_PREFIX}{name}"),
        }
    }
}

/// The role's targets, preferred first: `[loop.roles]`, else the default council's judge
/// model, else the first configured (or known) model.
pub fn targets(config: &Config, registry: &ProviderRegistry, role: LoopRole) -> Vec<Target> {
    let configured = role.configured(config);
    if !configured.is_empty() {
        return configured
            .iter()
            .map(|entry| match entry.strip_prefix(COUNCIL_PREFIX) {
                Some(council) => Target::Council(council.trim().to_owned()),
                None => Target::Model(entry.clone()),
            })
            .collect();
    }
    let judge = config
        .pick_council(None)
        .ok()
        .and_then(|name| config.councils.get(name))
        .map(|c| c.judge.model.clone());
    judge
        .or_else(|| config.models.first().map(|m| m.id.clone()))
        .or_else(|| registry.models().first().map(|m| m.id.clone()))
        .map(Target::Model)
        .into_iter()
        .collect()
}

/// A role's answer and who gave it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub text: String,
    pub target: Target,
    /// Targets that failed before this one answered: "model: error".
    pub failures: Vec<String>,
}

/// Asks roles through the registry.
#[derive(Clone, Copy)]
pub struct RoleCaller<'a> {
    pub registry: &'a ProviderRegistry,
    pub config: &'a Config,
}

impl<'a> RoleCaller<'a> {
    pub fn new(registry: &'a ProviderRegistry, config: &'a Config) -> Self {
        Self { registry, config }
    }

    /// Asks the role's targets in order until one answers with text; the error lists every
    /// failure.
    pub async fn ask(
        &self,
        role: LoopRole,
        messages: &[ChatMessage],
        temperature: Option<f64>,
    ) -> Result<Answer, Vec<String>> {
        let targets = targets(self.config, self.registry, role);
        if targets.is_empty() {
            return Err(vec![format!(
                "no model for the {} role: configure [loop.roles] or [[models]]",
                role.as_str()
            )]);
        }
        let mut failures = Vec::new();
        for target in targets {
            match self.call(&target, messages, temperature).await {
                Ok(text) => {
                    if !failures.is_empty() {
                        tracing::info!(role = role.as_str(), %target, "loop role fell back");
                    }
                    return Ok(Answer {
                        text,
                        target,
                        failures,
                    });
                }
                Err(err) => {
                    tracing::warn!(role = role.as_str(), %target, "loop role call failed: {err}");
                    failures.push(format!("{target}: {err}"));
                }
            }
        }
        Err(failures)
    }

    /// One call to one target; an empty answer is an error.
    pub async fn call(
        &self,
        target: &Target,
        messages: &[ChatMessage],
        temperature: Option<f64>,
    ) -> fusion_core::Result<String> {
        let text = match target {
            Target::Model(model) => {
                let request = ChatRequest {
                    model: model.clone(),
                    messages: messages.to_vec(),
                    temperature,
                    ..ChatRequest::default()
                };
                self.registry.chat(model, request).await?.text()
            }
            Target::Council(name) => {
                let council = self.config.councils.get(name).ok_or_else(|| {
                    fusion_core::ErrorKind::Invalid(format!("no council named `{name}`"))
                })?;
                let result =
                    council::run(self.registry, name, council, &flatten(messages), None).await;
                if result.status == fusion_types::CouncilStatus::Error {
                    return Err(fusion_core::ErrorKind::Invalid(format!(
                        "council `{name}` gave no answer: {}",
                        result.degradation_reasons.join("; ")
                    ))
                    .into());
                }
                result.final_answer
            }
        };
        if text.trim().is_empty() {
            return Err(fusion_core::ErrorKind::Invalid(format!(
                "{target} returned an empty answer"
            ))
            .into());
        }
        Ok(text)
    }
}

/// A role asked for strict JSON (see [`fusion_core::strict_json::ask`]): the first call asks the role's
/// targets in order, the retry goes to the target that answered; both at temperature 0.
/// Errors are their text.
pub struct RoleConversation<'a> {
    caller: RoleCaller<'a>,
    role: LoopRole,
    answered: Option<Answer>,
}

impl<'a> RoleConversation<'a> {
    pub fn new(caller: RoleCaller<'a>, role: LoopRole) -> Self {
        Self {
            caller,
            role,
            answered: None,
        }
    }

    /// Who answered the first call, once it has.
    pub fn target(&self) -> Option<&Target> {
        self.answered.as_ref().map(|a| &a.target)
    }

    /// The targets that failed before one answered the first call: "model: error".
    pub fn failures(&self) -> &[String] {
        self.answered.as_ref().map_or(&[], |a| &a.failures)
    }
}

impl JsonModel for RoleConversation<'_> {
    type Error = String;

    async fn call(
        &mut self,
        messages: &[ChatMessage],
        attempt: Attempt<'_>,
    ) -> Result<String, String> {
        match (attempt, &self.answered) {
            (Attempt::Retry { parse_error }, Some(answer)) => {
                tracing::info!(
                    role = self.role.as_str(),
                    %parse_error,
                    "loop role output was not usable JSON; asking once more"
                );
                self.caller
                    .call(&answer.target, messages, Some(0.0))
                    .await
                    .map_err(|err| err.to_string())
            }
            _ => {
                let answer = self
                    .caller
                    .ask(self.role, messages, Some(0.0))
                    .await
                    .map_err(|failures| failures.join("; "))?;
                let text = answer.text.clone();
                self.answered = Some(answer);
                Ok(text)
            }
        }
    }
}

/// A system prompt and one user message.
pub fn messages(system: &str, user: String) -> Vec<ChatMessage> {
    vec![
        ChatMessage::text(Role::System, system),
        ChatMessage::text(Role::User, user),
    ]
}

/// A conversation as one prompt, for a council: the instructions, then each turn labelled.
fn flatten(messages: &[ChatMessage]) -> String {
    let mut out = String::new();
    for message in messages {
        let text = message.text_content();
        if text.trim().is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        match message.role {
            Role::Assistant => {
                out.push_str("Your previous reply:\n");
                out.push_str(&text);
            }
            _ => out.push_str(&text),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> Config {
        let base = r#"
[[providers]]
name = "p"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "first"
provider = "p"

[[models]]
id = "judge"
provider = "p"
"#;
        toml::from_str(&format!("{base}\n{toml_text}")).unwrap()
    }

    #[test]
    fn roles_use_their_list_then_the_default_judge_then_the_first_model() {
        let registry = |c: &Config| ProviderRegistry::from_config(c).unwrap();
        let c = config("[loop]\nroles.critic = [\"first\", \"council:default\"]\n");
        assert_eq!(
            targets(&c, &registry(&c), LoopRole::Critic),
            vec![
                Target::Model("first".into()),
                Target::Council("default".into())
            ]
        );
        assert_eq!(
            targets(&c, &registry(&c), LoopRole::Builder),
            vec![Target::Model("first".into())]
        );
        let c = config(
            "[councils.default]\npanel = [{ model = \"first\" }]\njudge = { model = \"judge\" }\n",
        );
        assert_eq!(
            targets(&c, &registry(&c), LoopRole::Checker),
            vec![Target::Model("judge".into())]
        );
        assert_eq!(Target::Council("x".into()).to_string(), "council:x");
    }
}
