//! The synthesizer call: one request for the final answer, or a streamed one whose pieces are
//! reported as they arrive. A stream that breaks after some text keeps that text and says so.

use fusion_types::{ChatRequest, Usage};
use futures::StreamExt;
use serde_json::json;

use super::{CallHook, CouncilEvent, Progress, Seat, ask_model, emit, non_empty};
use crate::providers::ProviderRegistry;
use crate::{ErrorKind, Result};

/// What the synthesizer produced.
pub(super) struct Synthesis {
    /// The final answer, or why there is none.
    pub answer: Result<String>,
    pub usage: Usage,
    /// Set when the answer exists but is degraded (a stream cut part-way).
    pub degradation: Option<String>,
}

/// The streamed form is only used without a hook (hooks wrap whole calls).
pub(super) async fn synthesize(
    registry: &ProviderRegistry,
    hook: Option<&dyn CallHook>,
    model: &str,
    request: ChatRequest,
    progress: &Progress,
    stream: bool,
) -> Synthesis {
    if !stream || hook.is_some() {
        let asked = ask_model(registry, hook, Seat::Synthesizer, model, request).await;
        return match asked.and_then(non_empty) {
            Ok(completion) => Synthesis {
                answer: Ok(completion.text().trim().to_owned()),
                usage: completion.usage,
                degradation: None,
            },
            Err(err) => failed(err),
        };
    }
    let mut request = request;
    request.stream_options = Some(json!({ "include_usage": true }));
    let messages = request.messages.clone();
    let mut chunks = match registry.chat_stream(model, request).await {
        Ok(chunks) => chunks,
        Err(err) => return failed(err),
    };
    let mut text = String::new();
    let mut reported = None;
    let mut broke = None;
    while let Some(item) = chunks.next().await {
        match item {
            Ok(chunk) => {
                reported = chunk.usage.or(reported);
                let Some(delta) = chunk.delta_text() else {
                    continue;
                };
                // The answer starts at its first visible character, as the non-streamed one.
                let piece = if text.is_empty() {
                    delta.trim_start()
                } else {
                    delta
                };
                if !piece.is_empty() {
                    text.push_str(piece);
                    emit(
                        progress,
                        CouncilEvent::SynthesizerDelta {
                            text: piece.to_owned(),
                        },
                    );
                }
            }
            Err(err) => {
                broke = Some(err);
                break;
            }
        }
    }
    let usage = match reported {
        Some(usage) => usage,
        None => crate::tokens::estimate_usage_off_worker(&messages, &text).await,
    };
    let answer = text.trim_end().to_owned();
    match broke {
        Some(err) if answer.is_empty() => Synthesis {
            usage,
            ..failed(err)
        },
        Some(err) => Synthesis {
            degradation: Some(format!(
                "the synthesizer's stream broke after {} characters ({err}); the final answer \
                 may be incomplete",
                answer.chars().count()
            )),
            answer: Ok(answer),
            usage,
        },
        None if answer.is_empty() => Synthesis {
            usage,
            ..failed(
                ErrorKind::InvalidResponse {
                    provider: model.to_owned(),
                    message: "the model returned an empty answer".into(),
                }
                .into(),
            )
        },
        None => Synthesis {
            answer: Ok(answer),
            usage,
            degradation: None,
        },
    }
}

fn failed(err: crate::Error) -> Synthesis {
    Synthesis {
        answer: Err(err),
        usage: Usage::default(),
        degradation: None,
    }
}
