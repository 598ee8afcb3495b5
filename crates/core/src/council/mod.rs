//! The council: a panel of models answers one prompt (in parallel unless configured
//! otherwise, and only until its quorum answered or its deadline passed, the members still
//! running then cut), a judge compares the anonymised answers into a strict-JSON analysis, and
//! a synthesizer writes the final answer. Every failure degrades the result instead of failing
//! it, and each degradation is recorded in the trace. Progress is reported as `CouncilEvent`s;
//! a [`CallHook`] (the task engine's) may wrap every model call the council makes, to hold it
//! until a concurrency slot is free, record it, or cancel one member without stopping the rest.
//! Every run that ends is recorded in the dashboard's history with what it cost (`record`).

mod heuristic;
mod judge;
mod panel;
pub mod prompts;
mod record;
mod synthesis;

use std::time::Instant;

use fusion_types::{
    Analysis, ChatMessage, ChatRequest, CouncilResult, CouncilStatus, CutReason, LabelAssignment,
    MemberResponse, Timings, Usage,
};
use futures::future::BoxFuture;
use rand::seq::SliceRandom;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::{CouncilConfig, MemberConfig};
use crate::providers::{Completion, ProviderRegistry};
use crate::strict_json::{self, Attempt, JsonAnswer, JsonModel, Unusable};
use prompts::LabelledAnswer;

pub use judge::extract_object;
pub use judge::{parse_analysis, read_analysis};
pub use panel::{Member, members};

/// What a running council reports, in order, for progress displays. Serialized (for the HTTP
/// stream's progress lines) as `{"event": "member_finished", "member": .., ...}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CouncilEvent {
    /// The panel as it will run: member names in seat order.
    PanelStarted {
        members: Vec<String>,
    },
    MemberStarted {
        member: String,
    },
    MemberFinished {
        member: String,
        latency_ms: u64,
    },
    MemberFailed {
        member: String,
        error: String,
    },
    /// The panel went on without this member: its quorum answered first, or the panel
    /// deadline passed. Its call, if running, was cancelled.
    MemberCut {
        member: String,
        reason: CutReason,
    },
    JudgeStarted {
        model: String,
    },
    /// The judge's output was not valid JSON, or copied the prompt's form; it is asked once
    /// more.
    JudgeRetry {
        reason: String,
    },
    JudgeFinished {
        ok: bool,
    },
    SynthesizerStarted {
        model: String,
    },
    /// A piece of the final answer, as the synthesizer writes it (only from `run_streaming`).
    SynthesizerDelta {
        text: String,
    },
    SynthesizerFinished {
        ok: bool,
    },
}

/// Where progress events go (nowhere when `None`).
pub type Progress = Option<UnboundedSender<CouncilEvent>>;

fn emit(progress: &Progress, event: CouncilEvent) {
    if let Some(tx) = progress {
        // A display that went away must not stop the council.
        let _ = tx.send(event);
    }
}

/// Which seat of a council a model call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seat<'a> {
    /// A panel member, by its unique member name.
    Member(&'a str),
    /// The judge (called a second time when its first output was not JSON).
    Judge,
    Synthesizer,
}

/// Wraps every model call of a council run (see [`run_hooked`]). `call` is the registry call,
/// not started yet; the hook decides when to start it, may observe its outcome, and may end it
/// early with an error instead (a cancelled member then counts as a failed one, with the
/// error's text). The result it returns is what the council sees.
pub trait CallHook: Send + Sync {
    fn call<'a>(
        &'a self,
        seat: Seat<'a>,
        model: &'a str,
        call: BoxFuture<'a, crate::Result<Completion>>,
    ) -> BoxFuture<'a, crate::Result<Completion>>;

    /// The panel went on without this member (its quorum answered first, or the panel deadline
    /// passed): its call, if the hook had it, was dropped unfinished — the hook may record why.
    fn cut<'a>(&'a self, seat: Seat<'a>, reason: CutReason) -> BoxFuture<'a, ()> {
        let _ = (seat, reason);
        Box::pin(async {})
    }
}

/// Runs the council `name` on `prompt`. Never fails: problems are in the result.
pub async fn run(
    registry: &ProviderRegistry,
    name: &str,
    council: &CouncilConfig,
    prompt: &str,
    progress: Progress,
) -> CouncilResult {
    run_with(registry, name, council, prompt, progress, false, None).await
}

/// Like [`run`], with every model call (panel members, judge, synthesizer) going through
/// `hook`.
pub async fn run_hooked(
    registry: &ProviderRegistry,
    name: &str,
    council: &CouncilConfig,
    prompt: &str,
    progress: Progress,
    hook: &dyn CallHook,
) -> CouncilResult {
    run_with(registry, name, council, prompt, progress, false, Some(hook)).await
}

