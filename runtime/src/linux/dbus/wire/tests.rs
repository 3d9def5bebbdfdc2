use super::*;
use crate::linux::dbus::message::{frame_len, Kind, Message};
use crate::linux::dbus::value::signature_of;

fn marshal(values: &[Value]) -> Vec<u8> {
    let mut w = Writer::new();
    for v in values {
        w.value(v).unwrap();
    }
    w.into_bytes()
}

/// Reads `bytes` as values of `sig`, which must take them all.
fn unmarshal(bytes: &[u8], sig: &str, big: bool) -> Result<Vec<Value>> {
    let mut r = Reader::new(bytes, 0, big);
    let mut values = Vec::new();
    for t in signature::parse(sig)? {
        values.push(r.value(&t)?);
    }
    assert_eq!(r.pos(), bytes.len(), "{sig}: bytes left over");
    Ok(values)
}

fn every_type() -> Vec<Value> {
    vec![
        Value::Byte(0xfe),
        Value::Bool(true),
        Value::Bool(false),
        Value::I16(-2),
        Value::U16(0xfffe),
        Value::I32(-70000),
        Value::U32(0xdead_beef),
        Value::I64(-(1 << 40)),
        Value::U64(u64::MAX - 1),
        Value::Double(-1.5e300),
        Value::str("héllo"),
        Value::str(""),
        Value::object_path("/org/freedesktop/systemd1/unit/berth_2dx_2escope"),
        Value::Signature("a{sv}(ia(sv))".into()),
        Value::UnixFd(3),
        Value::Array("i".into(), vec![Value::I32(1), Value::I32(2)]),
        Value::Array("(sv)".into(), vec![]),
        Value::Struct(vec![Value::Byte(1), Value::U64(2), Value::str("x")]),
        Value::dict(
            "s",
            "v",
            [
                (Value::str("Delegate"), Value::variant(Value::Bool(true))),
                (
                    Value::str("PIDs"),
                    Value::variant(Value::Array("u".into(), vec![Value::U32(42)])),
                ),
            ],
        ),
        Value::variant(Value::variant(Value::variant(Value::str("deep")))),
        Value::Array(
            "ay".into(),
            vec![
                Value::Array("y".into(), vec![]),
                Value::Array("y".into(), vec![Value::Byte(9)]),
            ],
        ),
    ]
}

#[test]
fn every_type_round_trips() {
    let values = every_type();
    let sig = signature_of(&values);
    assert_eq!(sig, "ybbnqiuxtdssoghaia(sv)(yts)a{sv}vaay");
    let bytes = marshal(&values);
    assert_eq!(unmarshal(&bytes, &sig, false).unwrap(), values);
    // Each alone too, at every offset from 0 to 7 after some bytes, so
    // that every padding length is met.
    for v in &values {
        for lead in 0..8 {
            let mut all: Vec<Value> = (0..lead).map(|_| Value::Byte(0xaa)).collect();
            all.push(v.clone());
            let bytes = marshal(&all);
            let sig = signature_of(&all);
            assert_eq!(unmarshal(&bytes, &sig, false).unwrap(), all, "{sig}");
        }
    }
}

