//! `ProviderRegistry`: the one path for every model call. It maps Fusion's model ids to
//! providers and owns, per provider, the concurrency slots, the per-call timeout and the retry
//! loop; every call comes back as a `Completion` with latency and token usage (estimated and
//! marked when the upstream reported none), feeds the model's health and goes to the usage
//! ledger. The model's prompting strategy, if it has one, rewrites each request here. The model
//! table is copy-on-write, so discovery can add models while calls run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use fusion_types::{ChatChunk, ChatRequest, ChatResponse, Usage};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::accounting::{CallOutcome, CallRecord};
use super::health::{ModelHealth, ProviderHealth};
use super::limits::{self, ModelLimits};
use super::{Backend, ChunkStream, retry};
use crate::config::{Config, Price, ProviderConfig, QualityPriors, RouterConfig, Tier};
use crate::prompting::StrategyTable;
use crate::router::MeasuredByCategory;
use crate::store::Ledger;
use crate::{ErrorKind, Result};

/// A model as the registry knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEntry {
    /// Fusion's name for the model.
    pub id: String,
    pub provider: String,
    /// The name the upstream expects.
    pub upstream_model: String,
    pub tier: Tier,
    pub context_window: Option<u32>,
    pub price: Option<Price>,
    pub quality: QualityPriors,
    pub source: ModelSource,
}

impl ModelEntry {
    /// Neither the config nor a catalog gives this model's price, and it is not local: it may
    /// cost anything (routing treats it as paid, at an unknown cost).
    pub fn price_unknown(&self) -> bool {
        self.source != ModelSource::Config && self.tier != Tier::Local && self.price.is_none()
    }
}

/// Where the registry learnt of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelSource {
    /// `[[models]]` in the config.
    Config,
    /// Listed by its provider (`/v1/models`, Ollama's `/api/tags`).
    Discovered,
    /// Synced from a provider's catalog into the store (`fusion models sync`).
    Catalog,
}

/// A model, its passive health and the limits its provider stated. Health and limits are
/// shared with the slot that replaces this one when a catalog updates the entry.
pub(super) struct ModelSlot {
    pub(super) entry: ModelEntry,
    pub(super) health: Arc<ModelHealth>,
    pub(super) limits: Arc<ModelLimits>,
}

impl ModelSlot {
    pub(super) fn new(entry: ModelEntry) -> Self {
        Self {
            entry,
            health: Arc::default(),
            limits: Arc::default(),
        }
    }

    /// The same model (health and limits kept) under an updated entry.
    pub(super) fn updated(&self, entry: ModelEntry) -> Self {
        Self {
            entry,
            health: Arc::clone(&self.health),
            limits: Arc::clone(&self.limits),
        }
    }
}

pub(super) type ModelTable = BTreeMap<String, Arc<ModelSlot>>;

/// The outcome of one successful model call.
#[derive(Debug, Clone)]
pub struct Completion {
    pub response: ChatResponse,
    /// From the upstream, or estimated (then `usage.estimated` is true).
    pub usage: Usage,
    /// Wall time of the whole call, retries and queueing included.
    pub latency_ms: u64,
    pub model: String,
    pub provider: String,
    /// How many upstream attempts were made (1 = no retry).
    pub attempts: u32,
}

impl Completion {
    /// The text of the first choice.
    pub fn text(&self) -> String {
        self.response.first_text()
    }
}

pub(super) struct ProviderHandle {
    pub(super) config: ProviderConfig,
    pub(super) backend: Backend,
    slots: Arc<Semaphore>,
    /// Calls waiting for a slot now.
    waiting: AtomicUsize,
    pub(super) health: ProviderHealth,
    /// A listing carried prices: an OpenRouter-style catalog (when `catalog` is unset).
    pub(super) catalog_detected: AtomicBool,
    /// When its catalog was last synced (Unix ms; 0 = never).
    pub(super) catalog_synced_ms: AtomicI64,
    /// Why its last catalog sync failed (`None` after a sync that worked).
    pub(super) catalog_error: Mutex<Option<String>>,
    /// Models whose context window the local server was already asked for.
    pub(super) context_asked: Mutex<HashSet<String>>,
}

