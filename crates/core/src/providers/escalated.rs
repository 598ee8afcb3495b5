//! Routed calls that go to a council (`[router.escalate]`): the view of the escalation council
//! the router rates and prices (with what `fusion bench` measured for `fusion/<council>` and
//! what `fusion eval council` measured for it), and the council run that answers a routed call
//! escalated to it — a chat completion shaped like the chat API's `fusion/<council>` answers,
//! with the council's trace beside it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fusion_types::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, CouncilResult, CouncilStatus, Role,
};
use serde_json::{Map, json};

use super::measured::EVAL_COUNCIL_PREFIX;
use super::{ChunkStream, Completion, ProviderRegistry};
use crate::config::{Category, CouncilConfig};
use crate::router::{COUNCIL_MODEL_PREFIX, CouncilView};
use crate::{ErrorKind, Result};

impl ProviderRegistry {
    /// `[router.escalate]`'s council (name and config), when one is configured.
    pub fn escalation_council(&self) -> Option<(&str, &CouncilConfig)> {
        self.escalate_to
            .as_ref()
            .map(|(name, council)| (name.as_str(), council))
    }

    /// The escalation council as the router sees it (`None`: escalation is off).
    pub(super) fn council_view(&self) -> Option<CouncilView> {
        let (name, council) = self.escalation_council()?;
        let table = self.measured_table();
        let measured = table
            .get(&format!("{COUNCIL_MODEL_PREFIX}{name}"))
            .copied()
            .unwrap_or_default();
        // Kept in every category (see `measured.rs`): any one reads it.
        let reviewed = table
            .get(&format!("{EVAL_COUNCIL_PREFIX}{name}"))
            .and_then(|m| m.get(Category::Chat));
        Some(CouncilView::from_config(name, council, measured, reviewed))
    }

    /// Runs the escalation council on `request`'s messages: its answer as a completion from
    /// `fusion/<council>`, with the council's trace. An error (which routing may fall back
    /// from) when no council is configured or every panel member failed.
    pub(super) async fn chat_council(
        &self,
        request: &ChatRequest,
    ) -> Result<(Completion, CouncilResult)> {
        let Some((name, council)) = self.escalation_council() else {
            return Err(
                ErrorKind::Invalid("no [router.escalate] council is configured".into()).into(),
            );
        };
        let started = Instant::now();
        let prompt = crate::transcript::render(&request.messages);
        let result = crate::council::run(self, name, council, &prompt, None).await;
        if result.status == CouncilStatus::Error {
            let failures: Vec<String> = result
                .failed_models
                .iter()
                .map(|f| format!("{}: {}", f.model, f.error))
                .collect();
            return Err(ErrorKind::Exec {
                provider: format!("council `{name}`"),
                message: format!("every panel member failed ({})", failures.join("; ")),
            }
            .into());
        }
        let model = format!("{COUNCIL_MODEL_PREFIX}{name}");
        let response = ChatResponse {
            id: format!("fusion-{}", now_nanos()),
            object: "chat.completion".into(),
            created: now_secs(),
            model: model.clone(),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::text(Role::Assistant, result.final_answer.clone()),
                finish_reason: Some("stop".into()),
                extra: Map::new(),
            }],
            usage: Some(result.usage),
            extra: Map::new(),
        };
        let completion = Completion {
            response,
            usage: result.usage,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            model,
            provider: "fusion".into(),
            attempts: 1,
        };
        Ok((completion, result))
    }

    /// [`Self::chat_council`] for a streamed request: the council's answer arrives whole, as
    /// one content chunk and a closing one.
    pub(super) async fn chat_stream_council(
        &self,
        request: &ChatRequest,
    ) -> Result<(ChunkStream, CouncilResult)> {
        let (completion, result) = self.chat_council(request).await?;
        let response = &completion.response;
        let chunks = [
            ChatChunk::single(
                &response.id,
                &response.model,
                response.created,
                json!({ "role": "assistant", "content": result.final_answer }),
                None,
            ),
            ChatChunk::single(
                &response.id,
                &response.model,
                response.created,
                json!({}),
                Some("stop"),
            ),
        ];
        let stream: ChunkStream = Box::pin(futures::stream::iter(chunks.map(Ok)));
        Ok((stream, result))
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::router::{RatedBy, RouteInput};
    use crate::store::MeasuredQuality;

    fn registry() -> ProviderRegistry {
        let config: Config = toml::from_str(
            r#"
[router]
quality_threshold = 0.85
escalate = { council = "deep", prior = 0.5 }

[[providers]]
name = "local"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
id = "a"
provider = "local"
quality = { default = 0.6 }

[[models]]
id = "b"
provider = "local"
quality = { default = 0.7 }

[councils.deep]
panel = [{ model = "a" }, { model = "b" }]
judge = { model = "b" }
"#,
        )
        .unwrap();
        ProviderRegistry::from_config(&config).unwrap()
    }

    fn row(model: &str, category: &str, mean_score: f64) -> MeasuredQuality {
        MeasuredQuality {
            model: model.into(),
            category: category.into(),
            n: 12,
            mean_score,
        }
    }

    fn hard() -> RouteInput {
        RouteInput {
            text: "a hard task".into(),
            complexity: Some(1.0),
            category: Some(Category::Reasoning),
            ..RouteInput::default()
        }
    }

    #[test]
    fn the_council_is_rated_by_eval_council_then_by_bench_results_in_the_store() {
        let registry = registry();
        assert_eq!(
            registry.escalation_council().map(|(name, _)| name),
            Some("deep")
        );
        // Prior 0.5 < 0.85: not escalated.
        let d = registry.route_preview(&hard());
        assert_eq!(d.chosen, None, "{}", d.summary);
        assert!(
            d.summary.contains("not escalated to council deep"),
            "{}",
            d.summary
        );

        // `fusion eval council` measured it well (its arm is `council:deep`, category review).
        registry.set_measured(&[row("council:deep", "review", 0.9)], &[]);
        let d = registry.route_preview(&hard());
        assert_eq!(d.chosen.as_deref(), Some("fusion/deep"), "{}", d.summary);
        let e = d.escalation.unwrap();
        assert_eq!((e.quality, e.rated_by), (0.9, RatedBy::EvalCouncil));

        // `fusion bench` results for `fusion/deep` in the task's category come first.
        registry.set_measured(
            &[
                row("council:deep", "review", 0.9),
                row("fusion/deep", "reasoning", 0.95),
            ],
            &[],
        );
        let e = registry.route_preview(&hard()).escalation.unwrap();
        assert_eq!((e.quality, e.rated_by), (0.95, RatedBy::Bench));
        // The eval record is not a model the router could pick.
        assert!(
            registry
                .model_views()
                .iter()
                .all(|m| m.id != "council:deep")
        );
    }
}
