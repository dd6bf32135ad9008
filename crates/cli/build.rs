//! Link flags for the `proximity` binary.

fn main() {
    // Pack the binary's relative relocations (DT_RELR): ~1 MB of `.rela.dyn` the loader
    // would otherwise read at every start. Needs glibc ≥ 2.36 at run time; a linker
    // without the option (binutils < 2.38) warns and ignores it.
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
