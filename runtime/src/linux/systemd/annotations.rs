//! `org.systemd.property.NAME` annotations: extra unit properties, given
//! in GVariant's text format (https://docs.gtk.org/glib/gvariant-text.html),
//! as runc takes them (its docs/systemd.md).
//!
//! The part of the format properties need: booleans, strings in single or
//! double quotes, numbers (int32 unless typed: `uint64 5`, `@t 5`), and
//! arrays of those (`['a', 'b']`, `@as []`). As in runc, a name ending in
//! `Sec` (not `USec`) takes seconds and becomes the `USec` property
//! systemd has (`TimeoutStopSec: 5` is `TimeoutStopUSec` 5000000).

use super::properties::Property;
use crate::error::{Error, Result};
use crate::linux::dbus::Value;

const PREFIX: &str = "org.systemd.property.";

/// The properties the annotations ask for, in the annotations' (sorted)
/// order; an unreadable one is refused by name.
pub fn properties<'a>(
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<Property>> {
    let mut pairs: Vec<_> = annotations
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?, v)))
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(name, text)| {
            property(name, text).map_err(|why| {
                Error::invalid(format!("annotation {PREFIX}{name} = {text:?}: {why}"))
            })
        })
        .collect()
}

fn property(name: &str, text: &str) -> std::result::Result<Property, String> {
    let valid = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err("not a systemd property name".into());
    }
    let value = parse(text)?;
    match name.strip_suffix("Sec") {
        Some(stem) if !name.ends_with("USec") => {
            Ok((format!("{stem}USec"), seconds_to_usec(&value)?))
        }
        _ => Ok((name.to_string(), value)),
    }
}

fn seconds_to_usec(v: &Value) -> std::result::Result<Value, String> {
    let us = match *v {
        Value::Byte(n) => u64::from(n) * 1_000_000,
        Value::U16(n) => u64::from(n) * 1_000_000,
        Value::U32(n) => u64::from(n) * 1_000_000,
        Value::U64(n) => n.checked_mul(1_000_000).ok_or("too many seconds")?,
        Value::I16(n) if n >= 0 => n as u64 * 1_000_000,
        Value::I32(n) if n >= 0 => n as u64 * 1_000_000,
        Value::I64(n) if n >= 0 => (n as u64)
            .checked_mul(1_000_000)
            .ok_or("too many seconds")?,
        Value::Double(d) if d >= 0.0 && d.is_finite() => (d * 1e6).round() as u64,
        _ => return Err("a time in seconds must be a number of at least 0".into()),
    };
    Ok(Value::U64(us))
}

