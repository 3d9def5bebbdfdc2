//! What both of berth's programs read from the kernel about processes and
//! mounts: /proc/self/mountinfo and pidfds. The runtime and the shim are
//! separate binaries that share no other code, so these live in a crate of
//! their own rather than twice.
//!
//! Errors are nix's: each caller names what it was doing in its own error
//! type.

pub mod mountinfo;
pub mod pidfd;

use std::io::Read;
use std::path::Path;

/// The whole of a small file the kernel makes up as it is read (/proc,
/// cgroupfs), in as few reads as its size allows: such files report a
/// size of 0, so `std::fs::read_to_string` starts with a 32-byte probe
/// and doubles from there, one read(2) each (nine for a mountinfo of
/// 3.5 KB, where this takes two).
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    // Read on the stack and copied out at its size: a 4 KiB heap block
    // each would hold a page of its own while the text lives.
    let mut chunk = [0u8; 4096];
    let mut out = Vec::new();
    loop {
        match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(got) => out.extend_from_slice(&chunk[..got]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(out).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn read_text_reads_a_proc_file_whole_and_past_its_first_buffer() {
        let path = std::path::Path::new("/proc/self/status");
        let t = super::read_text(path).unwrap();
        assert!(t.starts_with("Name:") && t.ends_with('\n'), "{t}");
        let dir = std::env::temp_dir().join(format!("berth-read-text-{}", std::process::id()));
        let big: String = (0..3000).map(|i| format!("{i}\n")).collect();
        std::fs::write(&dir, &big).unwrap();
        let got = super::read_text(&dir);
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(got.unwrap(), big);
        assert!(super::read_text(std::path::Path::new("/nonexistent/x")).is_err());
    }
}
