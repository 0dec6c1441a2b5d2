//! Tells the firmware which optimisation level it was built with (its limits apply at
//! "z"), and rebuilds it when the memory map changes.
fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_default();
    println!("cargo:rustc-env=FIRMWARE_OPT_LEVEL={level}");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
