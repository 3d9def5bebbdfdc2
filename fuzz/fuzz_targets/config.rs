//! config.json as berth reads it: parsed, validated and normalized
//! (`berth::oci::config::from_slice`), then what `create` computes from it before
//! it clones: each mount's options and the seccomp filter. Any input may be
//! refused; none may panic, hang or take unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = berth::oci::config::from_slice(data) else {
        return;
    };
    for m in spec.mounts().iter().flatten() {
        let _ = berth::oci::mount_options::parse(m.options().as_deref().unwrap_or_default());
    }
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        let _ = berth::linux::seccomp::compile(s);
    }
});
