//! Messages: the fixed header (byte order, type, flags, version, body
//! length, serial), the header fields, padding to 8, the body.

use super::names;
use super::signature::{self, Type};
use super::value::{signature_of, Value};
use super::wire::{Reader, Writer, MAX_MESSAGE};
use crate::error::{Error, Result};

/// The header up to the length of its field array.
pub const FIXED_HEADER: usize = 16;

/// The method call wants no reply.
pub const NO_REPLY_EXPECTED: u8 = 0x1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MethodCall = 1,
    MethodReturn = 2,
    Error = 3,
    Signal = 4,
}

mod field {
    pub const PATH: u8 = 1;
    pub const INTERFACE: u8 = 2;
    pub const MEMBER: u8 = 3;
    pub const ERROR_NAME: u8 = 4;
    pub const REPLY_SERIAL: u8 = 5;
    pub const DESTINATION: u8 = 6;
    pub const SENDER: u8 = 7;
    pub const SIGNATURE: u8 = 8;
    pub const UNIX_FDS: u8 = 9;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: Kind,
    pub flags: u8,
    /// Given by [`super::Connection`] when it sends the message.
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub destination: Option<String>,
    pub sender: Option<String>,
    pub body: Vec<Value>,
}

impl Message {
    fn new(kind: Kind) -> Message {
        Message {
            kind,
            flags: 0,
            serial: 0,
            reply_serial: None,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            destination: None,
            sender: None,
            body: Vec::new(),
        }
    }

    pub fn method_call(
        destination: Option<&str>,
        path: &str,
        interface: &str,
        member: &str,
        body: Vec<Value>,
    ) -> Message {
        Message {
            destination: destination.map(str::to_owned),
            path: Some(path.to_owned()),
            interface: Some(interface.to_owned()),
            member: Some(member.to_owned()),
            body,
            ..Message::new(Kind::MethodCall)
        }
    }

    pub fn signal(path: &str, interface: &str, member: &str, body: Vec<Value>) -> Message {
        Message {
            path: Some(path.to_owned()),
            interface: Some(interface.to_owned()),
            member: Some(member.to_owned()),
            body,
            ..Message::new(Kind::Signal)
        }
    }

    pub fn method_return(call: &Message, body: Vec<Value>) -> Message {
        Message {
            reply_serial: Some(call.serial),
            destination: call.sender.clone(),
            body,
            ..Message::new(Kind::MethodReturn)
        }
    }

    pub fn error(call: &Message, name: &str, text: &str) -> Message {
        Message {
            reply_serial: Some(call.serial),
            destination: call.sender.clone(),
            error_name: Some(name.to_owned()),
            body: vec![Value::str(text)],
            ..Message::new(Kind::Error)
        }
    }

    /// A signal `interface.member`?
    pub fn is_signal(&self, interface: &str, member: &str) -> bool {
        self.kind == Kind::Signal && self.is(interface, member)
    }

    /// A method call to `interface.member`?
    pub fn is_call(&self, interface: &str, member: &str) -> bool {
        self.kind == Kind::MethodCall && self.is(interface, member)
    }

    fn is(&self, interface: &str, member: &str) -> bool {
        self.interface.as_deref() == Some(interface) && self.member.as_deref() == Some(member)
    }

    pub fn signature(&self) -> String {
        signature_of(&self.body)
    }

    /// `interface.member` (or `member`), for messages about this message.
    pub fn name(&self) -> String {
        match (&self.interface, &self.member) {
            (Some(i), Some(m)) => format!("{i}.{m}"),
            (None, Some(m)) => m.clone(),
            _ => self.error_name.clone().unwrap_or_default(),
        }
    }

