//! Loading and validating a bundle's config.json.
//!
//! The spec is parsed once into oci-spec's types and every later step reads
//! those types directly. What berth cannot honour yet is refused here, with
//! the JSON path of the field, before anything is created: a config is never
//! half applied and nothing in it is silently ignored.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// A loaded bundle: its absolute directory, the parsed config and the
/// absolute path of its root filesystem.
#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
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
    let dir = std::fs::canonicalize(dir)
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
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let spec = parse(&bytes).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    validate(&spec)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json: root is required on Linux"))?;
    let rootfs = dir.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| Error::io("rootfs", &rootfs, e))?;
    if !rootfs.is_dir() {
        return Err(Error::invalid(format!(
            "rootfs {}: not a directory",
            rootfs.display()
        )));
    }
    Ok(Bundle { dir, spec, rootfs })
}

/// Parses config.json. The fast path is one pass straight into oci-spec's
/// types, whose errors carry the line and column. Only when that fails on a
/// capability name does it take a second pass through a JSON tree, dropping
/// the names this build does not know: the spec says a runtime warns and
/// goes on, and kernels gain capabilities faster than libraries do.
pub fn parse(bytes: &[u8]) -> std::result::Result<Spec, String> {
    match serde_json::from_slice::<Spec>(bytes) {
        Ok(spec) => Ok(spec),
        Err(e) if e.is_data() && e.to_string().contains("no variant for") => {
            let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(describe)?;
            drop_unknown_capabilities(&mut v);
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        Err(e) => Err(describe(e)),
    }
}

fn describe(e: serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Eof => "truncated JSON",
        _ => "invalid config",
    };
    // serde_json's message already ends in "at line L column C".
    format!("{what}: {e}")
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
            list.retain(|name| {
                let known = name
                    .as_str()
                    .map(|n| crate::capabilities::from_name(n).is_some())
                    .unwrap_or(false);
                if !known {
                    log::warn!("process.capabilities.{set}: unknown capability {name}, skipped");
                }
                known
            });
        }
    }
}

/// Checks what can be checked before anything exists, and refuses what
/// berth does not implement yet, naming the field.
fn validate(spec: &Spec) -> Result<()> {
    let version = spec.version();
    let major = version.split('.').next().unwrap_or("");
    if major != "1" {
        return Err(Error::invalid(format!(
            "config.json: ociVersion {version:?} is not supported (berth implements runtime-spec 1.x)"
        )));
    }
    let unsupported = |field: &str| {
        Err(Error::invalid(format!(
            "config.json: {field} is not supported by berth yet"
        )))
    };

    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json: process is required"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::invalid(
            "config.json: process.args must not be empty",
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::invalid(format!(
            "config.json: process.cwd {:?} must be an absolute path",
            process.cwd()
        )));
    }
    crate::rlimits::validate(process.rlimits().as_deref().unwrap_or_default())?;
    validate_hooks(spec)?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::invalid(format!(
                "config.json: mounts[{i}].destination {:?} must be an absolute path",
                m.destination()
            )));
        }
    }

    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json: linux is required"))?;
    let mut seen = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        let t = ns.typ();
        if seen.iter().any(|(s, _)| *s == t) {
            return Err(Error::invalid(format!(
                "config.json: linux.namespaces: {t} is listed twice"
            )));
        }
        seen.push((t, ns.path().is_some()));
    }
    let has = |t: LinuxNamespaceType| seen.iter().any(|(s, _)| *s == t);
    let new = |t: LinuxNamespaceType| seen.contains(&(t, false));
    if !has(LinuxNamespaceType::Mount) {
        return Err(Error::invalid(
            "config.json: linux.namespaces must include a mount namespace",
        ));
    }
    let mapped = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    let both_mapped = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        && linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new(LinuxNamespaceType::User) && !both_mapped {
        return Err(Error::invalid(
            "config.json: a new user namespace needs linux.uidMappings and linux.gidMappings",
        ));
    }
    // With a user namespace joined by path the maps are that namespace's;
    // runc 1.1 wants them repeated in the config, so they are accepted.
    if mapped && !has(LinuxNamespaceType::User) {
        return Err(Error::invalid(
            "config.json: linux.uidMappings/gidMappings need a user namespace",
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !new(LinuxNamespaceType::Time)
    {
        return Err(Error::invalid(
            "config.json: linux.timeOffsets needs a new time namespace",
        ));
    }
    for (field, name) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if name.as_ref().is_some_and(|n| !n.is_empty()) && !has(LinuxNamespaceType::Uts) {
            return Err(Error::invalid(format!(
                "config.json: {field} needs a UTS namespace"
            )));
        }
    }
    for key in linux.sysctl().iter().flatten().map(|(k, _)| k) {
        crate::sysctl::validate(key, has)?;
    }
    crate::process_attrs::validate(process, linux)?;
    let nonempty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    crate::lsm::validate(
        nonempty(process.apparmor_profile()).as_deref(),
        nonempty(process.selinux_label()).as_deref(),
        nonempty(linux.mount_label()).as_deref(),
    )?;
    let checks: [(&str, bool); 3] = [
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.memoryPolicy", linux.memory_policy().is_some()),
        ("linux.netDevices", linux.net_devices().is_some()),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, set)| *set) {
        return unsupported(field);
    }
    if let Some(p) = linux.rootfs_propagation() {
        crate::mount_options::propagation_flag(p).ok_or_else(|| {
            Error::invalid(format!(
                "config.json: linux.rootfsPropagation {p:?} is not a propagation mode"
            ))
        })?;
    }
    Ok(())
}

/// Hook paths are absolute and timeouts positive (config.md, "POSIX-platform
/// Hooks").
fn validate_hooks(spec: &Spec) -> Result<()> {
    for kind in crate::hooks::Kind::ALL {
        let name = kind.name();
        for (i, hook) in kind.list(spec.hooks().as_ref()).iter().enumerate() {
            if !hook.path().is_absolute() {
                return Err(Error::invalid(format!(
                    "config.json: hooks.{name}[{i}].path {:?} must be absolute",
                    hook.path()
                )));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(Error::invalid(format!(
                    "config.json: hooks.{name}[{i}].timeout must be greater than zero"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
        "root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"mount"},{"type":"pid"}]}}"#;

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
        let nomnt = MINIMAL.replace(r#"{"type":"mount"},"#, "");
        assert!(validate(&parse(nomnt.as_bytes()).unwrap())
            .unwrap_err()
            .to_string()
            .contains("mount namespace"));
    }
}