/// All configured providers and every model known for them.
pub struct ProviderRegistry {
    pub(super) providers: HashMap<String, Arc<ProviderHandle>>,
    /// Replaced whole when models are added; readers take the `Arc` and let go of the lock.
    pub(super) models: RwLock<Arc<ModelTable>>,
    pub(super) router: RouterConfig,
    ledger: Option<Ledger>,
    /// Daily-usage rows are written one at a time, each with the model's latest count.
    pub(super) daily_writer: Arc<tokio::sync::Mutex<()>>,
    /// Daily-usage rows read from the store at start, for models added later.
    pub(super) restored_daily: Mutex<Vec<crate::store::ModelDailyUsage>>,
    /// Prompting strategies by model id, applied to every call (see `crate::prompting`).
    pub(super) prompting: StrategyTable,
    /// What benchmarks measured, by model id (read from the store at start and after a
    /// bench; the router reads it per decision without touching the store).
    pub(super) measured: RwLock<Arc<HashMap<String, MeasuredByCategory>>>,
    /// `[router.escalate]`'s council, by name: where routing may send a hard task.
    pub(super) escalate_to: Option<(String, crate::config::CouncilConfig)>,
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRegistry")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("models", &self.table().keys().cloned().collect::<Vec<_>>())
            .finish()
    }
}

impl ProviderRegistry {
    /// Builds one backend (one connection pool) per provider. The config must be validated.
    pub fn from_config(config: &Config) -> Result<Self> {
        let mut providers = HashMap::new();
        for p in &config.providers {
            let handle = ProviderHandle {
                backend: Backend::new(p)?,
                slots: Arc::new(Semaphore::new(p.concurrency())),
                waiting: AtomicUsize::new(0),
                config: p.clone(),
                health: ProviderHealth::default(),
                catalog_detected: AtomicBool::new(false),
                catalog_synced_ms: AtomicI64::new(0),
                catalog_error: Mutex::new(None),
                context_asked: Mutex::new(HashSet::new()),
            };
            providers.insert(p.name.clone(), Arc::new(handle));
        }
        let mut models = BTreeMap::new();
        for m in &config.models {
            let Some(provider) = providers.get(&m.provider) else {
                return Err(ErrorKind::Invalid(format!(
                    "model `{}` names unknown provider `{}`",
                    m.id, m.provider
                ))
                .into());
            };
            let entry = ModelEntry {
                id: m.id.clone(),
                provider: m.provider.clone(),
                upstream_model: m.upstream_name().to_owned(),
                tier: provider.config.tier,
                context_window: m.context_window,
                price: m.price,
                quality: m.quality.clone().unwrap_or_default(),
                source: ModelSource::Config,
            };
            models.insert(m.id.clone(), Arc::new(ModelSlot::new(entry)));
        }
        Ok(Self {
            providers,
            models: RwLock::new(Arc::new(models)),
            router: config.router.clone(),
            ledger: None,
            daily_writer: Arc::default(),
            restored_daily: Mutex::default(),
            prompting: StrategyTable::new(
                config
                    .prompting
                    .iter()
                    .map(|(model, strategy)| (model.clone(), strategy.clone())),
            ),
            measured: RwLock::default(),
            escalate_to: config.router.escalate.as_ref().and_then(|e| {
                let council = config.councils.get(&e.council)?;
                Some((e.council.clone(), council.clone()))
            }),
        })
    }

    /// Every call from now on is written to `ledger`.
    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// The `[router]` settings this registry was built with.
    pub fn router_config(&self) -> &RouterConfig {
        &self.router
    }

