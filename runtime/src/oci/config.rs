//! Loading and validating a bundle's config.json.
//!
//! The spec is parsed once into oci-spec's types and every later step reads
//! those types directly. What berth cannot honour yet is refused here, with
//! the JSON path of the field, before anything is created: a config is never
//! half applied and nothing in it is silently ignored.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::json;
use super::validate::validate;
use crate::error::{Error, Result};

/// A loaded bundle: its absolute directory, the parsed config and the
/// absolute path of its root filesystem.
#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    /// Boxed: 3000 bytes, and every frame that held a Bundle by value
    /// (create, run, exec, restore) grew by as much, each page of it
    /// touched by a stack probe.
    pub spec: Box<Spec>,
    pub rootfs: PathBuf,
}

/// runc's rule for container IDs: `^[\w+\-\.]+$`, and not `.` or `..`, so
/// that an ID is always one safe path component under `--root`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid container ID {id:?}: it must match ^[\\w+\\-\\.]+$ and not be \".\" or \"..\""
        )))
    }
}

pub fn load(dir: &Path) -> Result<Bundle> {
    let dir = canonicalize(dir)
        .map_err(|e| Error::io("bundle", dir, e))
        .and_then(|d| {
            if d.is_dir() {
                Ok(d)
            } else {
                Err(Error::invalid(format!(
                    "bundle {}: not a directory",
                    d.display()
                )))
            }
        })?;
    let path = dir.join("config.json");
    let bytes = read_config(&path)?;
    let mut spec =
        parse_boxed(&bytes).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    validate(&spec)?;
    normalize(&mut spec);
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json: root is required on Linux"))?;
    let rootfs = dir.join(root.path());
    let rootfs = canonicalize(&rootfs).map_err(|e| Error::io("rootfs", &rootfs, e))?;
    check_rootfs(&rootfs, root.path())?;
    Ok(Bundle { dir, spec, rootfs })
}

/// `std::fs::canonicalize`, which is realpath(3), into a buffer on the
/// stack: std passes no buffer, and musl's realpath then returns a copy
/// from its own malloc, which berth otherwise never calls (brk, a page
/// mapped and unmapped, three page faults before the network namespace
/// is started).
fn canonicalize(path: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: a NUL-terminated path and a buffer of PATH_MAX bytes, as
    // realpath(3) requires of its second argument.
    let r = unsafe { libc::realpath(c.as_ptr(), buf.as_mut_ptr().cast()) };
    if r.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(PathBuf::from(std::ffi::OsString::from_vec(
        buf[..len].to_vec(),
    )))
}

/// A config from memory, parsed, validated and normalized as [`load`] does
/// it, without a bundle (no root filesystem is looked at).
pub fn from_slice(bytes: &[u8]) -> Result<Spec> {
    let mut spec = parse(bytes).map_err(|e| Error::invalid(format!("config.json: {e}")))?;
    validate(&spec)?;
    normalize(&mut spec);
    Ok(spec)
}

/// Far above any real config (tens of KiB with Docker's whole seccomp
/// profile), and low enough that a runaway file cannot take the host's
/// memory.
pub const MAX_CONFIG_SIZE: u64 = 64 << 20;

/// config.json is a regular file of bounded size: a FIFO would make the
/// read wait for a writer forever, and a device such as /dev/zero never ends.
fn read_config(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    // O_NONBLOCK keeps open(2) of a FIFO from waiting for a writer; it
    // changes nothing for a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    let t = meta.file_type();
    let kind = if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    };
    if let Some(kind) = kind {
        return Err(Error::invalid(format!(
            "{}: not a regular file ({kind})",
            path.display()
        )));
    }
    let too_big = || {
        Error::invalid(format!(
            "{}: larger than {} MiB, the most berth reads",
            path.display(),
            MAX_CONFIG_SIZE >> 20
        ))
    };
    if meta.len() > MAX_CONFIG_SIZE {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded again while reading: the file may grow under us.
    file.take(MAX_CONFIG_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > MAX_CONFIG_SIZE {
        return Err(too_big());
    }
    Ok(bytes)
}

/// The root filesystem is a directory, and not the host's own root: a
/// bundle whose root.path leads to / (`../../..`, a symbolic link) would
/// hand the container every file of the host. The spec allows any path,
/// runc takes `../../..`; berth refuses this one destination.
fn check_rootfs(rootfs: &Path, written: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(rootfs).map_err(|e| Error::io("rootfs", rootfs, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "config.json: root.path {written:?}: rootfs {} is not a directory",
            rootfs.display()
        )));
    }
    let host = std::fs::metadata("/").map_err(|e| Error::io("stat", Path::new("/"), e))?;
    if (meta.dev(), meta.ino()) == (host.dev(), host.ino()) {
        return Err(Error::invalid(format!(
            "config.json: root.path {written:?} resolves to the host's root directory, \
             which cannot be a container's root filesystem"
        )));
    }
    Ok(())
}

