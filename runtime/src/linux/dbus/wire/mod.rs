//! The marshalling format: values to bytes and back, each value aligned
//! to its type's boundary counted from the start of the message, padding
//! all zeros. berth writes little-endian and reads both byte orders.
//!
//! The reader trusts nothing it reads: every length is checked against
//! the bytes actually there before anything is taken or allocated, arrays
//! against the spec's 64 MiB, nesting (arrays, structs, dict entries and
//! variants together) against its 64 levels, booleans, UTF-8, object
//! paths and signatures against their rules; anything else is an error
//! naming the byte where it went wrong, never a panic.

#[cfg(test)]
mod tests;

use std::fmt::Display;

use super::names;
use super::signature::{self, Type};
use super::value::Value;
use crate::error::{Error, Result};

/// The longest array the spec allows, in bytes.
pub const MAX_ARRAY: usize = 1 << 26;
/// The longest message the spec allows, in bytes.
pub const MAX_MESSAGE: usize = 1 << 27;
/// "Use of variants must not cause a total message depth to be larger
/// than 64": 32 arrays and 32 structs in one signature, and the variants
/// around them count too.
pub const MAX_DEPTH: usize = 64;

fn padding(pos: usize, align: usize) -> usize {
    (align - pos % align) % align
}

/// Builds a message; positions (and so alignment) count from its first
/// byte.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
    depth: usize,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn align(&mut self, align: usize) {
        let n = padding(self.buf.len(), align);
        self.buf.resize(self.buf.len() + n, 0);
    }

    pub fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    pub fn u32(&mut self, n: u32) {
        self.align(4);
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    /// Overwrites a u32 written before (a length known only afterwards).
    pub fn patch_u32(&mut self, at: usize, n: u32) {
        self.buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }

    fn fixed<const N: usize>(&mut self, bytes: [u8; N]) {
        self.align(N);
        self.buf.extend_from_slice(&bytes);
    }

    fn string(&mut self, s: &str) -> Result<()> {
        if s.contains('\0') {
            return Err(Error::invalid(format!(
                "D-Bus string {s:?} holds a NUL byte"
            )));
        }
        if s.len() > MAX_MESSAGE {
            return Err(too_long("string", s.len(), MAX_MESSAGE));
        }
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        self.check_depth(&Type::Byte)
    }

    /// Whether a value of type `t` may be written at the current depth.
    fn check_depth(&self, t: &Type) -> Result<()> {
        if self.depth + t.depth() > MAX_DEPTH {
            return Err(Error::invalid(format!(
                "D-Bus value nested more than {MAX_DEPTH} deep"
            )));
        }
        Ok(())
    }

    pub fn value(&mut self, v: &Value) -> Result<()> {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I16(n) => self.fixed(n.to_le_bytes()),
            Value::U16(n) => self.fixed(n.to_le_bytes()),
            Value::I32(n) => self.fixed(n.to_le_bytes()),
            Value::U32(n) | Value::UnixFd(n) => self.fixed(n.to_le_bytes()),
            Value::I64(n) => self.fixed(n.to_le_bytes()),
            Value::U64(n) => self.fixed(n.to_le_bytes()),
            Value::Double(d) => self.fixed(d.to_le_bytes()),
            Value::Str(s) => self.string(s)?,
            Value::ObjectPath(p) => {
                names::check_object_path(p)?;
                self.string(p)?;
            }
            Value::Signature(g) => {
                signature::parse(g)?;
                self.signature(g);
            }
            Value::Array(elem, items) => self.array(elem, items)?,
            Value::Struct(fields) => {
                if fields.is_empty() {
                    return Err(Error::invalid("D-Bus struct with no field"));
                }
                self.enter()?;
                self.align(8);
                for f in fields {
                    self.value(f)?;
                }
                self.depth -= 1;
            }
            // Whether it may stand here (only in an array, with a basic
            // key) is checked by the signature around it.
            Value::DictEntry(k, v) => {
                self.enter()?;
                self.align(8);
                self.value(k)?;
                self.value(v)?;
                self.depth -= 1;
            }
            Value::Variant(inner) => {
                let sig = inner.signature();
                let t = signature::parse_single(&sig)?;
                self.enter()?;
                self.check_depth(&t)?;
                self.signature(&sig);
                self.value(inner)?;
                self.depth -= 1;
            }
        }
        Ok(())
    }

    /// A signature already checked (so at most 255 bytes).
    fn signature(&mut self, sig: &str) {
        self.buf.push(sig.len() as u8);
        self.buf.extend_from_slice(sig.as_bytes());
        self.buf.push(0);
    }

    fn array(&mut self, elem: &str, items: &[Value]) -> Result<()> {
        let Type::Array(elem_type) = signature::parse_single(&format!("a{elem}"))? else {
            unreachable!("a signature starting with 'a' is an array");
        };
        self.enter()?;
        self.align(4);
        let at = self.buf.len();
        self.u32(0);
        // Even when there is no element: the spec wants this padding.
        self.align(elem_type.alignment());
        let start = self.buf.len();
        for item in items {
            let sig = item.signature();
            if sig != elem {
                return Err(Error::invalid(format!(
                    "D-Bus array of {elem:?} holds a {sig:?}"
                )));
            }
            self.value(item)?;
            if self.buf.len() - start > MAX_ARRAY {
                return Err(too_long("array", self.buf.len() - start, MAX_ARRAY));
            }
        }
        let len = self.buf.len() - start;
        self.patch_u32(at, len as u32);
        self.depth -= 1;
        Ok(())
    }
}