    /// The current model table (a snapshot; cheap).
    pub(super) fn table(&self) -> Arc<ModelTable> {
        match self.models.read() {
            Ok(table) => Arc::clone(&table),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Every known model, ordered by id.
    pub fn models(&self) -> Vec<ModelEntry> {
        self.table().values().map(|s| s.entry.clone()).collect()
    }

    pub fn model(&self, id: &str) -> Option<ModelEntry> {
        self.table().get(id).map(|s| s.entry.clone())
    }

    /// Whether `id` is a known model (no copy of its entry).
    pub fn has_model(&self, id: &str) -> bool {
        self.table().contains_key(id)
    }

    /// Probes every provider concurrently, each bounded by `timeout`; sorted by name. Each
    /// outcome becomes the provider's active health.
    pub async fn probe_all(&self, timeout: Duration) -> Vec<(String, Result<()>)> {
        let probes = self.providers.iter().map(|(name, handle)| async move {
            let outcome = match tokio::time::timeout(timeout, handle.backend.probe()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ErrorKind::Timeout {
                    provider: name.clone(),
                    after: timeout,
                }
                .into()),
            };
            handle
                .health
                .record(outcome.as_ref().map(drop).map_err(ToString::to_string));
            (name.clone(), outcome)
        });
        let mut results = futures::future::join_all(probes).await;
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    pub(super) fn resolve(&self, model_id: &str) -> Result<(Arc<ModelSlot>, &Arc<ProviderHandle>)> {
        let table = self.table();
        let slot = table
            .get(model_id)
            .cloned()
            .ok_or_else(|| ErrorKind::UnknownModel {
                model: model_id.to_owned(),
                known: table.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        let handle = self
            .providers
            .get(&slot.entry.provider)
            .ok_or_else(|| ErrorKind::Invalid(format!("model `{model_id}` has no provider")))?;
        Ok((slot, handle))
    }

    pub(super) fn record(&self, slot: &Arc<ModelSlot>) -> CallRecord {
        CallRecord::start(
            Arc::clone(slot),
            self.ledger.clone(),
            self.router.failure_threshold,
        )
    }

    /// One non-streamed call to `model_id`, with queueing, timeout and retries.
    pub async fn chat(&self, model_id: &str, mut request: ChatRequest) -> Result<Completion> {
        let (slot, handle) = self.resolve(model_id)?;
        let mut record = self.record(&slot);
        let entry = &slot.entry;
        request.model.clone_from(&entry.upstream_model);
        self.prompting.apply(&entry.id, &mut request);
        let config = &handle.config;
        let started = record.started;
        let mut attempt = 0u32;
        loop {
            let (result, stated) = {
                let _slot = acquire(handle).await?;
                limits::observing(async {
                    match tokio::time::timeout(config.timeout, handle.backend.chat(&request)).await
                    {
                        Ok(result) => result,
                        Err(_) => Err(timeout_error(config)),
                    }
                })
                .await
            };
            self.note_answer(&slot, result.as_ref().err(), stated.as_ref());
            match result {
                Ok(response) => {
                    let usage = match response.usage {
                        Some(usage) => usage,
                        None => {
                            crate::tokens::estimate_usage_off_worker(
                                &request.messages,
                                &response.first_text(),
                            )
                            .await
                        }
                    };
                    let latency_ms = elapsed_ms(started);
                    record_success(entry, &usage, started);
                    record.finish(CallOutcome::Ok(&usage));
                    tracing::debug!(model = model_id, provider = %entry.provider, latency_ms,
                        attempts = attempt + 1, "model call finished");
                    return Ok(Completion {
                        response,
                        usage,
                        latency_ms,
                        model: entry.id.clone(),
                        provider: entry.provider.clone(),
                        attempts: attempt + 1,
                    });
                }
                Err(err)
                    if err.is_retryable()
                        && attempt < config.retries
                        && self.may_retry(&slot, &err) =>
                {
                    let wait = retry::backoff(attempt, err.retry_after());
                    tracing::info!(model = model_id, provider = %entry.provider, attempt = attempt + 1,
                        wait_ms = wait.as_millis() as u64, error = %err, "retrying model call");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(err) => {
                    record_failure(entry, &err);
                    record.finish(CallOutcome::Failed(&err));
                    tracing::info!(model = model_id, provider = %entry.provider, class = err.class(),
                        error = %err, "model call failed");
                    return Err(err);
                }
            }
        }
    }

    /// One streamed call. Retries cover only the start (until the upstream accepts the
    /// request); once chunks flow, a failure ends the stream with an error item. The provider
    /// slot is held until the stream ends or is dropped; a chunk gap longer than the provider
    /// timeout ends the stream with a timeout error.
    pub async fn chat_stream(
        &self,
        model_id: &str,
        mut request: ChatRequest,
    ) -> Result<ChunkStream> {
        let (slot, handle) = self.resolve(model_id)?;
        let mut record = self.record(&slot);
        let entry = &slot.entry;
        request.model.clone_from(&entry.upstream_model);
        self.prompting.apply(&entry.id, &mut request);
        let config = &handle.config;
        let mut attempt = 0u32;
        loop {
            let permit = acquire(handle).await?;
            let (started, stated) = limits::observing(async {
                match tokio::time::timeout(config.timeout, handle.backend.chat_stream(&request))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(timeout_error(config)),
                }
            })
            .await;
            self.note_answer(&slot, started.as_ref().err(), stated.as_ref());
            match started {
                Ok(stream) => {
                    return Ok(guarded(stream, permit, config.clone(), record));
                }
                Err(err)
                    if err.is_retryable()
                        && attempt < config.retries
                        && self.may_retry(&slot, &err) =>
                {
                    drop(permit);
                    let wait = retry::backoff(attempt, err.retry_after());
                    tracing::info!(model = model_id, attempt = attempt + 1, error = %err,
                        "retrying stream start");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(err) => {
                    record_failure(entry, &err);
                    record.finish(CallOutcome::Failed(&err));
                    return Err(err);
                }
            }
        }
    }
}

/// Prometheus-style counters through the `metrics` facade (no-ops without a recorder).
pub(super) fn record_success(entry: &ModelEntry, usage: &Usage, started: Instant) {
    let provider = entry.provider.clone();
    metrics::counter!("fusion_upstream_requests_total", "provider" => provider.clone(), "outcome" => "ok")
        .increment(1);
    metrics::histogram!("fusion_upstream_duration_seconds", "provider" => provider)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("fusion_tokens_total", "model" => entry.id.clone(), "direction" => "input")
        .increment(usage.prompt_tokens);
    metrics::counter!("fusion_tokens_total", "model" => entry.id.clone(), "direction" => "output")
        .increment(usage.completion_tokens);
}

pub(super) fn record_failure(entry: &ModelEntry, err: &crate::Error) {
    metrics::counter!("fusion_upstream_requests_total", "provider" => entry.provider.clone(), "outcome" => "error")
        .increment(1);
    metrics::counter!("fusion_upstream_errors_total", "provider" => entry.provider.clone(), "class" => err.class())
        .increment(1);
}

/// A free slot at once, or a place in the provider's bounded queue; a full queue is refused.
pub(super) async fn acquire(handle: &ProviderHandle) -> Result<OwnedSemaphorePermit> {
    if let Ok(permit) = Arc::clone(&handle.slots).try_acquire_owned() {
        return Ok(permit);
    }
    let limit = handle.config.queue_limit();
    if handle.waiting.fetch_add(1, Ordering::AcqRel) >= limit {
        handle.waiting.fetch_sub(1, Ordering::AcqRel);
        return Err(ErrorKind::QueueFull {
            provider: handle.config.name.clone(),
            limit,
        }
        .into());
    }
    // Leaves the queue however the wait ends (a slot, or the caller giving up).
    struct Waiting<'a>(&'a AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let _waiting = Waiting(&handle.waiting);
    Arc::clone(&handle.slots)
        .acquire_owned()
        .await
        .map_err(|_| ErrorKind::Invalid("provider is shutting down".into()).into())
}

pub(super) fn timeout_error(config: &ProviderConfig) -> crate::Error {
    ErrorKind::Timeout {
        provider: config.name.clone(),
        after: config.timeout,
    }
    .into()
}

pub(super) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Holds the provider slot for the life of the stream, bounds the gap between chunks, and
/// reports the call (with the usage the stream reported) when it ends — or as cancelled when
/// the stream is dropped first.
fn guarded(
    stream: ChunkStream,
    permit: OwnedSemaphorePermit,
    config: ProviderConfig,
    record: CallRecord,
) -> ChunkStream {
    struct Open {
        stream: ChunkStream,
        _permit: OwnedSemaphorePermit,
        config: ProviderConfig,
        record: CallRecord,
    }
    impl Open {
        fn fail(mut self, err: crate::Error) -> Option<(Result<ChatChunk>, Option<Open>)> {
            record_failure(self.record.entry(), &err);
            self.record.finish(CallOutcome::Failed(&err));
            Some((Err(err), None))
        }
    }
    let open = Open {
        stream,
        _permit: permit,
        config,
        record,
    };
    Box::pin(futures::stream::unfold(Some(open), |state| async move {
        let mut open = state?;
        match tokio::time::timeout(open.config.timeout, open.stream.next()).await {
            Ok(Some(Ok(chunk))) => {
                if let Some(usage) = &chunk.usage {
                    open.record.usage = *usage;
                }
                Some((Ok::<ChatChunk, _>(chunk), Some(open)))
            }
            Ok(Some(Err(err))) => open.fail(err),
            Ok(None) => {
                let usage = std::mem::take(&mut open.record.usage);
                record_success(open.record.entry(), &usage, open.record.started);
                open.record.finish(CallOutcome::Ok(&usage));
                None
            }
            Err(_) => {
                let err = timeout_error(&open.config);
                open.fail(err)
            }
        }
    }))
}
