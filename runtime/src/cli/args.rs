//! A small command-line tokenizer with the rules of Go's `flag` package,
//! which runc's users and callers (containerd, podman, conmon) rely on:
//! `--name value`, `--name=value`, the same with one dash, booleans that
//! take `=false`, `--` to end the flags. The flags are plain tables, so a
//! run costs a few comparisons instead of building a parser.

use std::ffi::{OsStr, OsString};
use std::fmt::{self, Display, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::str::FromStr;

/// One flag: its names, whether it takes a value, and a line of help.
#[derive(Debug)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    pub aliases: &'static [&'static str],
    pub value: Value,
    pub help: &'static str,
}

/// What follows a flag's name. The `&str` is the value's name in the help.
#[derive(Debug)]
pub enum Value {
    /// A boolean: present means true; `=false` and Go's other spellings
    /// are accepted too.
    None,
    /// The next word, or what follows `=`, whatever it looks like: Go
    /// takes `--pids-limit -1` and `--user --tty` alike.
    Required(&'static str),
    /// `missing` when the flag stands alone; the next word only when it is
    /// one of `accepts`, so `--rootless spec` leaves the command alone.
    Optional {
        name: &'static str,
        missing: &'static str,
        accepts: &'static [&'static str],
    },
}

impl Flag {
    const fn new(long: &'static str, short: Option<char>, value: Value) -> Flag {
        Flag {
            long,
            short,
            aliases: &[],
            value,
            help: "",
        }
    }

    /// A boolean flag.
    pub const fn switch(long: &'static str, short: Option<char>, help: &'static str) -> Flag {
        Flag {
            help,
            ..Flag::new(long, short, Value::None)
        }
    }

    /// A flag with a value named `name` in the help.
    pub const fn value(
        long: &'static str,
        short: Option<char>,
        name: &'static str,
        help: &'static str,
    ) -> Flag {
        Flag {
            help,
            ..Flag::new(long, short, Value::Required(name))
        }
    }

    pub const fn alias(self, aliases: &'static [&'static str]) -> Flag {
        Flag { aliases, ..self }
    }

    /// Go treats one and two dashes alike, and urfave/cli gives a short
    /// name no special standing, so `-root`, `--b` and `-b` all match.
    fn named(&self, name: &[u8]) -> bool {
        name == self.long.as_bytes()
            || self.aliases.iter().any(|a| name == a.as_bytes())
            || matches!((self.short, name), (Some(c), [b]) if c as u32 == *b as u32)
    }
}

/// A usage error: a message for `berth: …`.
#[derive(Debug, PartialEq)]
pub struct Error(pub String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A flag as given, with its value (see [`Value`]).
#[derive(Debug)]
pub struct Given<'a> {
    pub flag: &'static Flag,
    value: Option<&'a OsStr>,
}

impl<'a> Given<'a> {
    fn invalid(&self, why: impl Display) -> Error {
        let v = self.value.unwrap_or_default().to_string_lossy();
        Error(format!(
            "invalid value {v:?} for --{}: {why}",
            self.flag.long
        ))
    }

    /// A boolean flag's state: Go's `strconv.ParseBool` spellings.
    pub fn on(&self) -> Result<bool, Error> {
        match self.value.map(OsStr::as_bytes) {
            None | Some(b"1" | b"t" | b"T" | b"true" | b"TRUE" | b"True") => Ok(true),
            Some(b"0" | b"f" | b"F" | b"false" | b"FALSE" | b"False") => Ok(false),
            Some(_) => Err(self.invalid("expected true or false")),
        }
    }

    pub fn str(&self) -> Result<&'a str, Error> {
        let v = self.value.unwrap_or_default();
        v.to_str().ok_or_else(|| self.invalid("not valid UTF-8"))
    }

    pub fn string(&self) -> Result<String, Error> {
        self.str().map(str::to_string)
    }

    /// Paths need not be UTF-8.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.value.unwrap_or_default())
    }

    pub fn number<T: FromStr>(&self) -> Result<T, Error>
    where
        T::Err: Display,
    {
        self.str()?.parse().map_err(|e| self.invalid(e))
    }

    /// One of a fixed set of words (case matters, as with clap before).
    pub fn one_of<T: Copy>(&self, choices: &[(&str, T)]) -> Result<T, Error> {
        let s = self.str()?;
        match choices.iter().find(|(name, _)| *name == s) {
            Some((_, v)) => Ok(*v),
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                Err(self.invalid(format_args!("expected {}", names.join(" or "))))
            }
        }
    }
}

