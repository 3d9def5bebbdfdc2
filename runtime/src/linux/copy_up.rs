//! `tmpcopyup`, runc's and crun's mount option for a tmpfs: the tmpfs
//! starts with a copy of what the directory it hides held in the image
//! (podman mounts /run, /tmp and /var/tmp this way for `--read-only`).
//!
//! The directory's contents belong to the image, so the copy never follows
//! a symbolic link: every name is resolved relative to an open directory
//! with `*at` calls and O_NOFOLLOW, and links are recreated as links.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::{Error, Result};

/// Copies the tree below the directory `from` into the directory `to`:
/// directories, regular files, symbolic links, device nodes, fifos and
/// sockets, with their owners and modes.
pub fn copy_tree(from: BorrowedFd, to: BorrowedFd) -> Result<()> {
    let dup = nix::unistd::dup(from.as_raw_fd()).map_err(|e| Error::sys("dup for tmpcopyup", e))?;
    let mut dir =
        nix::dir::Dir::from_fd(dup).map_err(|e| Error::sys("fdopendir for tmpcopyup", e))?;
    let names: Vec<CString> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        copy_entry(from, to, &name)?;
    }
    Ok(())
}

fn fail(op: &str, name: &CStr, e: Errno) -> Error {
    Error::sys(
        format_args!("tmpcopyup: {op} {}", name.to_string_lossy()),
        e,
    )
}

fn copy_entry(from: BorrowedFd, to: BorrowedFd, name: &CStr) -> Result<()> {
    // SAFETY: stat is plain data; fstatat fills it or fails.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dir fd, NUL-terminated name, a stat buffer.
    let r = unsafe {
        libc::fstatat(
            from.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    Errno::result(r).map_err(|e| fail("stat", name, e))?;
    let perm = st.st_mode & 0o7777;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            // SAFETY: valid dir fd and name.
            let r = unsafe { libc::mkdirat(to.as_raw_fd(), name.as_ptr(), 0o700) };
            Errno::result(r).map_err(|e| fail("mkdir", name, e))?;
            let src = open_at(from, name, libc::O_RDONLY | libc::O_DIRECTORY)?;
            let dst = open_at(to, name, libc::O_RDONLY | libc::O_DIRECTORY)?;
            copy_tree(as_borrowed(&src), as_borrowed(&dst))?;
            finish(&dst, &st, perm, name)
        }
        libc::S_IFREG => {
            let src = open_at(from, name, libc::O_RDONLY)?;
            // SAFETY: valid dir fd and name; the new fd is ours.
            let fd = unsafe {
                libc::openat(
                    to.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600,
                )
            };
            let dst = owned(fd).map_err(|e| fail("create", name, e))?;
            let mut r = std::fs::File::from(src);
            let mut w = std::fs::File::from(dst);
            std::io::copy(&mut r, &mut w).map_err(|e| {
                fail(
                    "copy",
                    name,
                    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                )
            })?;
            finish(&OwnedFd::from(w), &st, perm, name)
        }
        libc::S_IFLNK => {
            let target = nix::fcntl::readlinkat(Some(from.as_raw_fd()), name)
                .map_err(|e| fail("readlink", name, e))?;
            let target = CString::new(target.as_encoded_bytes())
                .map_err(|_| fail("readlink", name, Errno::EINVAL))?;
            // SAFETY: NUL-terminated strings and a valid dir fd.
            let r = unsafe { libc::symlinkat(target.as_ptr(), to.as_raw_fd(), name.as_ptr()) };
            Errno::result(r).map_err(|e| fail("symlink", name, e))?;
            chown_at(to, name, &st, libc::AT_SYMLINK_NOFOLLOW)
        }
        kind => {
            // SAFETY: valid dir fd and name; mknodat makes a node.
            let r =
                unsafe { libc::mknodat(to.as_raw_fd(), name.as_ptr(), kind | perm, st.st_rdev) };
            Errno::result(r).map_err(|e| fail("mknod", name, e))?;
            chown_at(to, name, &st, libc::AT_SYMLINK_NOFOLLOW)
        }
    }
}

fn owned(fd: i32) -> std::result::Result<OwnedFd, Errno> {
    Errno::result(fd)?;
    // SAFETY: a fresh fd from the kernel that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn as_borrowed(fd: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

fn open_at(dir: BorrowedFd, name: &CStr, flags: i32) -> Result<OwnedFd> {
    // SAFETY: valid dir fd and NUL-terminated name.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    owned(fd).map_err(|e| fail("open", name, e))
}

/// Owner first, then mode: chown clears set-id bits.
fn finish(fd: &OwnedFd, st: &libc::stat, perm: u32, name: &CStr) -> Result<()> {
    nix::unistd::fchown(
        fd.as_raw_fd(),
        Some(st.st_uid.into()),
        Some(st.st_gid.into()),
    )
    .map_err(|e| fail("chown", name, e))?;
    // SAFETY: a valid fd.
    let r = unsafe { libc::fchmod(fd.as_raw_fd(), perm) };
    Errno::result(r)
        .map(drop)
        .map_err(|e| fail("chmod", name, e))
}

fn chown_at(dir: BorrowedFd, name: &CStr, st: &libc::stat, flags: i32) -> Result<()> {
    // SAFETY: valid dir fd and name.
    let r = unsafe { libc::fchownat(dir.as_raw_fd(), name.as_ptr(), st.st_uid, st.st_gid, flags) };
    Errno::result(r)
        .map(drop)
        .map_err(|e| fail("chown", name, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_files_dirs_and_links_without_following_links() {
        let base = std::env::temp_dir().join(format!("berth-copyup-{}", std::process::id()));
        let (from, to) = (base.join("from"), base.join("to"));
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::create_dir_all(&to).unwrap();
        std::fs::write(from.join("sub/file"), b"data").unwrap();
        std::fs::set_permissions(
            from.join("sub/file"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::fs::set_permissions(from.join("sub"), std::fs::Permissions::from_mode(0o751)).unwrap();
        // A link that would lead out of the tree if followed.
        std::os::unix::fs::symlink("/etc/hostname", from.join("escape")).unwrap();
        let a = std::fs::File::open(&from).unwrap();
        let b = std::fs::File::open(&to).unwrap();
        copy_tree(a.as_fd(), b.as_fd()).unwrap();
        assert_eq!(std::fs::read(to.join("sub/file")).unwrap(), b"data");
        assert_eq!(
            std::fs::metadata(to.join("sub/file")).unwrap().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::metadata(to.join("sub")).unwrap().mode() & 0o777,
            0o751
        );
        assert_eq!(
            std::fs::read_link(to.join("escape")).unwrap(),
            std::path::Path::new("/etc/hostname")
        );
        assert!(std::fs::symlink_metadata(to.join("escape"))
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