/// Rewrites what the spec allows to be written several ways into the one
/// form every later step expects. Mount destinations become absolute and
/// clean: a relative one is relative to / (config.md, deprecated), and `..`
/// never climbs above the container's /, which is how they are resolved
/// anyway; checks that compare a destination with `/dev` or `/proc` then
/// cannot be side-stepped by writing `/../dev`.
fn normalize(spec: &mut Spec) {
    for m in spec.mounts_mut().iter_mut().flatten() {
        let d = m.destination();
        if !d.is_absolute() {
            log::warn!(
                "config.json: mount destination {d:?} is relative (deprecated): taken from /"
            );
        }
        // Most are written clean already, and would come back the same.
        if is_clean(d) {
            continue;
        }
        let clean = Path::new("/").join(crate::linux::syscall::lexical(d));
        m.set_destination(clean);
    }
}

/// Absolute, each component a name (not empty, `.` or `..`): the form
/// [`normalize`] gives, checked byte by byte rather than through Path's
/// component walk (7k instructions for a default config's mounts, on
/// create's path before the network namespace is started).
fn is_clean(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    match p.as_os_str().as_bytes() {
        [b'/'] => true,
        [b'/', rest @ ..] => rest
            .split(|&c| c == b'/')
            .all(|c| !matches!(c, b"" | b"." | b"..")),
        _ => false,
    }
}

/// Parses config.json. The fast path is one pass straight into oci-spec's
/// types, whose errors carry the line and column; berth adds the field's
/// JSON path. Only when that fails on a capability name does it take a
/// second pass through a JSON tree, dropping the names this build does not
/// know: the spec says a runtime warns and goes on, and kernels gain
/// capabilities faster than libraries do.
pub fn parse(bytes: &[u8]) -> std::result::Result<Spec, String> {
    parse_boxed(bytes).map(|spec| *spec)
}

/// [`parse`], its result boxed as soon as it is made: a Spec is 3000
/// bytes, and each frame between here and the Bundle held a copy of its
/// own (load's grew to 18 KiB, every page of it touched by a stack probe).
/// The slow path is out of line for the same reason.
fn parse_boxed(bytes: &[u8]) -> std::result::Result<Box<Spec>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("empty file: expected a JSON object".into());
    }
    // Before the capability pass, whose warnings would only be noise when
    // the config is refused anyway; only valid JSON has paths to name.
    if let Some(path) = json::string_with_nul(bytes) {
        return Err(format!(
            "{path}: contains a NUL byte (\\u0000), which no path, argument or name the kernel takes can hold"
        ));
    }
    match serde_json::from_slice::<Spec>(bytes) {
        Ok(spec) => Ok(Box::new(spec)),
        Err(e) if e.is_data() && e.to_string().contains("no variant for") => {
            without_unknown_capabilities(bytes)
        }
        Err(e) => Err(describe(bytes, e)),
    }
}

#[cold]
#[inline(never)]
fn without_unknown_capabilities(bytes: &[u8]) -> std::result::Result<Box<Spec>, String> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| describe(bytes, e))?;
    drop_unknown_capabilities(&mut v);
    // Through text again, so that an error still has a position to name
    // the field by.
    let text = serde_json::to_vec(&v).map_err(|e| e.to_string())?;
    serde_json::from_slice(&text).map_err(|e| describe(&text, e))
}

#[cold]
#[inline(never)]
fn describe(bytes: &[u8], e: serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Eof => "truncated JSON",
        _ => "invalid config",
    };
    // serde_json's message already ends in "at line L column C"; the
    // column points into the offending value, or at the end of the object
    // that lacks a field.
    let at = json::offset(bytes, e.line(), e.column())
        .map(|o| json::path_at(bytes, o))
        .filter(|p| !p.is_empty());
    match at {
        Some(path) => format!("{what}: {path}: {e}"),
        None => format!("{what}: {e}"),
    }
}

