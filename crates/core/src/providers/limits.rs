//! Limits a provider states for one model, and what routing makes of them: a cooldown after an
//! HTTP 429 (as long as its `Retry-After` says, else `router.cooldown`), and a daily request cap
//! — OpenRouter-style `X-RateLimit-Limit/Remaining/Reset` headers whose window ends more than an
//! hour away, or a 429 saying the per-day limit is reached — counted per model and kept in the
//! store, so a restart still knows the day's cap is used up. Backends report the headers of each
//! answer through [`observe`] to the call the registry wraps in [`observing`].

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::registry::{ModelSlot, ProviderRegistry};
use super::retry;
use crate::store::{ModelDailyUsage, now_ms};
use crate::{Error, ErrorKind};

/// A window ending further away than this is a daily cap, not a burst limit.
const DAILY_WINDOW_MIN: Duration = Duration::from_secs(60 * 60);

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What a provider's `X-RateLimit-*` headers said on one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StatedLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the window ends, Unix milliseconds.
    pub reset_ms: Option<i64>,
}

impl StatedLimit {
    /// Reads `X-RateLimit-Limit`, `-Remaining` and `-Reset` (Unix ms or s, seconds from now, a
    /// duration such as `6m0s`, or an RFC 3339 date); `None` when none is present.
    pub(crate) fn from_headers(headers: &HeaderMap, now_ms: i64) -> Option<Self> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let number = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
        let stated = Self {
            limit: number("x-ratelimit-limit"),
            remaining: number("x-ratelimit-remaining"),
            reset_ms: text("x-ratelimit-reset").and_then(|v| reset_at(v, now_ms)),
        };
        (stated != Self::default()).then_some(stated)
    }

    /// The window's end, when it is a daily one (ends more than an hour from now).
    fn daily_reset(&self, now_ms: i64) -> Option<i64> {
        let min = i64::try_from(DAILY_WINDOW_MIN.as_millis()).unwrap_or(i64::MAX);
        self.reset_ms.filter(|reset| reset - now_ms > min)
    }
}

/// A reset time as Unix milliseconds.
fn reset_at(text: &str, now_ms: i64) -> Option<i64> {
    if let Ok(n) = text.parse::<f64>() {
        if !n.is_finite() || n < 0.0 {
            return None;
        }
        return Some(if n >= 1e12 {
            n as i64
        } else if n >= 1e9 {
            (n * 1000.0) as i64
        } else {
            now_ms + (n * 1000.0) as i64
        });
    }
    if let Ok(span) = humantime::parse_duration(text) {
        return Some(now_ms + i64::try_from(span.as_millis()).unwrap_or(i64::MAX / 2));
    }
    let at = humantime::parse_rfc3339_weak(text).ok()?;
    let since = at.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// The next 00:00 UTC after `now_ms`: when a per-day limit without a stated reset ends.
fn next_utc_midnight(now_ms: i64) -> i64 {
    (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS
}

/// Whether a 429's message says the daily limit is used up ("free-models-per-day", "per day").
pub(crate) fn says_per_day(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["per-day", "per day", "daily limit", "daily quota"]
        .iter()
        .any(|needle| m.contains(needle))
}

tokio::task_local! {
    static STATED: Arc<Mutex<Option<StatedLimit>>>;
}

/// Runs `call` and returns what the upstream's rate-limit headers said on its last answer.
pub(crate) async fn observing<F: Future>(call: F) -> (F::Output, Option<StatedLimit>) {
    let sink = Arc::new(Mutex::new(None));
    let output = STATED.scope(Arc::clone(&sink), call).await;
    let stated = *sink.lock().unwrap_or_else(PoisonError::into_inner);
    (output, stated)
}

/// Called by backends with every answer's headers; a no-op outside [`observing`].
pub(crate) fn observe(headers: &HeaderMap) {
    let _ = STATED.try_with(|sink| {
        if let Some(stated) = StatedLimit::from_headers(headers, now_ms()) {
            *sink.lock().unwrap_or_else(PoisonError::into_inner) = Some(stated);
        }
    });
}

/// Why routing skips a model now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    /// HTTP 429: cooling down.
    RateLimited { retry_in: Duration },
    /// The provider's daily cap for the model is used up.
    DailyCap {
        limit: Option<u64>,
        used: u64,
        resets_in: Duration,
    },
}

/// One model's daily window as the registry tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DailyWindow {
    requests: u64,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset_at_ms: i64,
    /// A 429 said the day's cap is reached.
    exhausted: bool,
}

