//! create's side of the systemd cgroup driver (linux/systemd/): the
//! container's unit is planned before clone, like a cgroupfs directory,
//! and started once init exists, because a scope is made with its first
//! process in it. Init waits meanwhile (the `G` of init/sync.rs), so it
//! does nothing outside its cgroup, and makes its cgroup namespace only
//! once it is in the scope.

use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::linux::cgroups::{resources, Cgroups, Layout};
use crate::linux::systemd::path::Placement;
use crate::linux::systemd::properties::{self, Property};
use crate::linux::systemd::{annotations, base_properties, Manager, Unit};

/// The unit to start, with its properties; the connection to its manager
/// stays open from the plan to the start.
pub struct UnitPlan {
    manager: Manager,
    placement: Placement,
    props: Vec<Property>,
    id: String,
}

/// Where the unit's cgroup will be, what linux.resources asks of it, and
/// the unit's properties: everything refused here fails before anything
/// exists.
pub fn plan(
    layout: &Layout,
    spec: &oci_spec::runtime::Spec,
    id: &str,
    rootless: bool,
) -> Result<(UnitPlan, Cgroups, resources::Planned)> {
    let linux = spec.linux().as_ref().expect("validated");
    let path = linux.cgroups_path().as_ref().map(|p| p.to_string_lossy());
    let placement = Placement::parse(path.as_deref(), id, rootless)?;
    let mut manager = Manager::connect(rootless)?;
    let rel = manager.control_group()?.join(placement.cgroup()?);
    let unit = Unit {
        name: placement.unit.clone(),
        user: rootless,
    };
    let cgroups = Cgroups::plan_unit(layout, &rel, unit)?;
    let planned = resources::plan(&cgroups, linux.resources().as_ref())?;
    let mut props = properties::from_writes(&planned.writes)?;
    // Last: an annotation overrides what berth would set.
    props.extend(annotations::properties(
        spec.annotations().iter().flatten(),
    )?);
    Ok((
        UnitPlan {
            manager,
            placement,
            props,
            id: id.to_string(),
        },
        cgroups,
        planned,
    ))
}

impl UnitPlan {
    /// After clone, before init goes on: the unit, with init in it.
    pub fn start(mut self, pid: Pid, cgroups: &Cgroups) -> Result<()> {
        let mut props = base_properties(&self.id, &self.placement, pid.as_raw());
        props.append(&mut self.props);
        self.manager.start(&self.placement.unit, props)?;
        if self.placement.is_slice() {
            // A slice is made empty: init joins it as it would a cgroup.
            cgroups.enter_v2(pid.as_raw())?;
        }
        // The directory planned is where systemd put init, or the state
        // would send delete, exec and the limits elsewhere.
        let dir = &cgroups.dirs[0].path;
        let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let actual = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("");
        let rel = actual.trim_start_matches('/');
        if rel.is_empty() || !dir.ends_with(rel) {
            return Err(Error::invalid(format!(
                "systemd put the container's init in cgroup {actual:?}, not in {}",
                dir.display()
            )));
        }
        cgroups.unit_started()
    }
}
