//! The `berth` command: runc's command line over the berth library.

mod cli;

/// See alloc.rs: berth keeps what it frees rather than unmapping it.
#[global_allocator]
static ALLOC: berth::alloc::Pool = berth::alloc::Pool::new();

fn main() {
    std::process::exit(cli::main());
}
