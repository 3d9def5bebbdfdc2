//! Links the installed build (hack/build) with lld and
//! `runtime/berth.order`, its functions in the order berth first runs them
//! (hack/symbol-order says why and how the file is made). hack/build asks
//! for it by setting BERTH_LINK_ORDER to the directory of rust-lld's
//! `ld.lld` (the toolchain's gcc-ld); every other build links as Cargo
//! would. Here rather than in RUSTFLAGS so that Cargo relinks when the
//! order file changes.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_LINK_ORDER");
    let Ok(lld_dir) = env::var("BERTH_LINK_ORDER") else {
        return;
    };
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("Cargo sets CARGO_MANIFEST_DIR");
    let order = Path::new(&manifest).join("berth.order");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rustc-link-arg-bins=-fuse-ld=lld");
    println!("cargo:rustc-link-arg-bins=-B{lld_dir}");
    if order.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // A function renamed or gone since the file was made is not an
        // error: it is laid out after the ordered ones, like a new one.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
