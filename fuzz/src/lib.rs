//! What Fusion's fuzz targets share: the per-input time limit every target enforces (an input
//! slower than `FUSION_FUZZ_SLOW_MS`, default 100 ms, on three tries is a crash), the slowest-input
//! report `scripts/fuzz.sh` reads, and splitting bytes into pieces the way a network would.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The per-input limit, from `FUSION_FUZZ_SLOW_MS` (default 100 ms).
fn limit() -> Duration {
    static LIMIT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let ms = std::env::var("FUSION_FUZZ_SLOW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        Duration::from_millis(ms)
    })
}

/// The slowest input seen by this process: its time and size.
static SLOWEST: Mutex<(Duration, usize)> = Mutex::new((Duration::ZERO, 0));

/// Runs `check` on `data`, timed. A run over the limit is repeated twice (a busy machine can
/// stall any one run); if the fastest of the three is still over, the input is slow: panic,
/// so libFuzzer keeps it as an artifact. With `FUSION_FUZZ_TIMES` set, every new slowest time
/// is printed to stderr as `fusion-fuzz: slowest <ms> ms (<n> bytes)`.
pub fn timed(data: &[u8], check: impl Fn(&[u8])) {
    let start = Instant::now();
    check(data);
    let mut elapsed = start.elapsed();
    if elapsed > limit() {
        for _ in 0..2 {
            let start = Instant::now();
            check(data);
            elapsed = elapsed.min(start.elapsed());
        }
        assert!(
            elapsed <= limit(),
            "slow input: {:.1} ms on its fastest of three runs (limit {} ms, {} bytes)",
            elapsed.as_secs_f64() * 1e3,
            limit().as_millis(),
            data.len()
        );
    }
    let mut slowest = SLOWEST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if elapsed > slowest.0 {
        *slowest = (elapsed, data.len());
        if std::env::var_os("FUSION_FUZZ_TIMES").is_some() {
            eprintln!(
                "fusion-fuzz: slowest {:.3} ms ({} bytes)",
                elapsed.as_secs_f64() * 1e3,
                data.len()
            );
        }
    }
}

/// `bytes` cut into pieces of 0 to 48 bytes, the sizes drawn from a small generator seeded
/// with `seed`: the same input always splits the same way.
pub fn pieces(seed: u8, bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        // xorshift32
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (state % 49) as usize;
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        out.push(piece.to_vec());
        rest = tail;
    }
    out
}
