//! The allocator gives freed pages back to the system when asked (`memory::release_freed`),
//! which `proximity eval` does between its run and its report.
//!
//! The measure is this process's resident memory, which the other tests of this binary
//! move too (they run in parallel, in the same process): the test runs its body in a
//! child process of this binary that runs nothing else.
#![allow(clippy::unwrap_used)]

/// Set on the child process that runs the measure alone.
#[cfg(target_os = "linux")]
const ALONE_ENV: &str = "PROXIMITY_TEST_MEMORY_ALONE";

/// This process's resident memory, in bytes (`VmRSS` of `/proc/self/status`, in KiB).
#[cfg(target_os = "linux")]
fn resident() -> u64 {
    let status = fs_err::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[cfg(target_os = "linux")]
#[test]
fn freed_pages_go_back_to_the_system_when_released() {
    if std::env::var_os(ALONE_ENV).is_some() {
        measure_release();
        return;
    }
    // This test again, alone in a child process of this binary.
    let module = module_path!().split_once("::").unwrap().1;
    let name = format!("{module}::freed_pages_go_back_to_the_system_when_released");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the measure failed in its own process:\n{stdout}\n{stderr}"
    );
    // A filter that matched nothing would pass too: the child must have run the test.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the child process did not run {name}:\n{stdout}\n{stderr}"
    );
}

/// Allocate, free, release: the resident memory follows.
#[cfg(target_os = "linux")]
fn measure_release() {
    const MIB: u64 = 1 << 20;
    let before = resident();
    // 64 MiB in 16 KiB blocks, each written so that its pages are resident.
    let blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8 | 1; 16 * 1024]).collect();
    let held = resident();
    assert!(
        held >= before + 48 * MIB,
        "{held} after allocating, {before} before"
    );
    drop(blocks);
    // jemalloc keeps freed pages for reuse (for up to 10 s): still resident.
    let freed = resident();
    assert!(
        freed >= before + 32 * MIB,
        "{freed} after freeing, {before} before"
    );
    proximity::memory::release_freed();
    let released = resident();
    assert!(
        released + 32 * MIB <= freed,
        "{released} after releasing, {freed} before"
    );
}