/// One model call of the council, through the hook when there is one.
pub(crate) async fn ask_model(
    registry: &ProviderRegistry,
    hook: Option<&dyn CallHook>,
    seat: Seat<'_>,
    model: &str,
    request: ChatRequest,
) -> crate::Result<Completion> {
    let call = registry.chat(model, request);
    match hook {
        Some(hook) => hook.call(seat, model, Box::pin(call)).await,
        None => call.await,
    }
}

/// Like [`run`], but the synthesizer is streamed and each piece of the final answer is
/// reported as a [`CouncilEvent::SynthesizerDelta`] as it arrives.
pub async fn run_streaming(
    registry: &ProviderRegistry,
    name: &str,
    council: &CouncilConfig,
    prompt: &str,
    progress: Progress,
) -> CouncilResult {
    run_with(registry, name, council, prompt, progress, true, None).await
}

/// Runs the council, then records the run in the dashboard's history (see `record`).
async fn run_with(
    registry: &ProviderRegistry,
    name: &str,
    council: &CouncilConfig,
    prompt: &str,
    progress: Progress,
    stream_synthesis: bool,
    hook: Option<&dyn CallHook>,
) -> CouncilResult {
    let mut spend = record::Spend::default();
    let seats = Seats {
        progress,
        stream_synthesis,
        hook,
    };
    let result = run_unrecorded(registry, name, council, prompt, seats, &mut spend).await;
    record::ended(registry, name, prompt, &result, &spend);
    result
}

/// How a run reports and calls its seats.
struct Seats<'a> {
    progress: Progress,
    stream_synthesis: bool,
    hook: Option<&'a dyn CallHook>,
}

