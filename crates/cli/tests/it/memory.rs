//! The allocator gives freed pages back to the system when asked (`memory::release_freed`),
//! which `proximity eval` does between its run and its report.
#![allow(clippy::unwrap_used)]

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
