//! Server addresses: `unix:path=…` and `unix:abstract=…`, several of them
//! separated by `;` to be tried in order, values %-escaped as the spec
//! says. Other transports (tcp, launchd…) are refused, one by one, so
//! that a list holding a unix address after them still works.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A socket in the filesystem.
    Path(PathBuf),
    /// A name in the abstract namespace of the network namespace.
    Abstract(Vec<u8>),
}

impl fmt::Display for Address {
    /// In the address syntax, escaped, so that it reads as it was given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (key, bytes) = match self {
            Address::Path(p) => ("path", p.as_os_str().as_encoded_bytes()),
            Address::Abstract(a) => ("abstract", a.as_slice()),
        };
        write!(f, "unix:{key}=")?;
        for &b in bytes {
            if plain(b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// The bytes a value may hold unescaped.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_/.\\*".contains(&b)
}

/// Each address of a `;`-separated list, or why it cannot be used, in
/// the list's order.
pub fn parse_list(list: &str) -> Vec<Result<Address>> {
    let entries: Vec<&str> = list.split(';').filter(|e| !e.is_empty()).collect();
    if entries.is_empty() {
        return vec![Err(Error::invalid("empty D-Bus address"))];
    }
    entries.into_iter().map(parse).collect()
}

pub fn parse(entry: &str) -> Result<Address> {
    let bad = |why: &str| Error::invalid(format!("D-Bus address {entry:?}: {why}"));
    let Some((transport, params)) = entry.split_once(':') else {
        return Err(bad("no transport (unix:path=… expected)"));
    };
    if transport != "unix" {
        return Err(bad("only unix sockets are supported"));
    }
    let mut found = None;
    for kv in params.split(',').filter(|kv| !kv.is_empty()) {
        let Some((key, value)) = kv.split_once('=') else {
            return Err(bad("a parameter without '='"));
        };
        let value = unescape(value).map_err(|why| bad(&why))?;
        let address = match key {
            "path" => Address::Path(PathBuf::from(OsString::from_vec(value))),
            "abstract" => Address::Abstract(value),
            // The server's id, which berth has no use for.
            "guid" => continue,
            "runtime" | "dir" | "tmpdir" => {
                return Err(bad(&format!(
                    "{key}= is for servers to listen on, not to connect to"
                )))
            }
            _ => return Err(bad(&format!("unknown parameter {key:?}"))),
        };
        if found.replace(address).is_some() {
            return Err(bad("more than one of path= and abstract="));
        }
    }
    found.ok_or_else(|| bad("neither path= nor abstract="))
}

fn unescape(value: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next(), bytes.next()];
            let digit = |d: Option<u8>| d.and_then(|d| (d as char).to_digit(16));
            match (digit(hex[0]), digit(hex[1])) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err("'%' not followed by two hex digits".into()),
            }
        } else if plain(b) {
            out.push(b);
        } else {
            return Err(format!("byte {:?} should have been %-escaped", b as char));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_addresses() {
        assert_eq!(
            parse("unix:path=/run/dbus/system_bus_socket").unwrap(),
            Address::Path("/run/dbus/system_bus_socket".into())
        );
        assert_eq!(
            parse("unix:abstract=/tmp/dbus-U8OSdmf7,guid=1234").unwrap(),
            Address::Abstract(b"/tmp/dbus-U8OSdmf7".to_vec())
        );
        assert_eq!(
            parse("unix:path=/a%20b%2c%3Bc").unwrap(),
            Address::Path("/a b,;c".into())
        );
        let a = Address::Path("/run/user/1000/a b".into());
        assert_eq!(a.to_string(), "unix:path=/run/user/1000/a%20b");
        assert_eq!(parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn bad_addresses_say_why() {
        for (a, why) in [
            ("tcp:host=localhost,port=1", "only unix sockets"),
            ("/run/bus", "no transport"),
            ("unix:", "neither path= nor abstract="),
            ("unix:path=/a,abstract=b", "more than one"),
            ("unix:path", "without '='"),
            ("unix:path=/a%2", "two hex digits"),
            ("unix:path=/a%zz", "two hex digits"),
            ("unix:path=/a b", "should have been %-escaped"),
            ("unix:runtime=yes", "for servers to listen on"),
            ("unix:path=/a,color=blue", "unknown parameter"),
        ] {
            let e = parse(a).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(a), "{a}: {e}");
        }
    }

    #[test]
    fn lists_keep_their_order_and_their_failures() {
        let list = parse_list("tcp:host=x;unix:path=/a;;unix:abstract=b");
        assert_eq!(list.len(), 3);
        assert!(list[0].is_err());
        assert_eq!(list[1].as_ref().unwrap(), &Address::Path("/a".into()));
        assert_eq!(list[2].as_ref().unwrap(), &Address::Abstract(b"b".to_vec()));
        assert!(parse_list("")[0].is_err());
    }
}