fn drop_unknown_capabilities(v: &mut serde_json::Value) {
    let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return;
    };
    for (set, list) in caps.iter_mut() {
        if let Some(list) = list.as_array_mut() {
            let mut unknown = Vec::new();
            list.retain(|name| {
                let known = name
                    .as_str()
                    .map(|n| crate::linux::capabilities::from_name(n).is_some())
                    .unwrap_or(false);
                if !known {
                    unknown.push(name.to_string());
                }
                known
            });
            // One line per set, however long the list.
            let shown: Vec<String> = unknown
                .iter()
                .take(5)
                .map(|n| match n.char_indices().nth(64) {
                    Some((cut, _)) => format!("{}…", &n[..cut]),
                    None => n.clone(),
                })
                .collect();
            match unknown.len() {
                0 => {}
                1 => log::warn!(
                    "process.capabilities.{set}: unknown capability {}, skipped",
                    shown[0]
                ),
                n => log::warn!(
                    "process.capabilities.{set}: {n} unknown capabilities skipped: {}{}",
                    shown.join(", "),
                    if n > shown.len() { ", …" } else { "" }
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
        "root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"mount"},{"type":"pid"}]}}"#;

    /// What is_clean accepts, normalize would leave as it is.
    #[test]
    fn clean_destinations_are_what_normalize_makes() {
        for d in [
            "/", "/a", "/a/b", "/dev/pts", "/a.b/..c", "//a", "/a/", "/a/./b", "/a/../b", "/..",
            "a", "", "./a", "/a//b", "/.",
        ] {
            let d = Path::new(d);
            let normal = Path::new("/").join(crate::linux::syscall::lexical(d));
            assert_eq!(
                is_clean(d),
                normal.as_os_str() == d.as_os_str(),
                "{d:?} -> {normal:?}"
            );
        }
    }

    #[test]
    fn ids_follow_runcs_rule() {
        for ok in ["a", "web-1", "a.b_c+d", "..a"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a\0b"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse(b"{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}").unwrap_err();
        assert!(err.contains("line 3 column 3"), "{err}");
        assert!(err.starts_with("malformed JSON"), "{err}");
    }

    #[test]
    fn unknown_capabilities_are_dropped_not_fatal() {
        let json = MINIMAL.replace(
            r#""cwd":"/""#,
            r#""cwd":"/","capabilities":{"bounding":["CAP_KILL","CAP_FROM_THE_FUTURE"]}"#,
        );
        let spec = parse(json.as_bytes()).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
    }

    #[test]
    fn validation_refuses_what_is_not_implemented() {
        let spec = parse(MINIMAL.as_bytes()).unwrap();
        validate(&spec).unwrap();
        let with = |extra: &str| {
            let json = MINIMAL.replace(r#""linux":{"#, &format!(r#""linux":{{{extra},"#));
            validate(&parse(json.as_bytes()).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(with(r#""intelRdt":{"closID":"x"}"#).contains("linux.intelRdt"));
        let v2 = MINIMAL.replace("1.0.2", "2.0.0");
        assert!(validate(&parse(v2.as_bytes()).unwrap())
            .unwrap_err()
            .to_string()
            .contains("ociVersion"));
        let noargs = MINIMAL.replace(r#"["sh"]"#, "[]");
        assert!(validate(&parse(noargs.as_bytes()).unwrap())
            .unwrap_err()
            .to_string()
            .contains("process.args"));
    }

    /// Without a mount namespace the container runs in the caller's, but
    /// what would change the caller's mounts, or cannot be done from
    /// another user namespace, is refused by name.
    #[test]
    fn without_a_mount_namespace_only_what_the_callers_allows() {
        let nomnt = MINIMAL.replace(r#"{"type":"mount"},"#, "");
        assert_ne!(nomnt, MINIMAL);
        validate(&parse(nomnt.as_bytes()).unwrap()).unwrap();
        let with = |extra: &str| {
            let json = nomnt.replace(r#""linux":{"#, &format!(r#""linux":{{{extra},"#));
            validate(&parse(json.as_bytes()).unwrap())
                .unwrap_err()
                .to_string()
        };
        let e = with(r#""rootfsPropagation":"private""#);
        assert!(
            e.contains("linux.rootfsPropagation needs a mount namespace"),
            "{e}"
        );
        let maps = r#""uidMappings":[{"containerID":0,"hostID":1000,"size":1}],
               "gidMappings":[{"containerID":0,"hostID":1000,"size":1}]"#;
        let user = nomnt.replace(r#"{"type":"pid"}"#, r#"{"type":"pid"},{"type":"user"}"#);
        let json = user.replace(r#""linux":{"#, &format!(r#""linux":{{{maps},"#));
        let e = validate(&parse(json.as_bytes()).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("user namespace needs a mount namespace"), "{e}");
    }

    /// `parse` of MINIMAL with `from` replaced by `to`: its error.
    fn parse_err(from: &str, to: &str) -> String {
        assert!(MINIMAL.contains(from), "{from}");
        parse(MINIMAL.replace(from, to).as_bytes()).unwrap_err()
    }

    #[test]
    fn type_errors_name_the_field() {
        for (from, to, path) in [
            (
                r#""uid":0"#,
                r#""uid":-1"#,
                "process.user.uid: invalid value",
            ),
            (
                r#""uid":0"#,
                r#""uid":"0""#,
                "process.user.uid: invalid type",
            ),
            (r#""uid":0"#, r#""uid":4294967296"#, "process.user.uid:"),
            (r#"["sh"]"#, r#""sh""#, "process.args: invalid type"),
            (
                r#"["sh"]"#,
                r#"{"a":[1]}"#,
                "process.args: invalid type: map",
            ),
            (r#"["sh"]"#, r#"["sh", 1]"#, "process.args[1]: invalid type"),
            (
                r#""cwd":"/""#,
                r#""cwd":null"#,
                "process.cwd: invalid type: null",
            ),
            (r#""1.0.2""#, "1.5", "ociVersion: invalid type"),
            (
                r#"{"type":"pid"}"#,
                r#"{"type":"bogus"}"#,
                "linux.namespaces[1].type: unknown variant",
            ),
            (
                r#""cwd":"/""#,
                r#""cwd":"/"},"mounts":[{}],"x":{"#,
                "mounts[0]: missing field `destination`",
            ),
        ] {
            let err = parse_err(from, to);
            assert!(
                err.starts_with(&format!("invalid config: {path}")),
                "{to}: {err}"
            );
            assert!(err.contains(" at line "), "{err}");
        }
    }

    #[test]
    fn syntax_errors_name_where_they_are() {
        let err = parse_err(r#""cwd":"/""#, r#""cwd":"/",]"#);
        assert!(err.starts_with("malformed JSON: process"), "{err}");
        assert_eq!(
            parse(b"").unwrap_err(),
            "empty file: expected a JSON object"
        );
        assert_eq!(
            parse(b" \n").unwrap_err(),
            "empty file: expected a JSON object"
        );
        let err = parse(&MINIMAL.as_bytes()[..40]).unwrap_err();
        assert!(err.starts_with("truncated JSON: process"), "{err}");
        let err = parse(b"\xff{}").unwrap_err();
        assert!(err.starts_with("malformed JSON"), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_or_ignored_never_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        // An unknown field is skipped without recursion.
        let unknown = MINIMAL.replacen('{', &format!(r#"{{"x-deep":{deep},"#), 1);
        parse(unknown.as_bytes()).unwrap();
        let annotated = MINIMAL.replacen('{', &format!(r#"{{"annotations":{{"a":{deep}}},"#), 1);
        let err = parse(annotated.as_bytes()).unwrap_err();
        assert!(
            err.starts_with("invalid config: annotations.a: invalid type"),
            "{err}"
        );
        // Objects nested in an unknown field are skipped the same way; the
        // second pass that drops unknown capabilities reads a JSON tree,
        // and meets serde_json's recursion limit instead of the end of the
        // stack.
        let objects = format!("{}1{}", "{\"x\":".repeat(100_000), "}".repeat(100_000));
        let unknown = MINIMAL.replacen('{', &format!(r#"{{"x-deep":{objects},"#), 1);
        parse(unknown.as_bytes()).unwrap();
        let new_cap = unknown.replace(
            r#""cwd":"/""#,
            r#""cwd":"/","capabilities":{"bounding":["CAP_FROM_THE_FUTURE"]}"#,
        );
        let err = parse(new_cap.as_bytes()).unwrap_err();
        assert!(err.contains("recursion limit exceeded"), "{err:.300}");
        assert!(err.len() < 600, "{err}");
    }

    #[test]
    fn nul_bytes_are_refused_outside_annotations() {
        let err = parse_err(r#"["sh"]"#, r#"["sh","a\u0000b"]"#);
        assert!(
            err.starts_with("process.args[1]: contains a NUL byte"),
            "{err}"
        );
        let err = parse_err(r#""path":"rootfs""#, r#""path":"root\u0000fs""#);
        assert!(err.starts_with("root.path: "), "{err}");
        let sysctl = MINIMAL.replace(r#""linux":{"#, r#""linux":{"sysctl":{"net.a\u0000":"1"},"#);
        let err = parse(sysctl.as_bytes()).unwrap_err();
        assert!(err.starts_with("linux.sysctl.net.a\\0: "), "{err}");
        // An escaped backslash followed by text is no NUL.
        parse(
            MINIMAL
                .replace(r#"["sh"]"#, r#"["sh","\\u0000"]"#)
                .as_bytes(),
        )
        .unwrap();
        let annotated = MINIMAL.replacen('{', r#"{"annotations":{"k\u0000":"v\u0000"},"#, 1);
        parse(annotated.as_bytes()).unwrap();
    }

    #[test]
    fn paths_are_named_at_any_offset() {
        let text = br#"{"a": [1, {"b": "x"}, [true]], "c": {}}"#;
        let at = |needle: &str| {
            let i = text
                .windows(needle.len())
                .position(|w| w == needle.as_bytes());
            json::path_at(text, i.unwrap())
        };
        assert_eq!(at("1,"), "a[0]");
        assert_eq!(at(r#""x""#), "a[1].b");
        assert_eq!(at("}, ["), "a[1]");
        assert_eq!(at("true"), "a[2][0]");
        assert_eq!(at("]]"), "a[2]");
        assert_eq!(at("{}"), "c");
        assert_eq!(json::path_at(text, 0), "");
        assert_eq!(json::offset(b"ab\ncd", 2, 2), Some(4));
        assert_eq!(json::offset(b"ab", 3, 1), None);
    }

    fn from_with(extra_linux: &str) -> Result<Spec> {
        let json = MINIMAL.replace(r#""linux":{"#, &format!(r#""linux":{{{extra_linux},"#));
        from_slice(json.as_bytes())
    }

    #[test]
    fn cgroups_paths_stay_below_a_root() {
        from_with(r#""cgroupsPath":"/a/b""#).unwrap();
        from_with(r#""cgroupsPath":"a/b""#).unwrap();
        from_with(r#""cgroupsPath":"""#).unwrap();
        for bad in ["/", "/..", ".", "../x", "/a/../../b"] {
            let err = from_with(&format!(r#""cgroupsPath":"{bad}""#)).unwrap_err();
            assert!(
                err.to_string().contains("linux.cgroupsPath"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn device_paths_name_a_file() {
        let dev = |p: &str| {
            from_with(&format!(
                r#""devices":[{{"path":"{p}","type":"c","major":1,"minor":3}}]"#
            ))
        };
        dev("/dev/null2").unwrap();
        for bad in ["/dev/..", "dev/x", "/dev/../../x", "/"] {
            let err = dev(bad).unwrap_err().to_string();
            assert!(err.contains("linux.devices[0].path"), "{bad}: {err}");
        }
    }

    #[test]
    fn kernel_limits_are_checked_with_the_field_named() {
        let long = "x".repeat(200_000);
        let err = from_slice(
            MINIMAL
                .replace(r#"["sh"]"#, &format!(r#"["sh","{long}"]"#))
                .as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("process.args[1] is 200000 bytes long"),
            "{err:.200}"
        );
        let err = from_slice(
            MINIMAL
                .replacen('{', &format!(r#"{{"hostname":"{}","#, "h".repeat(65)), 1)
                .as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("hostname is 65 bytes long"), "{err}");
        let err = from_slice(
            MINIMAL
                .replace(r#""cwd":"/""#, &format!(r#""cwd":"/{long}""#))
                .as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("process.cwd is 200001 bytes long"),
            "{err:.200}"
        );
        assert!(err.len() < 300, "the value is not repeated");
        let err = from_slice(
            MINIMAL
                .replacen(
                    '{',
                    &format!(r#"{{"mounts":[{{"destination":"/a"}},{{"destination":"/b","source":"/{long}"}}],"#),
                    1,
                )
                .as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("mounts[1].source is 200001 bytes long"),
            "{err:.200}"
        );
    }

    #[test]
    fn mount_destinations_are_made_absolute_and_clean() {
        let json = MINIMAL.replacen(
            '{',
            r#"{"mounts":[{"destination":"tmp"},{"destination":"/../../dev"},{"destination":"/a/./b/../c/"}],"#,
            1,
        );
        let spec = from_slice(json.as_bytes()).unwrap();
        let dests: Vec<_> = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().clone())
            .collect();
        assert_eq!(
            dests,
            [Path::new("/tmp"), Path::new("/dev"), Path::new("/a/c")]
        );
    }
}
