//! The spec's rules for the names a message carries (object paths,
//! interface, member, error and bus names). berth checks what it sends, so
//! that a typo is an error naming the name rather than a bus that drops
//! the connection, and what it receives, as the spec asks of a peer.

use crate::error::{Error, Result};

/// Bus names, interfaces, members and error names are at most this long.
const MAX_NAME: usize = 255;

fn element_ok(e: &str, leading_digit: bool, hyphen: bool) -> bool {
    let mut bytes = e.bytes();
    match bytes.next() {
        None => false,
        Some(c) if c.is_ascii_digit() && !leading_digit => false,
        Some(_) => e
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || (hyphen && c == b'-')),
    }
}

pub fn object_path_ok(p: &str) -> bool {
    p == "/" || (p.starts_with('/') && p[1..].split('/').all(|e| element_ok(e, true, false)))
}

pub fn check_object_path(p: &str) -> Result<()> {
    if object_path_ok(p) {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid D-Bus object path {p:?}")))
    }
}

/// Interface and error names: two or more dotted elements.
pub fn interface_ok(n: &str) -> bool {
    n.len() <= MAX_NAME && n.contains('.') && n.split('.').all(|e| element_ok(e, false, false))
}

pub fn member_ok(n: &str) -> bool {
    n.len() <= MAX_NAME && element_ok(n, false, false)
}

/// Well-known names (`org.freedesktop.systemd1`) and unique ones (`:1.42`,
/// whose elements may start with a digit).
pub fn bus_name_ok(n: &str) -> bool {
    if n.len() > MAX_NAME {
        return false;
    }
    let (unique, rest) = match n.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, n),
    };
    rest.contains('.') && rest.split('.').all(|e| element_ok(e, unique, true))
}

/// Checks one name of a message, `what` saying which header field it is.
pub fn check(what: &str, name: &str, ok: fn(&str) -> bool) -> Result<()> {
    if ok(name) {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid D-Bus {what} {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths() {
        for ok in [
            "/",
            "/org/freedesktop/systemd1",
            "/a_1/B2",
            "/org/freedesktop/systemd1/job/42",
        ] {
            assert!(object_path_ok(ok), "{ok}");
        }
        for bad in ["", "a", "//", "/a/", "/a//b", "/a-b", "/é", "/a.b"] {
            assert!(!object_path_ok(bad), "{bad}");
        }
    }

    #[test]
    fn interfaces_members_and_bus_names() {
        assert!(interface_ok("org.freedesktop.systemd1.Manager"));
        assert!(!interface_ok("Manager"));
        assert!(!interface_ok("org.7zip.X"));
        assert!(!interface_ok("org..x"));
        assert!(!interface_ok("org.free-desktop"));
        assert!(!interface_ok(&format!("a.{}", "b".repeat(254))));
        assert!(member_ok("StartTransientUnit"));
        assert!(!member_ok("Start.Unit"));
        assert!(!member_ok("1Start"));
        assert!(!member_ok(""));
        assert!(bus_name_ok("org.freedesktop.systemd1"));
        assert!(bus_name_ok("org.free-desktop.x"));
        assert!(bus_name_ok(":1.42"));
        assert!(!bus_name_ok("org.7zip"));
        assert!(!bus_name_ok("systemd"));
        assert!(!bus_name_ok(":1"));
        assert!(!bus_name_ok(".org.x"));
    }
}
