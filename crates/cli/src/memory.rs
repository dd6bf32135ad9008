//! The process's memory allocator, and what it gives back to the system between phases.

/// jemalloc, not glibc's malloc: a long `proximity eval` (100,000 cases) peaks at the
/// footprint of a 10,000-case one instead of growing with its length (glibc's per-thread
/// arenas fragment), and the gateway is no slower (measured 2026-11-26, `a7d7854`).
/// Declared here, in the library, so that its tests run on the allocator the binary has.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Return the allocator's freed pages to the system now, instead of keeping them for
/// reuse (jemalloc keeps a freed page for up to 10 s). Called between phases whose
/// allocations differ in kind (an eval's run, then its report): pages the first phase
/// freed would sit beside the ones the next one faults in, and add to the process's peak
/// memory (2.3 MiB of a 1,000-case eval's 33.6; measured 2026-11-26, `99f8db5`).
pub fn release_freed() {
    #[cfg(not(target_env = "msvc"))]
    #[allow(unsafe_code)]
    // `arena.4096.purge`: every arena (4096 is jemalloc's MALLCTL_ARENAS_ALL).
    // SAFETY: the control reads and writes nothing: all four pointers are null and the
    // length 0, as it requires; the name is a NUL-terminated C string. A failure (an
    // error code) leaves the pages where they were.
    unsafe {
        let _ = tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}
