//! What config.json says, checked before anything is made: the values the
//! spec constrains, the sizes the kernel would refuse later, and what berth
//! does not implement yet, each refused with the field's JSON path.

use std::path::{Component, Path};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// What cannot be done in the caller's mount namespace: changing the
/// propagation of its mounts, and mounting from another user namespace,
/// which has no privilege over it.
fn validate_without_mount_namespace(linux: &oci_spec::runtime::Linux, user: bool) -> Result<()> {
    if linux.rootfs_propagation().is_some() {
        return Err(Error::invalid(
            "config.json: linux.rootfsPropagation needs a mount namespace \
             (without one it would change the propagation of the caller's mounts)",
        ));
    }
    if user {
        return Err(Error::invalid(
            "config.json: linux.namespaces: a user namespace needs a mount namespace too \
             (from it, the mounts could not be made in the caller's mount namespace)",
        ));
    }
    Ok(())
}

/// Checks what can be checked before anything exists, and refuses what
/// berth does not implement yet, naming the field.
pub(super) fn validate(spec: &Spec) -> Result<()> {
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
    validate_sizes(spec, process)?;
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
    crate::linux::rlimits::validate(process.rlimits().as_deref().unwrap_or_default())?;
    validate_hooks(spec)?;

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
    // Without a mount namespace the container's mounts are made in the
    // caller's (config-linux.md: a type not listed is inherited).
    if !has(LinuxNamespaceType::Mount) {
        validate_without_mount_namespace(linux, has(LinuxNamespaceType::User))?;
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
        crate::linux::sysctl::validate(key, has)?;
    }
    crate::linux::process_attrs::validate(process, linux)?;
    let nonempty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    crate::linux::lsm::validate(
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
    if let Some(p) = linux.cgroups_path() {
        validate_cgroups_path(p)?;
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let p = d.path();
        let full = p.is_absolute()
            && p.file_name().is_some()
            && !p.components().any(|c| c == Component::ParentDir);
        if !full {
            return Err(Error::invalid(format!(
                "config.json: linux.devices[{i}].path {p:?} must be the full path of the device, without `..`"
            )));
        }
    }
    if let Some(p) = linux.rootfs_propagation() {
        crate::oci::mount_options::propagation_flag(p).ok_or_else(|| {
            Error::invalid(format!(
                "config.json: linux.rootfsPropagation {p:?} is not a propagation mode"
            ))
        })?;
    }
    Ok(())
}

/// The kernel's fixed limits on strings, checked here so that a config
/// beyond them fails at once with the field's name, not later with an
/// errno (or, for execve, only at `start`) and an error message that
/// repeats megabytes of the offending value.
fn validate_sizes(spec: &Spec, process: &oci_spec::runtime::Process) -> Result<()> {
    // MAX_ARG_STRLEN: 32 pages for one argument or environment string.
    let arg_max = 32 * page_size();
    let lists = [
        ("process.args", process.args()),
        ("process.env", process.env()),
    ];
    for (field, list) in lists {
        for (i, s) in list.iter().flatten().enumerate() {
            if s.len() >= arg_max {
                return Err(Error::invalid(format!(
                    "config.json: {field}[{i}] is {} bytes long; execve(2) takes at most {} in one string (MAX_ARG_STRLEN)",
                    s.len(),
                    arg_max - 1
                )));
            }
        }
    }
    // HOST_NAME_MAX, the same for sethostname(2) and setdomainname(2).
    for (field, name) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if let Some(n) = name.as_ref().filter(|n| n.len() > 64) {
            return Err(Error::invalid(format!(
                "config.json: {field} is {} bytes long; the kernel takes at most 64",
                n.len()
            )));
        }
    }
    let groups = process
        .user()
        .additional_gids()
        .as_ref()
        .map_or(0, Vec::len);
    if groups > NGROUPS_MAX {
        return Err(Error::invalid(format!(
            "config.json: process.user.additionalGids has {groups} groups; setgroups(2) takes at most {NGROUPS_MAX}"
        )));
    }
    // Each path with its field as (name, index, member), made into text
    // only for the one that is too long: formatted up front, the names
    // cost create 29 format! calls (20k instructions) for nothing.
    let mut paths: Vec<(&str, Option<usize>, &str, &Path)> =
        vec![("process.cwd", None, "", process.cwd())];
    if let Some(root) = spec.root() {
        paths.push(("root.path", None, "", root.path()));
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        paths.push(("mounts", Some(i), ".destination", m.destination()));
        if let Some(src) = m.source() {
            paths.push(("mounts", Some(i), ".source", src));
        }
    }
    if let Some(linux) = spec.linux() {
        for (field, list) in [
            ("linux.maskedPaths", linux.masked_paths()),
            ("linux.readonlyPaths", linux.readonly_paths()),
        ] {
            for (i, p) in list.iter().flatten().enumerate() {
                paths.push((field, Some(i), "", Path::new(p)));
            }
        }
        for (i, d) in linux.devices().iter().flatten().enumerate() {
            paths.push(("linux.devices", Some(i), ".path", d.path()));
        }
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if let Some(p) = ns.path() {
                paths.push(("linux.namespaces", Some(i), ".path", p));
            }
        }
        if let Some(p) = linux.cgroups_path() {
            paths.push(("linux.cgroupsPath", None, "", p));
        }
    }
    for (name, index, member, p) in paths {
        let len = p.as_os_str().len();
        if len >= PATH_MAX {
            let field = match index {
                Some(i) => format!("{name}[{i}]{member}"),
                None => name.to_string(),
            };
            return Err(Error::invalid(format!(
                "config.json: {field} is {len} bytes long; the kernel takes paths of at most {} (PATH_MAX)",
                PATH_MAX - 1
            )));
        }
    }
    Ok(())
}

/// linux/limits.h: PATH_MAX counts the terminating NUL.
const PATH_MAX: usize = 4096;
const NGROUPS_MAX: usize = 65536;

fn page_size() -> usize {
    // SAFETY: sysconf only reads a constant of the running system.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(4096)
}

/// A cgroupsPath names a cgroup of its own below some root: `..` could
/// only climb out of where a relative path is put (berth would clean it
/// away, as runc does, but then the container is not where the config
/// says), and a path that names a hierarchy's root, or nothing at all,
/// would make the container's cgroup one that holds the whole host:
/// limits would apply to everything and `delete` would kill everything.
fn validate_cgroups_path(p: &Path) -> Result<()> {
    if p.as_os_str().is_empty() {
        return Ok(());
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(Error::invalid(format!(
            "config.json: linux.cgroupsPath {p:?} must not contain `..`"
        )));
    }
    if !p.components().any(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::invalid(format!(
            "config.json: linux.cgroupsPath {p:?} names no cgroup below the root"
        )));
    }
    Ok(())
}

/// Hook paths are absolute and timeouts positive (config.md, "POSIX-platform
/// Hooks").
fn validate_hooks(spec: &Spec) -> Result<()> {
    for kind in crate::oci::hooks::Kind::ALL {
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