#[derive(Debug)]
pub enum Arg<'a> {
    Flag(Given<'a>),
    /// A positional word (anything after `--`, and `-` alone).
    Word(&'a OsStr),
    /// A dash word that names no flag: an error, unless the caller takes
    /// it as the start of a trailing command (`ps ID -ef`).
    Unknown(&'a OsStr),
}

pub struct Parser<'a> {
    args: &'a [OsString],
    next: usize,
    flags_done: bool,
}

impl<'a> Parser<'a> {
    pub fn new(args: &'a [OsString]) -> Parser<'a> {
        Parser {
            args,
            next: 0,
            flags_done: false,
        }
    }

    /// The next flag or word, looking flags up in `tables` in order.
    pub fn next(&mut self, tables: &[&'static [Flag]]) -> Result<Option<Arg<'a>>, Error> {
        loop {
            let Some(word) = self.args.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            let bytes = word.as_bytes();
            if self.flags_done || bytes.len() < 2 || bytes[0] != b'-' {
                return Ok(Some(Arg::Word(word)));
            }
            if bytes == b"--" {
                self.flags_done = true;
                continue;
            }
            let body = bytes.strip_prefix(b"--").unwrap_or(&bytes[1..]);
            let (name, inline) = match body.iter().position(|&b| b == b'=') {
                Some(i) => (&body[..i], Some(OsStr::from_bytes(&body[i + 1..]))),
                None => (body, None),
            };
            let found = tables.iter().flat_map(|t| t.iter()).find(|f| f.named(name));
            let Some(flag) = found else {
                return Ok(Some(Arg::Unknown(word)));
            };
            let value = match (&flag.value, inline) {
                (_, Some(v)) => Some(v),
                (Value::None, None) => None,
                (Value::Required(_), None) => {
                    let v = self
                        .args
                        .get(self.next)
                        .ok_or_else(|| Error(format!("flag needs an argument: --{}", flag.long)))?;
                    self.next += 1;
                    Some(v.as_os_str())
                }
                (
                    Value::Optional {
                        missing, accepts, ..
                    },
                    None,
                ) => match self.args.get(self.next) {
                    Some(v) if accepts.iter().any(|a| v == a) => {
                        self.next += 1;
                        Some(v.as_os_str())
                    }
                    _ => Some(OsStr::new(missing)),
                },
            };
            return Ok(Some(Arg::Flag(Given { flag, value })));
        }
    }

    /// Everything not yet read, flags or not (a trailing command).
    pub fn rest(&mut self) -> &'a [OsString] {
        let rest = &self.args[self.next..];
        self.next = self.args.len();
        rest
    }
}

pub fn unknown(word: &OsStr) -> Error {
    Error(format!("unknown flag: {}", word.to_string_lossy()))
}

pub fn utf8(word: &OsStr) -> Result<String, Error> {
    word.to_str().map(str::to_string).ok_or_else(|| {
        Error(format!(
            "argument {:?} is not valid UTF-8",
            word.to_string_lossy()
        ))
    })
}

/// The help lines of `tables`, aligned.
pub fn describe(out: &mut String, tables: &[&[Flag]]) {
    let left = |f: &Flag| {
        let short = f.short.map(|c| format!("-{c}, ")).unwrap_or_default();
        let value = match f.value {
            Value::None => String::new(),
            Value::Required(n) => format!(" {n}"),
            Value::Optional { name, .. } => format!(" [{name}]"),
        };
        format!("  {short:>4}--{}{value}", f.long)
    };
    let flags = || tables.iter().flat_map(|t| t.iter());
    let width = flags().map(|f| left(f).len()).max().unwrap_or(0);
    for f in flags() {
        let _ = writeln!(out, "{:width$}  {}", left(f), f.help);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag::value("bundle", Some('b'), "DIR", ""),
        Flag::switch("detach", Some('d'), ""),
        Flag::value("cpu-share", None, "N", "").alias(&["cpu-shares"]),
        Flag {
            long: "rootless",
            short: None,
            aliases: &[],
            value: Value::Optional {
                name: "WHEN",
                missing: "true",
                accepts: &["true", "false", "auto"],
            },
            help: "",
        },
    ];

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// Each token as "name=value", "name" (no value), "word:W" or "unknown:W".
    fn tokens(args: &[&str]) -> Result<Vec<String>, Error> {
        let args = os(args);
        let mut p = Parser::new(&args);
        let mut out = Vec::new();
        while let Some(a) = p.next(&[FLAGS])? {
            out.push(match a {
                Arg::Flag(g) => match g.value {
                    Some(v) => format!("{}={}", g.flag.long, v.to_string_lossy()),
                    None => g.flag.long.to_string(),
                },
                Arg::Word(w) => format!("word:{}", w.to_string_lossy()),
                Arg::Unknown(w) => format!("unknown:{}", w.to_string_lossy()),
            });
        }
        Ok(out)
    }

    #[test]
    fn values_in_every_form() {
        for args in [
            &["--bundle", "/b"][..],
            &["--bundle=/b"],
            &["-bundle", "/b"],
            &["-bundle=/b"],
            &["-b", "/b"],
            &["-b=/b"],
            &["--b", "/b"],
        ] {
            assert_eq!(tokens(args).unwrap(), ["bundle=/b"], "{args:?}");
        }
        assert_eq!(tokens(&["--bundle="]).unwrap(), ["bundle="]);
        assert_eq!(tokens(&["--bundle", "a=b"]).unwrap(), ["bundle=a=b"]);
        assert_eq!(tokens(&["--bundle=a=b"]).unwrap(), ["bundle=a=b"]);
    }

    #[test]
    fn a_value_flag_takes_the_next_word_even_with_a_dash() {
        assert_eq!(tokens(&["--cpu-shares", "-1"]).unwrap(), ["cpu-share=-1"]);
        assert_eq!(tokens(&["-b", "--detach"]).unwrap(), ["bundle=--detach"]);
        assert_eq!(
            tokens(&["--bundle"]),
            Err(Error("flag needs an argument: --bundle".into()))
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(tokens(&["-d", "x"]).unwrap(), ["detach", "word:x"]);
        assert_eq!(tokens(&["--detach=false"]).unwrap(), ["detach=false"]);
        let args = os(&["--detach=false", "-d", "--detach=1", "--detach=no"]);
        let mut p = Parser::new(&args);
        let mut on = Vec::new();
        while let Some(Arg::Flag(g)) = p.next(&[FLAGS]).unwrap() {
            on.push(g.on().map_err(|e| e.0));
        }
        assert_eq!(
            on,
            [
                Ok(false),
                Ok(true),
                Ok(true),
                Err("invalid value \"no\" for --detach: expected true or false".into())
            ]
        );
    }

    #[test]
    fn an_optional_value_takes_only_its_own_words() {
        assert_eq!(tokens(&["--rootless"]).unwrap(), ["rootless=true"]);
        assert_eq!(
            tokens(&["--rootless", "spec"]).unwrap(),
            ["rootless=true", "word:spec"]
        );
        assert_eq!(
            tokens(&["--rootless", "false"]).unwrap(),
            ["rootless=false"]
        );
        assert_eq!(tokens(&["--rootless=auto"]).unwrap(), ["rootless=auto"]);
        assert_eq!(tokens(&["--rootless=maybe"]).unwrap(), ["rootless=maybe"]);
    }

    #[test]
    fn double_dash_ends_the_flags() {
        assert_eq!(
            tokens(&["-d", "--", "-b", "--", "x"]).unwrap(),
            ["detach", "word:-b", "word:--", "word:x"]
        );
        assert_eq!(tokens(&["-", "-d"]).unwrap(), ["word:-", "detach"]);
    }

    #[test]
    fn unknown_flags_are_handed_back() {
        assert_eq!(
            tokens(&["--frob", "-x=1", "---b"]).unwrap(),
            ["unknown:--frob", "unknown:-x=1", "unknown:---b"]
        );
        assert_eq!(unknown(OsStr::new("--frob")).0, "unknown flag: --frob");
    }

    #[test]
    fn rest_is_taken_verbatim() {
        let args = os(&["x", "--detach", "--", "-b"]);
        let mut p = Parser::new(&args);
        assert!(matches!(p.next(&[FLAGS]).unwrap(), Some(Arg::Word(_))));
        assert_eq!(p.rest(), &args[1..]);
        assert!(p.next(&[FLAGS]).unwrap().is_none());
    }

    #[test]
    fn numbers_and_choices_name_the_flag() {
        let args = os(&["--cpu-share", "x", "--cpu-share=7", "-b", "y"]);
        let mut p = Parser::new(&args);
        let mut next = || match p.next(&[FLAGS]).unwrap() {
            Some(Arg::Flag(g)) => g,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            next().number::<u64>().unwrap_err().0,
            "invalid value \"x\" for --cpu-share: invalid digit found in string"
        );
        assert_eq!(next().number::<u64>().unwrap(), 7);
        let g = next();
        assert_eq!(g.one_of(&[("x", 1), ("y", 2)]).unwrap(), 2);
        assert_eq!(
            g.one_of(&[("a", 1), ("b", 2)]).unwrap_err().0,
            "invalid value \"y\" for --bundle: expected a or b"
        );
    }

    #[test]
    fn non_utf8_paths_pass_and_strings_do_not() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![OsString::from("-b"), OsString::from_vec(vec![b'/', 0xff])];
        let mut p = Parser::new(&args);
        let Some(Arg::Flag(g)) = p.next(&[FLAGS]).unwrap() else {
            panic!()
        };
        assert_eq!(g.path().as_os_str().as_bytes(), b"/\xff");
        assert!(g.string().is_err());
    }
}
