//! Type signatures (`s`, `a{sv}`, `(sa(sv))`…) parsed into the tree that
//! drives unmarshalling, with the spec's validity rules: at most 255
//! bytes, at most 32 nested arrays and 32 nested structs (dict entries
//! count as structs), no empty struct, dict entries only as an array's
//! element, with a basic key and exactly one value.

use crate::error::{Error, Result};

pub const MAX_SIGNATURE: usize = 255;
const MAX_NESTING: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Byte,
    Bool,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Double,
    Str,
    ObjectPath,
    Signature,
    UnixFd,
    Variant,
    Array(Box<Type>),
    Struct(Vec<Type>),
    DictEntry(Box<Type>, Box<Type>),
}

impl Type {
    /// Where a value of this type starts: a multiple of this, counted from
    /// the start of the message.
    pub fn alignment(&self) -> usize {
        match self {
            Type::Byte | Type::Signature | Type::Variant => 1,
            Type::I16 | Type::U16 => 2,
            Type::Bool | Type::I32 | Type::U32 | Type::UnixFd => 4,
            Type::Str | Type::ObjectPath | Type::Array(_) => 4,
            Type::I64 | Type::U64 | Type::Double => 8,
            Type::Struct(_) | Type::DictEntry(..) => 8,
        }
    }

    /// How many containers deep the type goes (a variant's content is
    /// not known until read).
    pub fn depth(&self) -> usize {
        match self {
            Type::Array(t) => 1 + t.depth(),
            Type::Struct(fields) => 1 + fields.iter().map(Type::depth).max().unwrap_or(0),
            Type::DictEntry(k, v) => 1 + k.depth().max(v.depth()),
            Type::Variant => 1,
            _ => 0,
        }
    }

    pub fn is_basic(&self) -> bool {
        !matches!(
            self,
            Type::Variant | Type::Array(_) | Type::Struct(_) | Type::DictEntry(..)
        )
    }

    pub fn signature(&self) -> String {
        let mut s = String::new();
        self.write_signature(&mut s);
        s
    }

    fn write_signature(&self, out: &mut String) {
        match self {
            Type::Array(t) => {
                out.push('a');
                t.write_signature(out);
            }
            Type::Struct(fields) => {
                out.push('(');
                for f in fields {
                    f.write_signature(out);
                }
                out.push(')');
            }
            Type::DictEntry(k, v) => {
                out.push('{');
                k.write_signature(out);
                v.write_signature(out);
                out.push('}');
            }
            basic => out.push(basic_code(basic)),
        }
    }
}

fn basic_code(t: &Type) -> char {
    match t {
        Type::Byte => 'y',
        Type::Bool => 'b',
        Type::I16 => 'n',
        Type::U16 => 'q',
        Type::I32 => 'i',
        Type::U32 => 'u',
        Type::I64 => 'x',
        Type::U64 => 't',
        Type::Double => 'd',
        Type::Str => 's',
        Type::ObjectPath => 'o',
        Type::Signature => 'g',
        Type::UnixFd => 'h',
        Type::Variant => 'v',
        _ => unreachable!("containers have no single code"),
    }
}

/// A signature: zero or more single complete types.
pub fn parse(sig: &str) -> Result<Vec<Type>> {
    let mut p = Parser::new(sig)?;
    let mut types = Vec::new();
    while p.pos < p.sig.len() {
        types.push(p.single().map_err(|why| p.error(why))?);
    }
    Ok(types)
}

/// A variant's or an array element's signature: exactly one complete type.
pub fn parse_single(sig: &str) -> Result<Type> {
    let mut p = Parser::new(sig)?;
    if sig.is_empty() {
        return Err(p.error("one complete type expected, found none"));
    }
    let t = p.single().map_err(|why| p.error(why))?;
    if p.pos != sig.len() {
        return Err(p.error("one complete type expected, found more"));
    }
    Ok(t)
}

struct Parser<'a> {
    sig: &'a [u8],
    pos: usize,
    arrays: usize,
    structs: usize,
}

impl<'a> Parser<'a> {
    fn new(sig: &'a str) -> Result<Self> {
        if sig.len() > MAX_SIGNATURE {
            return Err(Error::invalid(format!(
                "invalid D-Bus signature: {} bytes, more than {MAX_SIGNATURE}",
                sig.len()
            )));
        }
        Ok(Parser {
            sig: sig.as_bytes(),
            pos: 0,
            arrays: 0,
            structs: 0,
        })
    }

    fn error(&self, why: &str) -> Error {
        Error::invalid(format!(
            "invalid D-Bus signature {:?}: {why} at byte {}",
            String::from_utf8_lossy(self.sig),
            self.pos
        ))
    }