fn too_long(what: &str, len: usize, max: usize) -> Error {
    Error::invalid(format!(
        "D-Bus {what} of {len} bytes or more: the limit is {max}"
    ))
}

/// Reads values from a message (or its header), positions counting from
/// the message's first byte, up to the end of `buf`.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big: bool,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// `big`: the message is big-endian ('B' in its first byte).
    pub fn new(buf: &'a [u8], pos: usize, big: bool) -> Self {
        Reader {
            buf,
            pos,
            big,
            depth: 0,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn err(&self, what: impl Display) -> Error {
        Error::invalid(format!(
            "malformed D-Bus message: {what} at byte {}",
            self.pos
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() - self.pos {
            return Err(self.err(format_args!(
                "{n} bytes wanted, {} left",
                self.buf.len() - self.pos
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips the padding up to the next multiple of `align`, which must
    /// be zeros.
    pub fn align(&mut self, align: usize) -> Result<()> {
        let start = self.pos;
        let pad = self.take(padding(self.pos, align))?;
        if pad.iter().any(|&b| b != 0) {
            self.pos = start;
            return Err(self.err("padding that is not zero"));
        }
        Ok(())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.align(N)?;
        let mut b: [u8; N] = self.take(N)?.try_into().expect("took N bytes");
        if self.big != cfg!(target_endian = "big") {
            b.reverse();
        }
        Ok(b)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_ne_bytes(self.fixed()?))
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        self.check_depth(&Type::Byte)
    }

    /// Whether a value of type `t` may be read at the current depth: the
    /// limit holds for the type, whether or not its arrays hold anything.
    fn check_depth(&self, t: &Type) -> Result<()> {
        if self.depth + t.depth() > MAX_DEPTH {
            return Err(self.err(format_args!("values nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    fn text(&mut self, len: usize) -> Result<String> {
        let start = self.pos;
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return Err(self.err("string not ended by a NUL byte"));
        }
        if bytes.contains(&0) {
            self.pos = start;
            return Err(self.err("string holding a NUL byte"));
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => {
                self.pos = start;
                Err(self.err("string that is not UTF-8"))
            }
        }
    }

    fn signature_text(&mut self) -> Result<String> {
        let len = self.u8()?;
        self.text(len.into())
    }

    pub fn value(&mut self, t: &Type) -> Result<Value> {
        Ok(match t {
            Type::Byte => Value::Byte(self.u8()?),
            Type::Bool => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                n => return Err(self.err(format_args!("boolean {n}"))),
            },
            Type::I16 => Value::I16(i16::from_ne_bytes(self.fixed()?)),
            Type::U16 => Value::U16(u16::from_ne_bytes(self.fixed()?)),
            Type::I32 => Value::I32(i32::from_ne_bytes(self.fixed()?)),
            Type::U32 => Value::U32(self.u32()?),
            Type::UnixFd => Value::UnixFd(self.u32()?),
            Type::I64 => Value::I64(i64::from_ne_bytes(self.fixed()?)),
            Type::U64 => Value::U64(u64::from_ne_bytes(self.fixed()?)),
            Type::Double => Value::Double(f64::from_ne_bytes(self.fixed()?)),
            Type::Str => {
                let len = self.u32()? as usize;
                Value::Str(self.text(len)?)
            }
            Type::ObjectPath => {
                let len = self.u32()? as usize;
                let p = self.text(len)?;
                if !names::object_path_ok(&p) {
                    return Err(self.err(format_args!("invalid object path {p:?}")));
                }
                Value::ObjectPath(p)
            }
            Type::Signature => {
                let g = self.signature_text()?;
                signature::parse(&g).map_err(|e| self.err(e))?;
                Value::Signature(g)
            }
            Type::Array(elem) => self.array(elem)?,
            Type::Struct(fields) => {
                self.enter()?;
                self.align(8)?;
                let mut values = Vec::with_capacity(fields.len());
                for f in fields {
                    values.push(self.value(f)?);
                }
                self.depth -= 1;
                Value::Struct(values)
            }
            Type::DictEntry(k, v) => {
                self.enter()?;
                self.align(8)?;
                let k = self.value(k)?;
                let v = self.value(v)?;
                self.depth -= 1;
                Value::DictEntry(Box::new(k), Box::new(v))
            }
            Type::Variant => {
                self.enter()?;
                let g = self.signature_text()?;
                let t = signature::parse_single(&g).map_err(|e| self.err(e))?;
                self.check_depth(&t)?;
                let v = self.value(&t)?;
                self.depth -= 1;
                Value::Variant(Box::new(v))
            }
        })
    }

    fn array(&mut self, elem: &Type) -> Result<Value> {
        self.enter()?;
        let len = self.u32()? as usize;
        if len > MAX_ARRAY {
            return Err(self.err(format_args!("array of {len} bytes, more than {MAX_ARRAY}")));
        }
        self.align(elem.alignment())?;
        if len > self.buf.len() - self.pos {
            return Err(self.err(format_args!(
                "array of {len} bytes, {} left",
                self.buf.len() - self.pos
            )));
        }
        let end = self.pos + len;
        // Every element takes at least one byte, so this loop ends, and
        // what it keeps is in proportion to the bytes really there.
        let mut items = Vec::new();
        while self.pos < end {
            items.push(self.value(elem)?);
        }
        if self.pos != end {
            return Err(self.err(format_args!("array element past the array's end {end}")));
        }
        self.depth -= 1;
        Ok(Value::Array(elem.signature(), items))
    }
}
