//! The process's memory allocator and what hands freed memory back to the system.
//!
//! Fusion runs on mimalloc ([`Allocator`], the binary's `#[global_allocator]`). Left alone,
//! mimalloc keeps pages freed after a burst of load committed: it returns them a second after
//! they are freed (`purge_delay`), but only when the allocator is next called — so a gateway
//! that goes quiet after a burst kept ~6 MiB it no longer used. [`tune`] shortens the delay,
//! and [`trim`], called periodically by the long-running commands, runs the purges that came
//! due and returns glibc's free heap memory too (SQLite's C code allocates from glibc, one
//! arena per thread). Measured in BENCHMARKS.md ("Memory").

/// The global allocator (mimalloc, built without transparent huge pages).
pub use mimalloc::MiMalloc as Allocator;

/// mimalloc's `mi_option_purge_delay` (its index in `mi_option_t`, mimalloc v3's mimalloc.h;
/// the sys crate does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed pages stay committed before mimalloc returns them, in milliseconds
/// (mimalloc's default: 1,000). Short enough that the memory a burst freed is not held through
/// the next second of load; long enough that a page freed and reused within a request's
/// lifetime is not returned and faulted back in.
const PURGE_DELAY_MS: libc::c_long = 100;

/// Sets the allocator's options; call once at start, before the async runtime exists.
pub fn tune() {
    // SAFETY: `mi_option_set` only stores an integer option (an atomic write in mimalloc); the
    // option index is valid for the linked mimalloc version (see `MI_OPTION_PURGE_DELAY`).
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
    }
}

/// Returns to the system what the allocators hold freed: mimalloc's purges that came due
/// (without forcing those still within their delay) and glibc's free heap tops. Cheap when
/// there is nothing to return; meant for a timer of a few seconds, off the request path.
pub fn trim() {
    // SAFETY: `mi_collect` takes no pointers; mimalloc supports calling it from any thread at
    // any time (it collects the calling thread's heap and the shared arenas under their locks).
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(false);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers and is thread-safe (it locks each glibc arena).
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tune_and_trim_can_be_called_from_any_thread_and_the_allocator_keeps_working() {
        tune();
        let worker = std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..1024).map(|i| vec![1u8; 1024 + i]).collect();
            drop(blocks);
            trim();
            vec![2u8; 4096]
        });
        let from_worker = worker.join().unwrap_or_default();
        trim();
        assert_eq!(from_worker.len(), 4096);
        assert!(from_worker.iter().all(|b| *b == 2));
    }
}