async fn run_unrecorded(
    registry: &ProviderRegistry,
    name: &str,
    council: &CouncilConfig,
    prompt: &str,
    seats: Seats<'_>,
    spend: &mut record::Spend,
) -> CouncilResult {
    let Seats {
        progress,
        stream_synthesis,
        hook,
    } = seats;
    let started = Instant::now();
    let members = panel::members(council);
    let mut usage = Usage::default();
    let mut result = CouncilResult {
        status: CouncilStatus::Ok,
        council: name.to_owned(),
        final_answer: String::new(),
        analysis: Analysis::default(),
        responses: Vec::new(),
        failed_models: Vec::new(),
        degradation_reasons: Vec::new(),
        raw_judge_output: None,
        labels: Vec::new(),
        notes: council.notes.clone(),
        timings: Timings::default(),
        usage: Usage::default(),
        cut: Vec::new(),
    };

    // Panel.
    emit(
        &progress,
        CouncilEvent::PanelStarted {
            members: members.iter().map(|m| m.name.clone()).collect(),
        },
    );
    let outcome = panel::ask(registry, hook, council, &members, prompt, &progress).await;
    result.timings.panel_ms = ms(started);
    usage.add(&outcome.usage);
    for response in &outcome.responses {
        let model = members
            .iter()
            .find(|m| m.name == response.model)
            .map_or(response.model.as_str(), |m| m.seat.model.as_str());
        spend.add(registry, model, &response.usage);
    }
    result.responses = outcome.responses;
    result.failed_models = outcome.failed;
    result.cut = outcome.cut;
    if result.responses.is_empty() {
        result.status = CouncilStatus::Error;
        result.degradation_reasons.push(format!(
            "all {} panel members failed; there is no answer",
            members.len()
        ));
        result.usage = usage;
        result.timings.total_ms = ms(started);
        return result;
    }
    if !result.failed_models.is_empty() {
        let failed: Vec<String> = result
            .failed_models
            .iter()
            .map(|f| format!("{} ({})", f.model, f.error))
            .collect();
        result.degradation_reasons.push(format!(
            "{} of {} panel members failed, continuing with the {} that answered: {}",
            failed.len(),
            members.len(),
            result.responses.len(),
            failed.join("; ")
        ));
    }

    // Anonymous, shuffled labels for the judge and synthesizer.
    let mut order: Vec<usize> = (0..result.responses.len()).collect();
    order.shuffle(&mut rand::rng());
    let labels: Vec<(String, String)> = order
        .iter()
        .enumerate()
        .map(|(i, &r)| (label(i), result.responses[r].model.clone()))
        .collect();
    let labelled: Vec<LabelledAnswer<'_>> = order
        .iter()
        .zip(&labels)
        .map(|(&r, (label, _))| LabelledAnswer {
            label,
            content: &result.responses[r].content,
        })
        .collect();

    // Judge.
    let judge_started = Instant::now();
    let verdict = judge_phase(registry, hook, &council.judge, prompt, &labelled, &progress).await;
    usage.add(&verdict.usage);
    spend.add(registry, &council.judge.model, &verdict.usage);
    result.timings.judge_ms = ms(judge_started);
    result.degradation_reasons.extend(verdict.degradations);
    result.raw_judge_output = verdict.raw_output;
    let labelled_analysis = match verdict.analysis {
        Some(analysis) => analysis,
        None => {
            // Labelled like the judge's would be, so the synthesizer never sees member names.
            let anonymous: Vec<MemberResponse> = order
                .iter()
                .zip(&labels)
                .map(|(&r, (label, _))| MemberResponse {
                    model: label.clone(),
                    ..result.responses[r].clone()
                })
                .collect();
            heuristic::analyse(&anonymous, "the judge gave no usable analysis")
        }
    };
    let analysis_json = serde_json::to_string_pretty(&labelled_analysis).unwrap_or_default();
    let mut analysis = labelled_analysis;
    judge::unlabel(&mut analysis, &labels);
    result.analysis = analysis;

    // Synthesizer (defaults to the judge's model).
    let synth_started = Instant::now();
    let synthesizer = council.synthesizer.clone().unwrap_or_else(|| MemberConfig {
        model: council.judge.model.clone(),
        ..MemberConfig::default()
    });
    emit(
        &progress,
        CouncilEvent::SynthesizerStarted {
            model: synthesizer.model.clone(),
        },
    );
    let request = member_request(
        &synthesizer,
        Some(&with_role(
            synthesizer.system.as_deref(),
            prompts::SYNTHESIZER_SYSTEM,
        )),
        prompts::synthesizer_user(prompt, &labelled, &analysis_json),
    );
    let synthesis = synthesis::synthesize(
        registry,
        hook,
        &synthesizer.model,
        request,
        &progress,
        stream_synthesis,
    )
    .await;
    result.timings.synthesis_ms = ms(synth_started);
    usage.add(&synthesis.usage);
    spend.add(registry, &synthesizer.model, &synthesis.usage);
    result.degradation_reasons.extend(synthesis.degradation);
    match synthesis.answer {
        Ok(answer) => {
            result.final_answer = answer;
            emit(&progress, CouncilEvent::SynthesizerFinished { ok: true });
        }
        Err(err) => {
            emit(&progress, CouncilEvent::SynthesizerFinished { ok: false });
            let best = heuristic::best_answer(&result.responses).unwrap_or(0);
            let chosen = &result.responses[best];
            result.final_answer = chosen.content.clone();
            result.degradation_reasons.push(format!(
                "synthesizer `{}` failed ({err}); the final answer is the most representative \
                 panel answer, from {}",
                synthesizer.model, chosen.model
            ));
        }
    }

    result.labels = labels
        .into_iter()
        .map(|(label, model)| LabelAssignment { label, model })
        .collect();
    result.usage = usage;
    result.timings.total_ms = ms(started);
    result
}

struct Verdict {
    analysis: Option<Analysis>,
    raw_output: Option<String>,
    degradations: Vec<String>,
    usage: Usage,
}

