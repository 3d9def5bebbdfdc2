//! `berth --help` and `berth COMMAND --help`.

use std::fmt::Write as _;

use super::args;
use super::line::Cmd;
use super::{COMMANDS, GLOBAL, HELP, VERSION};

/// The help's command column: the longest name and two spaces.
pub(super) fn column() -> usize {
    let names = COMMANDS.iter().map(|c| c.name).chain(["help"]);
    names.map(str::len).max().unwrap_or(0) + 2
}

pub(super) fn help(cmd: Option<&Cmd>) -> String {
    let mut out = String::new();
    match cmd {
        None => {
            out.push_str(
                "berth: an OCI container runtime with runc's command line\n\n\
                 Usage: berth [OPTIONS] COMMAND [ARGUMENTS]\n\nCommands:\n",
            );
            let w = column();
            for c in COMMANDS {
                let _ = writeln!(out, "  {:w$}{}", c.name, c.about);
            }
            let about = "Print this help, or a command's (help COMMAND).";
            let _ = writeln!(out, "  {:w$}{about}\n\nOptions:", "help");
            args::describe(&mut out, &[GLOBAL, HELP, VERSION]);
            out.push_str("\nAll but --version are also accepted among a command's flags.\n");
        }
        Some(c) => {
            let _ = write!(
                out,
                "Usage: berth {} [OPTIONS] {}\n\n{}\n\nOptions:\n",
                c.name, c.words, c.about
            );
            let mut tables = c.flags.to_vec();
            tables.push(HELP);
            args::describe(&mut out, &tables);
            out.push_str("\nThe global options (berth --help) are accepted here too.\n");
        }
    }
    out
}
