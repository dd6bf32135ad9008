//! A failpoint for the end-to-end tests of crash recovery, compiled only with the
//! `failpoints` feature (on for `cargo test` through the cli crate's dev-dependencies, off
//! in a release build): with `PROXIMITY_FAILPOINT_KILL_AFTER_CACHE_PUTS=N` in its
//! environment, the process sends itself SIGKILL right after writing its N-th answer to
//! the response cache — the worst moment to die (the answer is paid for, its result not
//! written). Unset, it costs one relaxed atomic load per answer.

/// Called right after an answer is written to the response cache.
#[cfg(feature = "failpoints")]
pub(crate) fn after_cache_put() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    const ENV: &str = "PROXIMITY_FAILPOINT_KILL_AFTER_CACHE_PUTS";
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    static PUTS: AtomicU64 = AtomicU64::new(0);
    let Some(limit) = *LIMIT.get_or_init(|| std::env::var(ENV).ok()?.parse().ok()) else {
        return;
    };
    if PUTS.fetch_add(1, Ordering::SeqCst) + 1 == limit {
        tracing::warn!("{ENV}={limit} reached: killing this process");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// Without the `failpoints` feature: nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn after_cache_put() {}
