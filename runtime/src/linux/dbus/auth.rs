//! Authentication: SASL EXTERNAL, the only mechanism a system bus and
//! systemd accept over a unix socket. The server compares the uid the
//! client claims with the one the kernel gives it for the socket's peer,
//! in the server's user namespace; so a process in a user namespace
//! (podman rootless runs the runtime as uid 0 in its own) claims its uid
//! as seen from outside, through /proc/self/uid_map.

use std::fmt::Write;
use std::time::Instant;

use super::transport::Transport;
use crate::error::{Error, Result, SysResult};

/// The uid `uid` in this process's user namespace is in the parent
/// namespace, per the lines of a uid_map ("inside outside count").
pub fn map_uid(uid_map: &str, uid: u32) -> Option<u32> {
    uid_map.lines().find_map(|line| {
        let mut n = line.split_whitespace().map(|w| w.parse::<u64>().ok());
        let (inside, outside, count) = (n.next()??, n.next()??, n.next()??);
        let uid = u64::from(uid);
        (inside <= uid && uid < inside + count)
            .then(|| u32::try_from(outside + (uid - inside)).ok())
            .flatten()
    })
}

/// The effective uid as the bus sees it. One level up: a bus in the user
/// namespace's parent, as the host's bus is for podman's namespace.
pub fn outer_uid() -> Result<u32> {
    let euid = nix::unistd::geteuid().as_raw();
    let path = std::path::Path::new("/proc/self/uid_map");
    match std::fs::read_to_string(path) {
        Ok(map) => map_uid(&map, euid).ok_or_else(|| {
            Error::invalid(format!(
                "D-Bus authentication: uid {euid} is not mapped outside this user namespace \
                 ({}: {:?})",
                path.display(),
                map.trim()
            ))
        }),
        // A kernel without user namespaces.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(euid),
        Err(e) => Err(e).sys_path("read", path),
    }
}

/// "AUTH EXTERNAL <uid in decimal, hex-encoded>" and BEGIN, in one write
/// (pipelined, as the spec allows a client sure of its mechanism), then
/// the server's OK. No descriptor passing is negotiated: berth sends and
/// receives none.
///
/// Why pipelined: systemd's private socket (sd-bus as a server) leaves a
/// message that it read in the same read(2) as BEGIN unprocessed until
/// more bytes arrive. A client that sends BEGIN only after OK, and its
/// first call right behind it, had that call ignored until it timed out,
/// in about half of the connections seen in the systemd guest (Debian
/// 13's systemd 257). With BEGIN in the first write, the server has taken
/// it with AUTH before it answers OK, and so before the first call.
pub(super) fn authenticate(t: &mut Transport, uid: u32, deadline: Instant) -> Result<()> {
    let mut hex = String::new();
    for b in uid.to_string().bytes() {
        let _ = write!(hex, "{b:02x}");
    }
    // The spec's first byte: a NUL, with which some systems pass
    // credentials (Linux reads them from the socket instead).
    t.send(
        format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes(),
        deadline,
    )?;
    let line = t.read_line(deadline)?;
    let (command, rest) = line.split_once(' ').unwrap_or((&line, ""));
    let why = match command {
        "OK" => return Ok(()),
        "REJECTED" => format!(
            "the server rejected EXTERNAL authentication as uid {uid} (it accepts: {})",
            if rest.is_empty() {
                "nothing named"
            } else {
                rest
            }
        ),
        "ERROR" => format!("the server answered AUTH EXTERNAL with an error: {rest:?}"),
        _ => format!("unexpected answer to AUTH EXTERNAL: {line:?}"),
    };
    Err(Error::invalid(format!(
        "authenticate to D-Bus at {}: {why}",
        t.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_mapped_outward() {
        let initial = "         0          0 4294967295\n";
        assert_eq!(map_uid(initial, 0), Some(0));
        assert_eq!(map_uid(initial, 1000), Some(1000));
        // podman rootless: root inside is the user outside, the rest from
        // /etc/subuid.
        let podman = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(map_uid(podman, 0), Some(1000));
        assert_eq!(map_uid(podman, 1), Some(100000));
        assert_eq!(map_uid(podman, 65536), Some(165535));
        assert_eq!(map_uid(podman, 65537), None);
        assert_eq!(map_uid("", 0), None);
        assert_eq!(map_uid("garbage\n5 7 1\n", 5), Some(7));
        // A map past 2^32 outside cannot be a uid.
        assert_eq!(map_uid("0 4294967295 2\n", 1), None);
    }
}
