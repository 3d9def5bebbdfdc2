//! The values a message carries. Each knows its own signature, so that a
//! body's signature is computed rather than written by hand; an array
//! carries its element's signature, so that an empty one has a type too.

/// One D-Bus value of any type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    ObjectPath(String),
    Signature(String),
    /// An index into the descriptors sent with the message (berth
    /// negotiates no descriptor passing, so it never receives any).
    UnixFd(u32),
    /// The element signature (`s`, `(sv)`, `{sv}`…) and the elements.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    /// Only as an element of an array (`a{…}`).
    DictEntry(Box<Value>, Box<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn signature(&self) -> String {
        let mut s = String::new();
        self.write_signature(&mut s);
        s
    }

    pub(super) fn write_signature(&self, out: &mut String) {
        match self {
            Value::Byte(_) => out.push('y'),
            Value::Bool(_) => out.push('b'),
            Value::I16(_) => out.push('n'),
            Value::U16(_) => out.push('q'),
            Value::I32(_) => out.push('i'),
            Value::U32(_) => out.push('u'),
            Value::I64(_) => out.push('x'),
            Value::U64(_) => out.push('t'),
            Value::Double(_) => out.push('d'),
            Value::Str(_) => out.push('s'),
            Value::ObjectPath(_) => out.push('o'),
            Value::Signature(_) => out.push('g'),
            Value::UnixFd(_) => out.push('h'),
            Value::Array(elem, _) => {
                out.push('a');
                out.push_str(elem);
            }
            Value::Struct(fields) => {
                out.push('(');
                for f in fields {
                    f.write_signature(out);
                }
                out.push(')');
            }
            Value::DictEntry(k, v) => {
                out.push('{');
                k.write_signature(out);
                v.write_signature(out);
                out.push('}');
            }
            Value::Variant(_) => out.push('v'),
        }
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn object_path(s: impl Into<String>) -> Value {
        Value::ObjectPath(s.into())
    }

    pub fn variant(v: Value) -> Value {
        Value::Variant(Box::new(v))
    }

    /// An `a{KV}` from its entries, `key` and `value` the signatures of K
    /// and V (so that an empty dict has a type).
    pub fn dict(
        key: &str,
        value: &str,
        entries: impl IntoIterator<Item = (Value, Value)>,
    ) -> Value {
        Value::Array(
            format!("{{{key}{value}}}"),
            entries
                .into_iter()
                .map(|(k, v)| Value::DictEntry(Box::new(k), Box::new(v)))
                .collect(),
        )
    }

    /// The text of a string, an object path or a signature.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Any unsigned integer up to 32 bits.
    pub fn as_u32(&self) -> Option<u32> {
        match *self {
            Value::Byte(n) => Some(n.into()),
            Value::U16(n) => Some(n.into()),
            Value::U32(n) => Some(n),
            _ => None,
        }
    }

    /// Any unsigned integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(n) => Some(n),
            _ => self.as_u32().map(u64::from),
        }
    }

    /// Any signed integer.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I16(n) => Some(n.into()),
            Value::I32(n) => Some(n.into()),
            Value::I64(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Double(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(_, items) => Some(items),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&[Value]> {
        match self {
            Value::Struct(fields) => Some(fields),
            _ => None,
        }
    }

    /// A dict entry's key and value.
    pub fn as_entry(&self) -> Option<(&Value, &Value)> {
        match self {
            Value::DictEntry(k, v) => Some((k, v)),
            _ => None,
        }
    }

    /// What a variant holds.
    pub fn as_variant(&self) -> Option<&Value> {
        match self {
            Value::Variant(v) => Some(v),
            _ => None,
        }
    }
}

/// The signature of a message body.
pub fn signature_of(values: &[Value]) -> String {
    let mut s = String::new();
    for v in values {
        v.write_signature(&mut s);
    }
    s
}