impl DailyWindow {
    /// What the provider said remains wins over Fusion's own count (other clients may share the
    /// key, or the window may have started before Fusion did).
    fn is_used_up(&self) -> bool {
        self.exhausted
            || match self.remaining {
                Some(remaining) => remaining == 0,
                None => self.limit.is_some_and(|limit| self.requests >= limit),
            }
    }
}

#[derive(Debug, Default)]
struct State {
    cooldown_until: Option<Instant>,
    daily: Option<DailyWindow>,
}

/// The limits of one model (shared by the registry's table snapshots).
#[derive(Debug, Default)]
pub(crate) struct ModelLimits {
    inner: Mutex<State>,
}

impl ModelLimits {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why routing should skip the model now, if it should.
    pub(crate) fn blocked(&self, now_ms: i64) -> Option<Block> {
        let state = self.lock();
        if let Some(daily) = state.daily
            && now_ms < daily.reset_at_ms
            && daily.is_used_up()
        {
            let left = u64::try_from(daily.reset_at_ms - now_ms).unwrap_or(0);
            return Some(Block::DailyCap {
                limit: daily.limit,
                used: daily.requests,
                resets_in: Duration::from_millis(left),
            });
        }
        let until = state.cooldown_until?;
        let retry_in = until.checked_duration_since(Instant::now())?;
        (!retry_in.is_zero()).then_some(Block::RateLimited { retry_in })
    }

    /// Whether the daily cap is used up (a retry of the same call is pointless).
    pub(crate) fn daily_cap_reached(&self, now_ms: i64) -> bool {
        matches!(self.blocked(now_ms), Some(Block::DailyCap { .. }))
    }

    /// One answer from the upstream (any status): counts it against a known daily cap and takes
    /// what its headers stated. True when the daily record changed (to be stored).
    pub(crate) fn on_answer(&self, stated: Option<&StatedLimit>, now_ms: i64) -> bool {
        let mut state = self.lock();
        if state.daily.is_some_and(|d| now_ms >= d.reset_at_ms) {
            state.daily = None;
        }
        let stated_daily = stated.and_then(|s| Some((s, s.daily_reset(now_ms)?)));
        if stated_daily.is_none()
            && let Some(daily) = state.daily.as_mut()
        {
            // An answer without the headers still used one request.
            daily.remaining = daily.remaining.map(|r| r.saturating_sub(1));
        }
        if let Some((stated, reset)) = stated_daily {
            let daily = state.daily.get_or_insert(DailyWindow {
                requests: 0,
                limit: None,
                remaining: None,
                reset_at_ms: reset,
                exhausted: false,
            });
            daily.reset_at_ms = daily.reset_at_ms.max(reset);
            daily.limit = stated.limit.or(daily.limit);
            daily.remaining = stated.remaining;
        }
        match state.daily.as_mut() {
            Some(daily) => {
                daily.requests += 1;
                true
            }
            None => false,
        }
    }

    /// An HTTP 429: the model cools down for `retry_after` (else `default`); a message saying
    /// the per-day limit is reached marks the day's cap used up until the stated reset (else the
    /// next midnight UTC). True when the daily record changed.
    pub(crate) fn on_rate_limited(
        &self,
        retry_after: Option<Duration>,
        default: Duration,
        message: &str,
        stated: Option<&StatedLimit>,
        now_ms: i64,
    ) -> bool {
        let mut state = self.lock();
        state.cooldown_until = Some(Instant::now() + retry_after.unwrap_or(default));
        let daily_reset = stated.and_then(|s| s.daily_reset(now_ms));
        let none_left_today =
            daily_reset.is_some() && stated.is_some_and(|s| s.remaining == Some(0));
        if !says_per_day(message) && !none_left_today {
            return false;
        }
        let reset = daily_reset.unwrap_or_else(|| next_utc_midnight(now_ms));
        let daily = state.daily.get_or_insert(DailyWindow {
            requests: 0,
            limit: stated.and_then(|s| s.limit),
            remaining: Some(0),
            reset_at_ms: reset,
            exhausted: true,
        });
        daily.exhausted = true;
        daily.remaining = Some(0);
        daily.reset_at_ms = daily.reset_at_ms.max(reset);
        true
    }

    /// A successful call ends a cooldown.
    pub(crate) fn on_success(&self) {
        self.lock().cooldown_until = None;
    }