    fn next(&mut self) -> std::result::Result<u8, &'static str> {
        let c = *self.sig.get(self.pos).ok_or("unexpected end")?;
        self.pos += 1;
        Ok(c)
    }

    fn single(&mut self) -> std::result::Result<Type, &'static str> {
        Ok(match self.next()? {
            b'y' => Type::Byte,
            b'b' => Type::Bool,
            b'n' => Type::I16,
            b'q' => Type::U16,
            b'i' => Type::I32,
            b'u' => Type::U32,
            b'x' => Type::I64,
            b't' => Type::U64,
            b'd' => Type::Double,
            b's' => Type::Str,
            b'o' => Type::ObjectPath,
            b'g' => Type::Signature,
            b'h' => Type::UnixFd,
            b'v' => Type::Variant,
            b'a' => {
                self.arrays += 1;
                if self.arrays > MAX_NESTING {
                    return Err("more than 32 nested arrays");
                }
                let elem = if self.sig.get(self.pos) == Some(&b'{') {
                    self.pos += 1;
                    self.dict_entry()?
                } else {
                    self.single()?
                };
                self.arrays -= 1;
                Type::Array(Box::new(elem))
            }
            b'(' => {
                self.enter_struct()?;
                let mut fields = Vec::new();
                while self.sig.get(self.pos) != Some(&b')') {
                    fields.push(self.single()?);
                }
                self.pos += 1;
                if fields.is_empty() {
                    return Err("empty struct");
                }
                self.structs -= 1;
                Type::Struct(fields)
            }
            b'{' => return Err("dict entry outside an array"),
            b')' | b'}' => return Err("unbalanced close"),
            _ => return Err("unknown type code"),
        })
    }

    fn enter_struct(&mut self) -> std::result::Result<(), &'static str> {
        self.structs += 1;
        if self.structs > MAX_NESTING {
            return Err("more than 32 nested structs and dict entries");
        }
        Ok(())
    }

    /// After `a{`.
    fn dict_entry(&mut self) -> std::result::Result<Type, &'static str> {
        self.enter_struct()?;
        let key = self.single()?;
        if !key.is_basic() {
            return Err("dict entry key is not a basic type");
        }
        if self.sig.get(self.pos) == Some(&b'}') {
            return Err("dict entry without a value");
        }
        let value = self.single()?;
        if self.next()? != b'}' {
            return Err("dict entry with more than two fields");
        }
        self.structs -= 1;
        Ok(Type::DictEntry(Box::new(key), Box::new(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_signatures_round_trip() {
        for sig in [
            "",
            "y",
            "ybnqiuxtdsogvh",
            "a{sv}",
            "sa(sv)a(sa(sv))",
            "(i(ii))",
            "aai",
            "a{oa{sa{sv}}}",
            "a(ssssssouso)",
        ] {
            let types = parse(sig).unwrap();
            let back: String = types.iter().map(Type::signature).collect();
            assert_eq!(back, sig);
        }
        assert_eq!(parse("a{sv}").unwrap()[0].alignment(), 4);
        assert_eq!(parse("(y)").unwrap()[0].alignment(), 8);
    }

    #[test]
    fn invalid_signatures_are_refused() {
        for (sig, why) in [
            ("a", "unexpected end"),
            ("(ii", "unexpected end"),
            ("ii)", "unbalanced close"),
            ("()", "empty struct"),
            ("{sv}", "dict entry outside an array"),
            ("a{vs}", "key is not a basic type"),
            ("a{s}", "without a value"),
            ("a{sss}", "more than two fields"),
            ("r", "unknown type code"),
            ("m", "unknown type code"),
            ("a{(s)s}", "key is not a basic type"),
        ] {
            let e = parse(sig).unwrap_err().to_string();
            assert!(e.contains(why), "{sig}: {e}");
        }
        assert!(parse_single("ss").is_err());
        assert!(parse_single("").is_err());
        assert!(parse_single("a{sv}").is_ok());
    }

    #[test]
    fn nesting_and_length_limits() {
        let arrays = |n| format!("{}y", "a".repeat(n));
        let structs = |n| format!("{}y{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&arrays(32)).is_ok());
        assert!(parse(&arrays(33))
            .unwrap_err()
            .to_string()
            .contains("32 nested arrays"));
        assert!(parse(&structs(32)).is_ok());
        assert!(parse(&structs(33))
            .unwrap_err()
            .to_string()
            .contains("32 nested structs"));
        // 32 of each at once is allowed: 64 levels in all.
        let both = format!("{}{}", "a".repeat(32), structs(32));
        assert!(parse(&both).is_ok());
        assert!(parse(&"y".repeat(255)).is_ok());
        assert!(parse(&"y".repeat(256))
            .unwrap_err()
            .to_string()
            .contains("more than 255"));
    }
}
