//! The `berth` command: runc's command line over the berth library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