    /// The daily record to store for `provider`/`model` (upstream name), if there is one.
    pub(crate) fn daily_row(&self, provider: &str, model: &str) -> Option<ModelDailyUsage> {
        let daily = self.lock().daily?;
        Some(ModelDailyUsage {
            provider: provider.to_owned(),
            model: model.to_owned(),
            requests: daily.requests,
            daily_limit: daily.limit,
            remaining: daily.remaining,
            reset_at_ms: daily.reset_at_ms,
            exhausted: daily.exhausted,
            updated_ms: now_ms(),
        })
    }

    /// Takes back a daily record read from the store (one whose window has not ended).
    pub(crate) fn restore(&self, row: &ModelDailyUsage, now_ms: i64) {
        if row.reset_at_ms <= now_ms {
            return;
        }
        self.lock().daily = Some(DailyWindow {
            requests: row.requests,
            limit: row.daily_limit,
            remaining: row.remaining,
            reset_at_ms: row.reset_at_ms,
            exhausted: row.exhausted,
        });
    }
}

impl ProviderRegistry {
    /// Feeds a model's limits with one attempt's answer (nothing when no answer came): counts
    /// it against a known daily cap, ends a cooldown on success, starts one on HTTP 429, and
    /// stores a daily record that changed.
    pub(super) fn note_answer(
        &self,
        slot: &Arc<ModelSlot>,
        err: Option<&Error>,
        stated: Option<&StatedLimit>,
    ) {
        let status = match err.map(Error::kind) {
            None => None,
            Some(ErrorKind::UpstreamStatus { status, .. }) => Some(*status),
            Some(_) => return,
        };
        let now = now_ms();
        let mut changed = slot.limits.on_answer(stated, now);
        match (status, err.map(Error::kind)) {
            (None, _) => slot.limits.on_success(),
            (
                Some(429),
                Some(ErrorKind::UpstreamStatus {
                    message,
                    retry_after,
                    ..
                }),
            ) => {
                let wait = retry_after.map(Duration::from_secs);
                changed |=
                    slot.limits
                        .on_rate_limited(wait, self.router.cooldown, message, stated, now);
                let cooldown = wait.unwrap_or(self.router.cooldown);
                tracing::info!(model = %slot.entry.id, provider = %slot.entry.provider,
                    cooldown_ms = u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX),
                    daily_cap_reached = slot.limits.daily_cap_reached(now),
                    "rate-limited (HTTP 429): routing skips the model meanwhile");
            }
            _ => {}
        }
        if changed {
            self.store_daily_usage(slot);
        }
    }

    /// Whether trying the same model again within this call may help: not after a 429 whose
    /// `Retry-After` is longer than the retry loop would wait, nor once the day's cap is used up.
    pub(super) fn may_retry(&self, slot: &ModelSlot, err: &Error) -> bool {
        match err.kind() {
            ErrorKind::UpstreamStatus {
                status: 429,
                retry_after,
                ..
            } => {
                !slot.limits.daily_cap_reached(now_ms())
                    && retry_after.is_none_or(|secs| Duration::from_secs(secs) <= retry::CAP)
            }
            _ => true,
        }
    }

    /// Writes the model's daily record to the store in the background, one write at a time,
    /// each with the latest count.
    fn store_daily_usage(&self, slot: &Arc<ModelSlot>) {
        let (Some(ledger), Ok(runtime)) = (self.ledger(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let store = ledger.store().clone();
        let writer = Arc::clone(&self.daily_writer);
        let slot = Arc::clone(slot);
        runtime.spawn(async move {
            let _turn = writer.lock().await;
            let entry = &slot.entry;
            let Some(row) = slot
                .limits
                .daily_row(&entry.provider, &entry.upstream_model)
            else {
                return;
            };
            if let Err(e) = store.put_model_daily_usage(&row).await {
                tracing::warn!(model = %entry.id, "cannot store the daily usage: {e}");
            }
        });
    }

    /// Takes back the daily records read from the store (at start): for every model of the
    /// row's provider and upstream name, also those discovered later.
    pub fn restore_daily_usage(&self, rows: &[ModelDailyUsage]) {
        *self
            .restored_daily
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = rows.to_vec();
        for slot in self.table().values() {
            self.restore_limits(slot);
        }
    }

    /// Gives a model the daily record restored from the store for it, if any.
    pub(super) fn restore_limits(&self, slot: &ModelSlot) {
        let rows = self
            .restored_daily
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = &slot.entry;
        if let Some(row) = rows
            .iter()
            .find(|r| r.provider == entry.provider && r.model == entry.upstream_model)
        {
            slot.limits.restore(row, now_ms());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_740_787_200_000; // 2025-03-01T00:00:00Z
    const HOUR: i64 = 3_600_000;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn reset_headers_in_milliseconds_seconds_durations_and_dates_parse() {
        assert_eq!(reset_at("1740800000000", NOW), Some(1_740_800_000_000));
        assert_eq!(reset_at("1740800000", NOW), Some(1_740_800_000_000));
        assert_eq!(reset_at("30", NOW), Some(NOW + 30_000));
        assert_eq!(reset_at("6m0s", NOW), Some(NOW + 360_000));
        assert_eq!(reset_at("2025-03-02T00:00:00Z", NOW), Some(NOW + 24 * HOUR));
        assert_eq!(reset_at("soon", NOW), None);
        let stated = StatedLimit::from_headers(
            &headers(&[
                ("x-ratelimit-limit", "50"),
                ("x-ratelimit-remaining", "49"),
                ("x-ratelimit-reset", &(NOW + 20 * HOUR).to_string()),
            ]),
            NOW,
        )
        .unwrap();
        assert_eq!(stated.limit, Some(50));
        assert_eq!(stated.daily_reset(NOW), Some(NOW + 20 * HOUR));
        assert_eq!(StatedLimit::from_headers(&HeaderMap::new(), NOW), None);
    }

    #[test]
    fn a_per_minute_window_is_no_daily_cap_and_is_not_counted() {
        let limits = ModelLimits::default();
        let minute = StatedLimit {
            limit: Some(20),
            remaining: Some(0),
            reset_ms: Some(NOW + 40_000),
        };
        assert!(!limits.on_answer(Some(&minute), NOW));
        assert_eq!(limits.blocked(NOW), None);
        assert!(limits.daily_row("p", "m").is_none());
    }

    #[test]
    fn a_stated_daily_cap_is_counted_until_used_up_then_blocks_until_the_reset() {
        let limits = ModelLimits::default();
        let reset = NOW + 10 * HOUR;
        let day = |remaining| StatedLimit {
            limit: Some(2),
            remaining: Some(remaining),
            reset_ms: Some(reset),
        };
        assert!(limits.on_answer(Some(&day(1)), NOW));
        assert_eq!(limits.blocked(NOW), None);
        // Later answers without headers still count against the known cap.
        assert!(limits.on_answer(None, NOW + 1));
        assert!(matches!(
            limits.blocked(NOW + 2),
            Some(Block::DailyCap {
                limit: Some(2),
                used: 2,
                ..
            })
        ));
        assert_eq!(limits.blocked(reset), None, "the window ended");
        let row = limits.daily_row("or", "m:free").unwrap();
        assert_eq!(
            (row.requests, row.daily_limit, row.reset_at_ms),
            (2, Some(2), reset)
        );

        let restored = ModelLimits::default();
        restored.restore(&row, NOW + 3);
        assert!(restored.daily_cap_reached(NOW + 3));
        let stale = ModelLimits::default();
        stale.restore(&row, reset + 1);
        assert_eq!(stale.blocked(reset + 1), None);

        // What the provider says remains wins over Fusion's own count.
        let shared = ModelLimits::default();
        let generous = StatedLimit {
            limit: Some(1),
            remaining: Some(3),
            reset_ms: Some(reset),
        };
        shared.on_answer(Some(&generous), NOW);
        shared.on_answer(Some(&generous), NOW);
        assert_eq!(shared.blocked(NOW), None);
    }

    #[test]
    fn a_429_cools_down_for_retry_after_and_a_per_day_message_exhausts_the_day() {
        let limits = ModelLimits::default();
        let changed = limits.on_rate_limited(
            Some(Duration::from_secs(30)),
            Duration::from_secs(5),
            "slow down",
            None,
            NOW,
        );
        assert!(!changed);
        match limits.blocked(NOW) {
            Some(Block::RateLimited { retry_in }) => {
                assert!(retry_in > Duration::from_secs(25), "{retry_in:?}");
            }
            other => panic!("{other:?}"),
        }
        limits.on_success();
        assert_eq!(limits.blocked(NOW), None);

        let changed = limits.on_rate_limited(
            None,
            Duration::from_secs(5),
            "Rate limit exceeded: free-models-per-day",
            None,
            NOW + HOUR,
        );
        assert!(changed);
        match limits.blocked(NOW + HOUR) {
            Some(Block::DailyCap { resets_in, .. }) => {
                assert_eq!(resets_in, Duration::from_millis(23 * HOUR as u64));
            }
            other => panic!("{other:?}"),
        }
        assert!(says_per_day("You exceeded 1000 requests per day"));
        assert!(!says_per_day("Too many requests per minute"));
    }
}