#[test]
fn the_specs_examples() {
    // Strings 'foo', '+' and 'bar'.
    assert_eq!(
        marshal(&[Value::str("foo"), Value::str("+"), Value::str("bar")]),
        b"\x03\0\0\0foo\0\x01\0\0\0+\0\0\0\x03\0\0\0bar\0"
    );
    // An array holding the int64 5: the length counts no padding.
    assert_eq!(
        marshal(&[Value::Array("x".into(), vec![Value::I64(5)])]),
        [8, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
    );
    // A variant holding the uint64 5.
    assert_eq!(
        marshal(&[Value::variant(Value::U64(5))]),
        [1, b't', 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn alignment_cases() {
    // A struct after a byte starts at 8.
    assert_eq!(
        marshal(&[Value::Byte(1), Value::Struct(vec![Value::I32(2)])]),
        [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]
    );
    // An empty array of structs still pads to its element's boundary.
    assert_eq!(
        marshal(&[Value::Array("(i)".into(), vec![])]),
        [0, 0, 0, 0, 0, 0, 0, 0]
    );
    // ...after a byte: length at 4, already at 8 after it.
    assert_eq!(
        marshal(&[Value::Byte(7), Value::Array("(i)".into(), vec![])]),
        [7, 0, 0, 0, 0, 0, 0, 0]
    );
    // An int16 after a byte; an empty array of int32 after a byte.
    assert_eq!(
        marshal(&[Value::Byte(1), Value::I16(-1)]),
        [1, 0, 0xff, 0xff]
    );
    assert_eq!(
        marshal(&[Value::Byte(1), Value::Array("i".into(), vec![])]),
        [1, 0, 0, 0, 0, 0, 0, 0]
    );
    // a{sv}: the entry at 8, its variant's value at 20; the length (16)
    // counts from the first entry.
    assert_eq!(
        marshal(&[Value::dict(
            "s",
            "v",
            [(Value::str("a"), Value::variant(Value::U32(1)))]
        )]),
        [
            16, 0, 0, 0, 0, 0, 0, 0, // length, padding to the entry
            1, 0, 0, 0, b'a', 0, // key
            1, b'u', 0, 0, 0, 0, // variant's signature, padding
            1, 0, 0, 0, // value
        ]
    );
    // Nested variants: each signature is 'v' until the innermost.
    assert_eq!(
        marshal(&[Value::variant(Value::variant(Value::Byte(9)))]),
        [1, b'v', 0, 1, b'y', 0, 9]
    );
}

#[test]
fn big_endian_is_read() {
    let bytes = [
        0x12, 0x34, 0, 0, // n
        0, 0, 0, 1, // b
        0, 0, 0, 0, 0, 0, 0, 0x2a, // t at 8
        0x3f, 0xf8, 0, 0, 0, 0, 0, 0, // d 1.5
        0, 0, 0, 2, b'h', b'i', 0, 0, // s then padding
        0, 0, 0, 8, 0, 0, 0, 0, // ax: 8 bytes
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // -2
    ];
    assert_eq!(
        unmarshal(&bytes, "nbtdsax", true).unwrap(),
        [
            Value::I16(0x1234),
            Value::Bool(true),
            Value::U64(42),
            Value::Double(1.5),
            Value::str("hi"),
            Value::Array("x".into(), vec![Value::I64(-2)]),
        ]
    );
}

/// A method return in big-endian: reply serial 1, body (s "hé", u).
fn big_endian_message() -> Vec<u8> {
    let mut m = vec![b'B', 2, 0, 1, 0, 0, 0, 12, 0, 0, 0, 7, 0, 0, 0, 16];
    m.extend_from_slice(&[5, 1, b'u', 0, 0, 0, 0, 1]); // REPLY_SERIAL
    m.extend_from_slice(&[8, 1, b'g', 0, 2, b's', b'u', 0]); // SIGNATURE
    m.extend_from_slice(&[0, 0, 0, 3, b'h', 0xc3, 0xa9, 0]);
    m.extend_from_slice(&[1, 2, 3, 4]);
    m
}

#[test]
fn a_big_endian_message_is_read() {
    let m = Message::decode(&big_endian_message()).unwrap().unwrap();
    assert_eq!(m.kind, Kind::MethodReturn);
    assert_eq!(m.serial, 7);
    assert_eq!(m.reply_serial, Some(1));
    assert_eq!(m.body, [Value::str("hé"), Value::U32(0x01020304)]);
}

#[test]
fn messages_round_trip() {
    let mut call = Message::method_call(
        Some("org.freedesktop.systemd1"),
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "StartTransientUnit",
        vec![
            Value::str("berth-x.scope"),
            Value::str("fail"),
            Value::Array(
                "(sv)".into(),
                vec![Value::Struct(vec![
                    Value::str("PIDs"),
                    Value::variant(Value::Array("u".into(), vec![Value::U32(1)])),
                ])],
            ),
            Value::Array("(sa(sv))".into(), vec![]),
        ],
    );
    call.serial = 3;
    let bytes = call.encode().unwrap();
    assert_eq!(
        bytes.len() % 8,
        0,
        "this body happens to end at a multiple of 8"
    );
    let head: &[u8; 16] = bytes[..16].try_into().unwrap();
    assert_eq!(frame_len(head).unwrap(), bytes.len());
    assert_eq!(Message::decode(&bytes).unwrap().unwrap(), call);

    let mut signal = Message::signal("/x", "a.b", "C", vec![]);
    signal.serial = u32::MAX;
    signal.sender = Some(":1.7".into());
    let bytes = signal.encode().unwrap();
    assert_eq!(Message::decode(&bytes).unwrap().unwrap(), signal);

    let mut error = Message::error(
        &call,
        "org.freedesktop.systemd1.UnitExists",
        "Unit x exists.",
    );
    error.serial = 9;
    let back = Message::decode(&error.encode().unwrap()).unwrap().unwrap();
    assert_eq!(back.reply_serial, Some(3));
    assert_eq!(
        back.error_name.as_deref(),
        Some("org.freedesktop.systemd1.UnitExists")
    );
}

fn err(r: Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn malformed_values_are_errors() {
    for (bytes, sig, why) in [
        (&b"\x05\0\0\0abc"[..], "s", "bytes wanted"),
        (b"\xff\xff\xff\xffabc", "s", "bytes wanted"),
        (b"\x03\0\0\0abcd", "s", "not ended by a NUL"),
        (b"\x03\0\0\0a\0c\0", "s", "holding a NUL"),
        (b"\x02\0\0\0\xc3\x28\0", "s", "not UTF-8"),
        (b"\x03\0\0\0/a/\0", "o", "invalid object path"),
        (b"\x02a{\0", "g", "invalid D-Bus signature"),
        (b"\x02\0\0\0", "b", "boolean 2"),
        (b"\x01\x01", "yq", "padding that is not zero"),
        (b"\0\0\0\x04\0\0\0\0", "ai", "array of 67108864"),
        (b"\x08\0\0\0\x01\0\0\0", "ai", "array of 8 bytes, 4 left"),
        // Two strings said to take 6 bytes: the second runs past.
        (
            b"\x05\0\0\0\x01\0\0\0a\0\0\0\x01\0\0\0b\0",
            "as",
            "past the array's end",
        ),
        (b"\x04\0\0\0\x01\0\0\0", "a(i)", "padding that is not zero"),
        (b"\x02ii\0", "v", "one complete type expected"),
        (b"\x00\0", "v", "found none"),
        (b"\x01", "u", "4 bytes wanted, 1 left"),
    ] {
        let e = err(unmarshal(bytes, sig, false));
        assert!(e.contains(why), "{sig} {bytes:?}: {e}");
        assert!(e.contains("malformed D-Bus message"), "{e}");
    }
}

#[test]
fn nesting_deeper_than_64_is_refused() {
    // Variants in variants: 64 are allowed, 65 not.
    let nested = |n: usize| {
        let mut b = b"\x01v\0".repeat(n - 1);
        b.extend_from_slice(b"\x01y\0\x09");
        b
    };
    assert!(unmarshal(&nested(64), "v", false).is_ok());
    assert!(err(unmarshal(&nested(65), "v", false)).contains("nested more than 64"));
    // 32 arrays of 32 structs in a signature, inside a variant: 65,
    // even with no element to go that deep.
    let sig = format!("{}{}y{}", "a".repeat(32), "(".repeat(32), ")".repeat(32));
    let mut b = vec![sig.len() as u8];
    b.extend_from_slice(sig.as_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // an empty outer array
    assert!(err(unmarshal(&b, "v", false)).contains("nested more than 64"));

    let mut v = Value::Byte(1);
    for _ in 0..64 {
        v = Value::variant(v);
    }
    assert!(Writer::new().value(&v).is_ok());
    let e = err(Writer::new().value(&Value::variant(v)));
    assert!(e.contains("nested more than 64"), "{e}");
}

#[test]
fn what_cannot_be_sent_is_refused() {
    let write = |v: Value| Writer::new().value(&v).map(|_| ());
    assert!(err(write(Value::str("a\0b"))).contains("NUL"));
    assert!(err(write(Value::object_path("a/b"))).contains("invalid D-Bus object path"));
    assert!(err(write(Value::Signature("a".into()))).contains("invalid D-Bus signature"));
    assert!(err(write(Value::Struct(vec![]))).contains("no field"));
    assert!(err(write(Value::Array("s".into(), vec![Value::U32(1)]))).contains("holds a \"u\""));
    assert!(err(write(Value::Array("{vs}".into(), vec![]))).contains("key is not a basic type"));
    let entry = Value::DictEntry(Box::new(Value::str("k")), Box::new(Value::U32(1)));
    assert!(err(write(Value::variant(entry.clone()))).contains("dict entry outside an array"));
    let mut m = Message::signal("/a", "a.b", "C", vec![entry]);
    m.serial = 1;
    assert!(err(m.encode()).contains("dict entry outside an array"));
    // One string fills the array: its length and NUL make it too long.
    let big = Value::Array("s".into(), vec![Value::Str("x".repeat(MAX_ARRAY))]);
    assert!(err(write(big)).contains("the limit is 67108864"));
}

#[test]
fn malformed_messages_are_errors() {
    let good = big_endian_message();
    let with = |at: usize, b: u8| {
        let mut m = good.clone();
        m[at] = b;
        m
    };
    assert!(err(Message::decode(&with(0, b'x'))).contains("byte order 0x78"));
    assert!(err(Message::decode(&with(3, 2))).contains("protocol version 2"));
    assert!(err(Message::decode(&with(1, 0))).contains("message type 0"));
    assert!(err(Message::decode(&with(11, 0))).contains("serial 0"));
    // A method return without its reply serial (field 5 made 50, which
    // is ignored as a later version's).
    assert!(err(Message::decode(&with(16, 50))).contains("without a reply serial"));
    // The reply serial field given as an int32.
    let e = err(Message::decode(&with(18, b'i')));
    assert!(e.contains("header field 5 of type \"i\""), "{e}");
    // The signature field as code 5 too: twice.
    assert!(err(Message::decode(&with(24, 5))).contains("header field 5 twice"));
    // A body longer than its signature says.
    let mut long = good.clone();
    long[7] = 16;
    long.extend_from_slice(&[0; 4]);
    assert!(err(Message::decode(&long)).contains("ends at byte 44, the message at 48"));
    // A type from a later version of the spec is skipped, not an error.
    assert_eq!(Message::decode(&with(1, 9)).unwrap(), None);
    // Every truncation is an error.
    for n in 0..good.len() {
        assert!(Message::decode(&good[..n]).is_err(), "{n} bytes");
    }
    // Sizes past the spec's limit are refused from the header alone.
    let mut head: [u8; 16] = good[..16].try_into().unwrap();
    head[4..8].copy_from_slice(&(1u32 << 27).to_be_bytes());
    assert!(err(frame_len(&head)).contains("more than 134217728"));
    head[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    head[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(err(frame_len(&head)).contains("more than 134217728"));
}

/// Every byte of real messages changed to a few values: an error or a
/// message, never a panic (the fuzz target does this at length).
#[test]
fn corrupted_messages_never_panic() {
    let mut call = Message::method_call(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "AddMatch",
        every_type(),
    );
    call.serial = 5;
    for good in [big_endian_message(), call.encode().unwrap()] {
        for at in 0..good.len() {
            for b in [0, 1, 2, 0x7f, 0x80, 0xff, b'a', b'v', b'(', b'{'] {
                let mut m = good.clone();
                m[at] = b;
                let _ = Message::decode(&m);
            }
        }
    }
}