/// One value in GVariant text.
pub fn parse(text: &str) -> std::result::Result<Value, String> {
    let mut p = Parser {
        s: text.trim(),
        depth: 0,
    };
    let v = p.value(None)?;
    p.skip_space();
    if !p.s.is_empty() {
        return Err(format!("unexpected {:?} after the value", p.s));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a str,
    depth: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        self.s = self.s.trim_start();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        match self.s.strip_prefix(token) {
            Some(rest) => {
                self.s = rest;
                true
            }
            None => false,
        }
    }

    fn word(&mut self) -> &str {
        self.skip_space();
        let end = self
            .s
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.' | '_')))
            .unwrap_or(self.s.len());
        let (w, rest) = self.s.split_at(end);
        self.s = rest;
        w
    }

    /// A value; `sig` is the type an enclosing array or a type prefix fixed.
    fn value(&mut self, sig: Option<&str>) -> std::result::Result<Value, String> {
        self.depth += 1;
        if self.depth > 16 {
            return Err("nested too deeply".into());
        }
        let v = self.value_inner(sig);
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self, sig: Option<&str>) -> std::result::Result<Value, String> {
        self.skip_space();
        if self.eat("@") {
            let t = self.word().to_string();
            return self.value(Some(&t));
        }
        if self.s.starts_with('[') {
            return self.array(sig);
        }
        if self.s.starts_with(['\'', '"']) {
            return match sig {
                None | Some("s") => Ok(Value::Str(self.string()?)),
                Some("o") => Ok(Value::ObjectPath(self.string()?)),
                Some(t) => Err(format!("a string where {t} was expected")),
            };
        }
        let w = self.word().to_string();
        let keyword = match w.as_str() {
            "boolean" => Some("b"),
            "byte" => Some("y"),
            "int16" => Some("n"),
            "uint16" => Some("q"),
            "int32" => Some("i"),
            "uint32" => Some("u"),
            "int64" => Some("x"),
            "uint64" => Some("t"),
            "double" => Some("d"),
            "objectpath" => Some("o"),
            "string" => Some("s"),
            _ => None,
        };
        if let Some(t) = keyword {
            return self.value(Some(t));
        }
        scalar(&w, sig)
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let quote = self.s.chars().next().ok_or("expected a string")?;
        let mut out = String::new();
        let mut chars = self.s[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                c if c == quote => {
                    self.s = &self.s[1 + i + 1..];
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }

    fn array(&mut self, sig: Option<&str>) -> std::result::Result<Value, String> {
        let elem = match sig {
            Some(s) => Some(
                s.strip_prefix('a')
                    .ok_or_else(|| format!("an array where {s} was expected"))?
                    .to_string(),
            ),
            None => None,
        };
        self.eat("[");
        let mut items: Vec<Value> = Vec::new();
        if !self.eat("]") {
            loop {
                let fixed = elem
                    .clone()
                    .or_else(|| items.first().map(|v| v.signature()));
                items.push(self.value(fixed.as_deref())?);
                if self.eat("]") {
                    break;
                }
                if !self.eat(",") {
                    return Err("expected ',' or ']' in an array".into());
                }
            }
        }
        let elem = match (elem, items.first()) {
            (Some(e), _) => e,
            (None, Some(first)) => first.signature(),
            (None, None) => return Err("an empty array needs its type: @as []".into()),
        };
        if items.iter().any(|v| v.signature() != elem) {
            return Err("an array's items must all have one type".into());
        }
        Ok(Value::Array(elem, items))
    }
}

/// A bare word: a boolean or a number, of the given type when one is
/// fixed (int32 or double otherwise, as GVariant reads them).
fn scalar(w: &str, sig: Option<&str>) -> std::result::Result<Value, String> {
    let bad = || format!("{w:?} is not a {}", sig.unwrap_or("value"));
    let int =
        |w: &str| -> std::result::Result<i128, String> { w.parse::<i128>().map_err(|_| bad()) };
    let v = match (w, sig) {
        ("true", None | Some("b")) => Value::Bool(true),
        ("false", None | Some("b")) => Value::Bool(false),
        (_, Some("y")) => Value::Byte(u8::try_from(int(w)?).map_err(|_| bad())?),
        (_, Some("n")) => Value::I16(i16::try_from(int(w)?).map_err(|_| bad())?),
        (_, Some("q")) => Value::U16(u16::try_from(int(w)?).map_err(|_| bad())?),
        (_, Some("u")) => Value::U32(u32::try_from(int(w)?).map_err(|_| bad())?),
        (_, Some("x")) => Value::I64(i64::try_from(int(w)?).map_err(|_| bad())?),
        (_, Some("t")) => Value::U64(u64::try_from(int(w)?).map_err(|_| bad())?),
        (_, Some("d")) => Value::Double(w.parse().map_err(|_| bad())?),
        (_, Some("i")) => Value::I32(i32::try_from(int(w)?).map_err(|_| bad())?),
        (_, None) if w.contains(['.', 'e', 'E']) => Value::Double(w.parse().map_err(|_| bad())?),
        (_, None) => Value::I32(i32::try_from(int(w)?).map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn props(pairs: &[(&str, &str)]) -> Result<Vec<Property>> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
            .collect();
        properties(&m)
    }

    #[test]
    fn runcs_documented_examples() {
        assert_eq!(
            props(&[
                ("TimeoutStopUSec", "uint64 123456789"),
                ("CollectMode", "'inactive-or-failed'")
            ])
            .unwrap(),
            vec![
                (
                    "CollectMode".into(),
                    Value::Str("inactive-or-failed".into())
                ),
                ("TimeoutStopUSec".into(), Value::U64(123456789)),
            ]
        );
    }

    #[test]
    fn seconds_become_microseconds() {
        assert_eq!(
            props(&[("RuntimeMaxSec", "2")]).unwrap(),
            vec![("RuntimeMaxUSec".into(), Value::U64(2_000_000))]
        );
        assert_eq!(
            props(&[("TimeoutStopSec", "1.5")]).unwrap()[0].1,
            Value::U64(1_500_000)
        );
        assert!(props(&[("TimeoutStopSec", "'soon'")]).is_err());
        assert!(props(&[("TimeoutStopSec", "-1")]).is_err());
    }

    #[test]
    fn other_annotations_are_not_properties() {
        let m: HashMap<String, String> = [("io.kubernetes.x".to_string(), "y".to_string())].into();
        assert!(properties(&m).unwrap().is_empty());
    }

    #[test]
    fn values_of_each_kind() {
        assert_eq!(parse("true").unwrap(), Value::Bool(true));
        assert_eq!(parse("@t 5").unwrap(), Value::U64(5));
        assert_eq!(parse("5").unwrap(), Value::I32(5));
        assert_eq!(parse("\"a\\\"b\"").unwrap(), Value::Str("a\"b".into()));
        assert_eq!(
            parse("['a', \"b\"]").unwrap(),
            Value::Array(
                "s".into(),
                vec![Value::Str("a".into()), Value::Str("b".into())]
            )
        );
        assert_eq!(parse("@as []").unwrap(), Value::Array("s".into(), vec![]));
        assert_eq!(
            parse("[uint64 1, 2]").unwrap(),
            Value::Array("t".into(), vec![Value::U64(1), Value::U64(2)])
        );
    }

    #[test]
    fn bad_text_and_names_are_refused() {
        for (k, v) in [
            ("lowercase", "1"),
            ("Bad-Name", "1"),
            ("X", "uint8 3"),
            ("X", "byte 300"),
            ("X", "'open"),
            ("X", "[]"),
            ("X", "['a', 1]"),
            ("X", "1 2"),
            ("X", "[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]"),
        ] {
            assert!(props(&[(k, v)]).is_err(), "{k} = {v}");
        }
    }
}