    /// The message in the wire format, little-endian.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.check()?;
        let sig = self.signature();
        signature::parse(&sig)?;
        let mut fields = Vec::new();
        let mut field = |code: u8, v: Value| {
            fields.push(Value::Struct(vec![Value::Byte(code), Value::variant(v)]))
        };
        if let Some(p) = &self.path {
            field(field::PATH, Value::object_path(p.as_str()));
        }
        for (code, v) in [
            (field::INTERFACE, &self.interface),
            (field::MEMBER, &self.member),
            (field::ERROR_NAME, &self.error_name),
            (field::DESTINATION, &self.destination),
            (field::SENDER, &self.sender),
        ] {
            if let Some(v) = v {
                field(code, Value::str(v.as_str()));
            }
        }
        if let Some(r) = self.reply_serial {
            field(field::REPLY_SERIAL, Value::U32(r));
        }
        if !sig.is_empty() {
            field(field::SIGNATURE, Value::Signature(sig));
        }

        let mut w = Writer::new();
        w.byte(b'l');
        w.byte(self.kind as u8);
        w.byte(self.flags);
        w.byte(1);
        w.u32(0);
        w.u32(self.serial);
        w.value(&Value::Array("(yv)".into(), fields))?;
        w.align(8);
        let body_start = w.len();
        for v in &self.body {
            w.value(v)?;
        }
        if w.len() > MAX_MESSAGE {
            return Err(Error::invalid(format!(
                "D-Bus message {} of {} bytes: the limit is {MAX_MESSAGE}",
                self.name(),
                w.len()
            )));
        }
        let body_len = w.len() - body_start;
        w.patch_u32(4, body_len as u32);
        Ok(w.into_bytes())
    }

    /// The header fields this kind of message must have, and the names it
    /// carries valid.
    fn check(&self) -> Result<()> {
        if self.serial == 0 {
            return Err(Error::invalid("D-Bus message with serial 0"));
        }
        let (path, iface, member, error, reply) = match self.kind {
            Kind::MethodCall => (true, false, true, false, false),
            Kind::MethodReturn => (false, false, false, false, true),
            Kind::Error => (false, false, false, true, true),
            Kind::Signal => (true, true, true, false, false),
        };
        for (needed, present, what) in [
            (path, self.path.is_some(), "path"),
            (iface, self.interface.is_some(), "interface"),
            (member, self.member.is_some(), "member"),
            (error, self.error_name.is_some(), "error name"),
            (reply, self.reply_serial.is_some(), "reply serial"),
        ] {
            if needed && !present {
                return Err(Error::invalid(format!(
                    "D-Bus {:?} message {} without a {what}",
                    self.kind,
                    self.name()
                )));
            }
        }
        if let Some(p) = &self.path {
            names::check_object_path(p)?;
        }
        if let Some(i) = &self.interface {
            names::check("interface name", i, names::interface_ok)?;
        }
        if let Some(m) = &self.member {
            names::check("member name", m, names::member_ok)?;
        }
        if let Some(e) = &self.error_name {
            names::check("error name", e, names::interface_ok)?;
        }
        for n in [&self.destination, &self.sender].into_iter().flatten() {
            names::check("bus name", n, names::bus_name_ok)?;
        }
        Ok(())
    }

    /// The message in `bytes`, which hold it exactly ([`frame_len`] says
    /// how many bytes that is). None for a message of a type this version
    /// of the spec does not define, which a peer must ignore.
    pub fn decode(bytes: &[u8]) -> Result<Option<Message>> {
        let head: &[u8; FIXED_HEADER] =
            bytes
                .get(..FIXED_HEADER)
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| malformed(format_args!("{} bytes, no whole header", bytes.len())))?;
        let len = frame_len(head)?;
        if len != bytes.len() {
            return Err(malformed(format_args!(
                "{} bytes where the header says {len}",
                bytes.len()
            )));
        }
        let big = head[0] == b'B';
        let kind = match head[1] {
            0 => return Err(malformed("message type 0")),
            1 => Some(Kind::MethodCall),
            2 => Some(Kind::MethodReturn),
            3 => Some(Kind::Error),
            4 => Some(Kind::Signal),
            _ => None,
        };
        let mut r = Reader::new(bytes, 4, big);
        let body_len = r.u32()? as usize;
        let serial = r.u32()?;
        if serial == 0 {
            return Err(malformed("serial 0"));
        }
        let fields_type = Type::Array(Box::new(Type::Struct(vec![Type::Byte, Type::Variant])));
        let header_end = FIXED_HEADER + (u32_at(head, 12, big) as usize);
        let fields = Reader::new(&bytes[..header_end], 12, big).value(&fields_type)?;
        r = Reader::new(bytes, header_end, big);
        r.align(8)?;
        let body_start = r.pos();
        debug_assert_eq!(body_start + body_len, bytes.len());

        // Its kind is set once it is known to be well-formed.
        let mut m = Message::new(Kind::Signal);
        m.flags = head[2];
        m.serial = serial;
        let mut sig = String::new();
        let mut seen = 0u32;
        for f in fields.as_array().unwrap_or_default() {
            let (code, value) = match f.as_struct() {
                Some([Value::Byte(code), Value::Variant(v)]) => (*code, &**v),
                _ => unreachable!("read as (yv)"),
            };
            if code == 0 {
                return Err(malformed("header field 0"));
            }
            if code <= field::UNIX_FDS {
                if seen & (1 << code) != 0 {
                    return Err(malformed(format_args!("header field {code} twice")));
                }
                seen |= 1 << code;
            }
            let wrong = || {
                malformed(format_args!(
                    "header field {code} of type {:?}",
                    value.signature()
                ))
            };
            let text = || match value {
                Value::Str(s) => Ok(Some(s.clone())),
                _ => Err(wrong()),
            };
            match code {
                field::PATH => match value {
                    Value::ObjectPath(p) => m.path = Some(p.clone()),
                    _ => return Err(wrong()),
                },
                field::INTERFACE => m.interface = text()?,
                field::MEMBER => m.member = text()?,
                field::ERROR_NAME => m.error_name = text()?,
                field::DESTINATION => m.destination = text()?,
                field::SENDER => m.sender = text()?,
                field::REPLY_SERIAL => match value {
                    Value::U32(n) => m.reply_serial = Some(*n),
                    _ => return Err(wrong()),
                },
                field::SIGNATURE => match value {
                    Value::Signature(g) => sig = g.clone(),
                    _ => return Err(wrong()),
                },
                field::UNIX_FDS if !matches!(value, Value::U32(_)) => return Err(wrong()),
                // UNIX_FDS (berth takes no descriptors), and fields from a
                // later version of the spec.
                _ => {}
            }
        }

        let types = signature::parse(&sig).map_err(malformed)?;
        let mut body = Vec::with_capacity(types.len());
        for t in &types {
            body.push(r.value(t)?);
        }
        if r.pos() != bytes.len() {
            return Err(malformed(format_args!(
                "body of signature {sig:?} ends at byte {}, the message at {}",
                r.pos(),
                bytes.len()
            )));
        }
        m.body = body;
        let Some(kind) = kind else {
            return Ok(None);
        };
        m.kind = kind;
        m.check().map_err(malformed)?;
        Ok(Some(m))
    }
}

fn malformed(what: impl std::fmt::Display) -> Error {
    Error::invalid(format!("malformed D-Bus message: {what}"))
}

fn u32_at(head: &[u8; FIXED_HEADER], at: usize, big: bool) -> u32 {
    let b = [head[at], head[at + 1], head[at + 2], head[at + 3]];
    if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// How many bytes the message that starts with `head` takes in all,
/// refused past the spec's limit before anything is read or allocated.
pub fn frame_len(head: &[u8; FIXED_HEADER]) -> Result<usize> {
    let big = match head[0] {
        b'l' => false,
        b'B' => true,
        b => return Err(malformed(format_args!("byte order {b:#04x}"))),
    };
    if head[3] != 1 {
        return Err(malformed(format_args!(
            "protocol version {} (1 expected)",
            head[3]
        )));
    }
    let body = u64::from(u32_at(head, 4, big));
    let fields = u64::from(u32_at(head, 12, big));
    let header = (FIXED_HEADER as u64 + fields).next_multiple_of(8);
    let total = header + body;
    if total > MAX_MESSAGE as u64 {
        return Err(malformed(format_args!(
            "{total} bytes, more than {MAX_MESSAGE}"
        )));
    }
    Ok(total as usize)
}
