//! `linux.cgroupsPath` under the systemd driver: `slice:prefix:name`, as
//! runc reads it (docs/systemd.md there), and where systemd will put the
//! unit it names.
//!
//! | cgroupsPath            | unit                 | in slice         |
//! |------------------------|----------------------|------------------|
//! | empty                  | `berth-ID.scope`     | system.slice (1) |
//! | `system.slice:docker:X`| `docker-X.scope`     | system.slice     |
//! | `:crio:X`              | `crio-X.scope`       | system.slice (1) |
//! | `-:p:X`                | `p-X.scope`          | the root slice   |
//! | `a-b.slice:p:X`        | `p-X.scope`          | a.slice/a-b.slice|
//! | `a.slice:p:c.slice`    | `c.slice` (a slice)  | a.slice          |
//!
//! (1) user.slice for a rootless container, in the user's own manager.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The container's unit and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// `prefix-name.scope`, or `name` when it is a slice.
    pub unit: String,
    /// The parent slice's unit name (`-.slice` for the root).
    pub slice: String,
}

impl Placement {
    /// From cgroupsPath (None or empty: the default, `:berth:ID`).
    pub fn parse(cgroups_path: Option<&str>, id: &str, rootless: bool) -> Result<Placement> {
        let owned;
        let path = match cgroups_path.filter(|p| !p.is_empty()) {
            Some(p) => p,
            None => {
                owned = format!(":berth:{id}");
                &owned
            }
        };
        let bad = |why: &str| {
            Error::invalid(format!(
                "linux.cgroupsPath {path:?}: {why} (the systemd cgroup driver takes \"slice:prefix:name\")"
            ))
        };
        let parts: Vec<&str> = path.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(bad("expected three parts separated by ':'"));
        };
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        if name.contains('/') || prefix.contains('/') {
            return Err(bad("a unit name cannot contain '/'"));
        }
        let slice = match slice {
            "" if rootless => "user.slice".to_string(),
            "" => "system.slice".to_string(),
            "-" => "-.slice".to_string(),
            s => s.to_string(),
        };
        // Checked here, so that a bad slice fails before anything exists.
        expand_slice(&slice).map_err(|e| bad(e.message()))?;
        let unit = if name.ends_with(".slice") {
            expand_slice(name).map_err(|e| bad(e.message()))?;
            name.to_string()
        } else {
            format!("{prefix}-{name}.scope")
        };
        Ok(Placement { unit, slice })
    }

    /// The unit's cgroup, relative to its manager's own cgroup.
    pub fn cgroup(&self) -> Result<PathBuf> {
        let parent = expand_slice(&self.slice)?;
        Ok(if self.unit.ends_with(".slice") {
            // A slice's path already holds every slice above it.
            expand_slice(&self.unit)?
        } else {
            parent.join(&self.unit)
        })
    }

    pub fn is_slice(&self) -> bool {
        self.unit.ends_with(".slice")
    }
}

/// A slice's cgroup path, as systemd lays slices out: `a-b-c.slice` is
/// `a.slice/a-b.slice/a-b-c.slice` (systemd.slice(5)); `-.slice` is the
/// manager's own cgroup. Relative (empty for the root slice).
pub fn expand_slice(slice: &str) -> Result<PathBuf> {
    let bad = |why: &str| Error::invalid(format!("slice {slice:?}: {why}"));
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(bad("a slice's name ends in .slice"));
    };
    if stem == "-" {
        return Ok(PathBuf::new());
    }
    if stem.is_empty() || stem.contains('/') {
        return Err(bad("not a slice name"));
    }
    if stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err(bad("'-' separates the names of nested slices"));
    }
    let mut path = PathBuf::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(p: &str) -> (String, String, String) {
        let pl = Placement::parse(Some(p), "c1", false).unwrap();
        let cg = pl.cgroup().unwrap().display().to_string();
        (pl.unit, pl.slice, cg)
    }

    #[test]
    fn engines_paths_become_scopes_in_their_slices() {
        assert_eq!(
            place("system.slice:docker:abc"),
            (
                "docker-abc.scope".into(),
                "system.slice".into(),
                "system.slice/docker-abc.scope".into()
            )
        );
        // kubelet's pod slices nest through dashes.
        assert_eq!(
            place("kubepods-burstable-pod1.slice:cri-containerd:x").2,
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-x.scope"
        );
        assert_eq!(place("-:p:x").2, "p-x.scope");
        assert_eq!(place(":crio:x").1, "system.slice");
    }

    #[test]
    fn the_default_is_a_berth_scope_in_system_or_user_slice() {
        let root = Placement::parse(None, "c1", false).unwrap();
        assert_eq!(
            (root.unit.as_str(), root.slice.as_str()),
            ("berth-c1.scope", "system.slice")
        );
        let user = Placement::parse(Some(""), "c1", true).unwrap();
        assert_eq!(user.slice, "user.slice");
    }

    #[test]
    fn a_name_ending_in_slice_is_a_slice_unit() {
        let (unit, slice, cg) = place("machine.slice:ignored:machine-pod.slice");
        assert_eq!(
            (unit.as_str(), slice.as_str()),
            ("machine-pod.slice", "machine.slice")
        );
        assert_eq!(cg, "machine.slice/machine-pod.slice");
    }

    #[test]
    fn bad_paths_are_refused_by_name() {
        for p in [
            "/abs/path",
            "a:b",
            "a:b:c:d",
            "system.slice:p:",
            "system:p:x",
            "a--b.slice:p:x",
            "-a.slice:p:x",
            "a-.slice:p:x",
            "a/b.slice:p:x",
            "system.slice:p:a/b",
            "system.slice:p:bad-.slice",
        ] {
            let e = Placement::parse(Some(p), "c1", false).unwrap_err();
            assert!(e.message().contains("cgroupsPath"), "{p}: {e}");
        }
    }

    #[test]
    fn slices_expand_as_systemd_lays_them_out() {
        assert_eq!(expand_slice("-.slice").unwrap(), PathBuf::new());
        assert_eq!(expand_slice("a.slice").unwrap(), PathBuf::from("a.slice"));
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            PathBuf::from("a.slice/a-b.slice/a-b-c.slice")
        );
        assert!(expand_slice("a").is_err());
    }
}
