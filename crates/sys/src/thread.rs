//! Scheduling priority of Fusion's background threads.
//!
//! The usage ledger's writer (and the SQLite connection it writes through) burns a few
//! milliseconds of CPU every batch. At the default priority the kernel let those bursts run
//! on while the worker that serves requests waited for the core: `perf sched timehist` showed
//! them as the main cause, besides other processes, of requests delayed by a millisecond or
//! more. A background thread lowers its own priority, and every thread it starts inherits it,
//! so a request's wake-up preempts it at once; it still gets its share when the machine is
//! saturated (a niceness, not an idle class).

/// The niceness background threads take (0 = normal, 19 = lowest). At 10 a thread weighs
/// about a tenth of a normal one: enough for the ledger to keep up under full load.
pub const BACKGROUND_NICENESS: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`BACKGROUND_NICENESS`], or leaves it
/// when it is already that low (Linux: nice values are per thread; threads started afterwards
/// by this one inherit it). An error when the kernel refuses; a no-op elsewhere than Linux.
pub fn lower_priority_of_this_thread() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        if niceness_of_this_thread().is_some_and(|nice| nice >= BACKGROUND_NICENESS) {
            return Ok(());
        }
        // SAFETY: `gettid` has no preconditions; `setpriority` takes plain integers and only
        // changes the calling thread's niceness (raising it needs no privilege).
        #[allow(unsafe_code)]
        let status = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BACKGROUND_NICENESS)
        };
        if status != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The calling thread's niceness (Linux; `None` elsewhere or when it cannot be read).
pub fn niceness_of_this_thread() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        // Fields after the command name (which may hold spaces) — state is field 3, nice 19.
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        return rest.split_whitespace().nth(16)?.parse().ok();
    }
    #[allow(unreachable_code)]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_lowers_its_priority_and_the_threads_it_starts_run_at_background_niceness_others_do_not()
     {
        let outcome = std::thread::spawn(|| {
            let before = niceness_of_this_thread();
            lower_priority_of_this_thread().map_err(|e| e.to_string())?;
            let after = niceness_of_this_thread();
            let child = std::thread::spawn(niceness_of_this_thread)
                .join()
                .map_err(|_| "child panicked".to_owned())?;
            Ok::<_, String>((before, after, child))
        })
        .join();
        let (before, after, child) = outcome.unwrap().unwrap();
        // Never raised: a test run under `nice` keeps its niceness.
        let expected = before.unwrap().max(BACKGROUND_NICENESS);
        assert_eq!(after, Some(expected));
        assert_eq!(child, Some(expected));
        // The test's own thread is untouched.
        assert_eq!(niceness_of_this_thread(), before);
    }
}
