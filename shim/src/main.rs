//! containerd-shim-berth-v2: the containerd shim for berth.
//!
//! Not implemented yet (its own issue): it refuses to start rather than
//! pretend, so containerd reports a clear error for runtime
//! io.containerd.berth.v2.

fn main() {
    eprintln!("containerd-shim-berth-v2: not implemented yet; use berth through runc's shim with BinaryName");
    std::process::exit(1);
}