/// Asks the judge for its strict-JSON analysis (see [`strict_json::ask`]): on output that is
/// not JSON, or that copies the prompt's form (its example text, no response label), once more
/// showing why; after that the analysis is heuristic.
async fn judge_phase(
    registry: &ProviderRegistry,
    hook: Option<&dyn CallHook>,
    judge: &MemberConfig,
    prompt: &str,
    labelled: &[LabelledAnswer<'_>],
    progress: &Progress,
) -> Verdict {
    emit(
        progress,
        CouncilEvent::JudgeStarted {
            model: judge.model.clone(),
        },
    );
    let mut request = member_request(
        judge,
        Some(&with_role(judge.system.as_deref(), prompts::JUDGE_SYSTEM)),
        prompts::judge_user(prompt, labelled),
    );
    request.temperature = Some(judge.temperature.unwrap_or(0.0));
    let messages = std::mem::take(&mut request.messages);
    let mut seat = JudgeSeat {
        registry,
        hook,
        request,
        progress,
        usage: Usage::default(),
    };
    let labels: Vec<&str> = labelled.iter().map(|answer| answer.label).collect();
    let answer = strict_json::ask(&mut seat, messages, &prompts::JUDGE_KEYS, |text| {
        judge::read_analysis(text, &labels)
    })
    .await;
    let mut verdict = Verdict {
        analysis: None,
        raw_output: None,
        degradations: Vec::new(),
        usage: seat.usage,
    };
    match answer {
        JsonAnswer::Parsed(analysis) => verdict.analysis = Some(analysis),
        JsonAnswer::Repaired { value, first_error } => {
            verdict.analysis = Some(value);
            verdict.degradations.push(if first_error.is_template() {
                format!(
                    "judge output was not an analysis the first time: {first_error} — its \
                     retry was"
                )
            } else {
                format!(
                    "judge output was not valid JSON the first time ({first_error}); its retry \
                     was"
                )
            });
        }
        JsonAnswer::NotAsked(err) => {
            verdict.degradations.push(format!(
                "judge `{}` failed ({err}); the analysis is heuristic",
                judge.model
            ));
        }
        JsonAnswer::RetryFailed {
            first_error, error, ..
        } => {
            verdict.degradations.push(if first_error.is_template() {
                format!(
                    "judge: {first_error} — treated as no analysis; its retry failed \
                     ({error}), so the analysis is heuristic"
                )
            } else {
                format!(
                    "judge `{}` failed ({error}); the analysis is heuristic",
                    judge.model
                )
            });
        }
        JsonAnswer::Unparsable {
            first_error,
            error,
            raw,
        } => {
            verdict.raw_output = Some(raw);
            verdict
                .degradations
                .push(unparsable_judge(&first_error, &error));
        }
    }
    emit(
        progress,
        CouncilEvent::JudgeFinished {
            ok: verdict.analysis.is_some(),
        },
    );
    verdict
}

/// Why neither of the judge's answers was used: not JSON, or a copy of the prompt's form.
fn unparsable_judge(first_error: &Unusable, error: &Unusable) -> String {
    let mut why = if error.is_template() {
        format!("judge: {error} — treated as no analysis, even after one retry")
    } else {
        format!("judge output was not valid JSON, even after one retry ({error})")
    };
    if first_error.is_template() != error.is_template() {
        why.push_str(&format!(" (the first answer: {first_error})"));
    }
    why.push_str("; the analysis is heuristic and the judge's text is in raw_judge_output");
    why
}

/// The judge's seat as a [`JsonModel`]: each call goes through the hook, adds its usage, and
/// a retry is reported as [`CouncilEvent::JudgeRetry`] first.
struct JudgeSeat<'a> {
    registry: &'a ProviderRegistry,
    hook: Option<&'a dyn CallHook>,
    /// The judge's request without its messages.
    request: ChatRequest,
    progress: &'a Progress,
    usage: Usage,
}

impl JsonModel for JudgeSeat<'_> {
    type Error = crate::Error;

    async fn call(
        &mut self,
        messages: &[ChatMessage],
        attempt: Attempt<'_>,
    ) -> crate::Result<String> {
        if let Attempt::Retry { parse_error } = attempt {
            emit(
                self.progress,
                CouncilEvent::JudgeRetry {
                    reason: parse_error.to_owned(),
                },
            );
        }
        let mut request = self.request.clone();
        request.messages = messages.to_vec();
        let model = request.model.clone();
        let completion = ask_model(self.registry, self.hook, Seat::Judge, &model, request).await?;
        self.usage.add(&completion.usage);
        Ok(completion.text())
    }
}

/// A request for one seat: its system prompt, temperature and token limit.
pub(crate) fn member_request(
    seat: &MemberConfig,
    system: Option<&str>,
    user: String,
) -> ChatRequest {
    let mut request = ChatRequest::simple(seat.model.clone(), system, user);
    request.temperature = seat.temperature;
    request.max_tokens = seat.max_tokens;
    request
}

/// A configured system prompt goes before the role's own instructions, never replaces them
/// (the judge's JSON schema must always reach the judge).
fn with_role(configured: Option<&str>, role: &str) -> String {
    match configured {
        Some(text) if !text.trim().is_empty() => format!("{}\n\n{role}", text.trim()),
        _ => role.to_owned(),
    }
}

/// An answer with no text is a failure, not an answer.
pub(crate) fn non_empty(completion: Completion) -> crate::Result<Completion> {
    if completion.text().trim().is_empty() {
        return Err(crate::ErrorKind::InvalidResponse {
            provider: completion.provider,
            message: "the model returned an empty answer".into(),
        }
        .into());
    }
    Ok(completion)
}

fn label(i: usize) -> String {
    let letter = char::from(b'A' + (i % 26) as u8);
    if i < 26 {
        format!("Response {letter}")
    } else {
        format!("Response {letter}{}", i / 26)
    }
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
