//! A command's line after its name: its entry in the command table, the
//! loop that reads its flags and words for the command's `parse`, and why
//! a line makes no command to run.

use super::args::{self, Arg, Flag, Given, Parser};
use super::{Command, Global, GLOBAL, HELP};

/// A command's line: its own flag tables (the global flags and --help
/// come on top), and how many words it takes.
#[derive(Debug)]
pub struct Cmd {
    pub(super) name: &'static str,
    /// The words, for the help.
    pub(super) words: &'static str,
    pub(super) about: &'static str,
    pub(super) flags: &'static [&'static [Flag]],
    pub(super) min: usize,
    /// `usize::MAX`: after the ID, the first word that is no flag of the
    /// command starts a command line taken whole (`exec ID ls -la`).
    pub(super) max: usize,
    /// Makes the command from the rest of the line.
    pub(super) parse: fn(Line) -> Result<Command, Stop>,
}

pub const fn cmd(
    name: &'static str,
    words: &'static str,
    about: &'static str,
    flags: &'static [&'static [Flag]],
    (min, max): (usize, usize),
    parse: fn(Line) -> Result<Command, Stop>,
) -> Cmd {
    Cmd {
        name,
        words,
        about,
        flags,
        min,
        max,
        parse,
    }
}

pub const ID: (usize, usize) = (1, 1);
pub const NONE: (usize, usize) = (0, 0);
pub const ID_THEN_REST: (usize, usize) = (1, usize::MAX);

impl Cmd {
    pub fn read(&'static self, p: &mut Parser, global: &mut Global) -> Result<Command, Stop> {
        (self.parse)(Line {
            cmd: self,
            p,
            global,
        })
    }
}

/// Why parsing ended without a command to run.
#[derive(Debug)]
pub enum Stop {
    /// `--help` or `help [COMMAND]`: the help of the command, or berth's.
    Help(Option<&'static Cmd>),
    Version,
    /// `berth` alone, or with global flags only.
    NoCommand,
    Usage(String),
}

impl From<args::Error> for Stop {
    fn from(e: args::Error) -> Self {
        Stop::Usage(e.0)
    }
}

/// The rest of the command line, with the command it is for.
pub struct Line<'p, 'a> {
    cmd: &'static Cmd,
    p: &'p mut Parser<'a>,
    global: &'p mut Global,
}

impl<'a> Line<'_, 'a> {
    /// Reads the rest of the line: this command's flags go to `set`, the
    /// global ones to `global`; returns the words, checked against
    /// min and max.
    pub fn words(
        self,
        mut set: impl FnMut(&Given<'a>) -> Result<(), args::Error>,
    ) -> Result<Vec<String>, Stop> {
        let Line { cmd, p, global } = self;
        // Up to two tables of its own (run: create's and its own).
        let mut tables: [&'static [Flag]; 4] = [&[], &[], GLOBAL, HELP];
        tables[..cmd.flags.len()].copy_from_slice(cmd.flags);
        let mut words = Vec::new();
        while let Some(arg) = p.next(&tables)? {
            let starts_rest = cmd.max == usize::MAX && words.len() == 1;
            match arg {
                Arg::Flag(v) if v.flag.long == "help" => return Err(Stop::Help(Some(cmd))),
                Arg::Flag(v) if GLOBAL.iter().any(|f| f.long == v.flag.long) => global.set(&v)?,
                Arg::Flag(v) => set(&v)?,
                Arg::Word(w) | Arg::Unknown(w) if starts_rest => {
                    words.push(args::utf8(w)?);
                    for w in p.rest() {
                        words.push(args::utf8(w)?);
                    }
                }
                Arg::Word(w) => words.push(args::utf8(w)?),
                Arg::Unknown(w) => return Err(args::unknown(w).into()),
            }
        }
        let n = words.len();
        if n < cmd.min || n > cmd.max {
            // runc's checkArgs wording.
            let count = if cmd.min == cmd.max {
                format!("exactly {}", cmd.min)
            } else if n < cmd.min {
                format!("a minimum of {}", cmd.min)
            } else {
                format!("a maximum of {}", cmd.max)
            };
            return Err(Stop::Usage(format!(
                "{:?} requires {count} argument(s)",
                cmd.name
            )));
        }
        Ok(words)
    }

    /// The words of a command without flags of its own.
    pub fn plain(self) -> Result<Vec<String>, Stop> {
        let name = self.cmd.name;
        self.words(|v| unreachable!("{name} has no flag --{}", v.flag.long))
    }
}

/// The first word: the ID, which the word count has made sure of.
pub fn first(words: Vec<String>) -> String {
    words.into_iter().next().unwrap_or_default()
}
