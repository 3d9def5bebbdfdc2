//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup
//! is a transient unit of systemd's (a scope with `Delegate=yes`, or a
//! slice), as runc's driver makes it, so that systemd, which owns the
//! cgroup tree on a systemd host, knows the container's cgroup and does
//! not reclaim or rearrange it.
//!
//! Only what needs systemd goes through it: starting and stopping the
//! unit and setting the properties it keeps (properties.rs). Everything
//! else (the limits' files, freezing, listing and killing the processes,
//! the device program, statistics) is the cgroupfs code's on the unit's
//! directory, which the state records.
//!
//! The manager is reached on its private socket when berth may use it
//! (no bus daemon in between, and systemd sends its job signals there
//! unasked), else on the bus: the system bus as root, the user's own bus
//! (and so the user's own manager, with its delegated subtree) when
//! rootless.

pub mod annotations;
pub mod path;
pub mod properties;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::linux::dbus::{Connection, MethodError, Value};
use properties::Property;

/// The container's unit, as its state records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    /// In the user's own manager (rootless), not the system's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
}

const DEST: &str = "org.freedesktop.systemd1";
const OBJECT: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// How long a job may take: a stop waits for the container's processes to
/// die, and systemd's own default stop timeout is 90 s, but berth has
/// killed them before it asks.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to a systemd manager.
pub struct Manager {
    conn: Connection,
    user: bool,
    /// Through a bus daemon (signals need a match and Subscribe), not the
    /// manager's private socket.
    bus: bool,
    subscribed: bool,
}

fn has_systemd() -> bool {
    Path::new("/run/systemd/system").exists()
}

impl Manager {
    /// The system's manager, or with `user` the user's own.
    pub fn connect(user: bool) -> Result<Manager> {
        if !user && !has_systemd() {
            return Err(Error::invalid(
                "--systemd-cgroup: this machine does not run systemd (no /run/systemd/system)",
            ));
        }
        let private = if user {
            std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(d).join("systemd/private"))
        } else {
            Some(PathBuf::from("/run/systemd/private"))
        };
        if let Some(p) = private.filter(|p| p.exists()) {
            if let Ok(conn) = Connection::direct(&p) {
                return Ok(Manager {
                    conn,
                    user,
                    bus: false,
                    subscribed: false,
                });
            }
        }
        let conn = if user {
            Connection::user()
                .context("--systemd-cgroup (rootless): the user's D-Bus session bus")?
        } else {
            Connection::system().context("--systemd-cgroup: the system D-Bus")?
        };
        Ok(Manager {
            conn,
            user,
            bus: true,
            subscribed: false,
        })
    }

    pub fn for_unit(unit: &Unit) -> Result<Manager> {
        Manager::connect(unit.user)
    }

    fn call(&mut self, member: &str, args: &[Value]) -> Result<Vec<Value>> {
        self.conn.call(Some(DEST), OBJECT, MANAGER, member, args)
    }

    /// A call whose error reply the caller tells apart by its name.
    fn try_call(
        &mut self,
        member: &str,
        args: &[Value],
    ) -> Result<std::result::Result<Vec<Value>, MethodError>> {
        self.conn
            .try_call(Some(DEST), OBJECT, MANAGER, member, args)
    }

    /// The manager's own cgroup, relative to the hierarchy's root: `/` for
    /// the system's, `user.slice/user-1000.slice/user@1000.service` for a
    /// user's. Slices and their units are below it.
    pub fn control_group(&mut self) -> Result<PathBuf> {
        let v = self
            .conn
            .get_property(Some(DEST), OBJECT, MANAGER, "ControlGroup")?;
        let cg = v.as_str().unwrap_or_default();
        Ok(PathBuf::from(cg.trim_start_matches('/')))
    }

    /// Job signals: on a bus only after a match and Subscribe.
    fn subscribe(&mut self) -> Result<()> {
        if self.bus && !self.subscribed {
            self.conn.add_match(&format!(
                "type='signal',sender='{DEST}',path='{OBJECT}',interface='{MANAGER}',member='JobRemoved'"
            ))?;
            self.call("Subscribe", &[])?;
            self.subscribed = true;
        }
        Ok(())
    }

    /// Waits for the job a call returned (its object path) to finish.
    fn wait_job(&mut self, unit: &str, what: &str, reply: Vec<Value>) -> Result<()> {
        let Some(Value::ObjectPath(job)) = reply.into_iter().next() else {
            return Err(Error::invalid(format!(
                "systemd: {what} {unit}: the reply holds no job"
            )));
        };
        let msg = self.conn.wait_signal(JOB_TIMEOUT, |m| {
            m.member.as_deref() == Some("JobRemoved")
                && matches!(m.body.get(1), Some(Value::ObjectPath(p)) if *p == job)
        })?;
        match msg.body.get(3) {
            Some(Value::Str(r)) if r == "done" => Ok(()),
            Some(Value::Str(r)) => Err(Error::invalid(format!(
                "systemd: {what} {unit}: the job ended \"{r}\" (journalctl{} -u {unit} says why)",
                if self.user { " --user" } else { "" }
            ))),
            _ => Err(Error::invalid(format!(
                "systemd: {what} {unit}: a JobRemoved signal without a result"
            ))),
        }
    }

    /// Starts the transient unit `unit` (in the slice, with the
    /// properties) and waits until systemd has made it. A failed unit of
    /// the same name left from an earlier container is reset first.
    pub fn start(&mut self, unit: &str, props: Vec<Property>) -> Result<()> {
        self.subscribe()?;
        let args = [
            Value::Str(unit.into()),
            Value::Str("fail".into()),
            property_array(props),
            Value::Array("(sa(sv))".into(), Vec::new()),
        ];
        let mut reply = self.try_call("StartTransientUnit", &args)?;
        if reply
            .as_ref()
            .is_err_and(|e| e.name == "org.freedesktop.systemd1.UnitExists")
        {
            let _ = self.call("ResetFailedUnit", &[Value::Str(unit.into())]);
            reply = self.try_call("StartTransientUnit", &args)?;
        }
        let reply = reply.map_err(|e| Error::invalid(format!("systemd: start {unit}: {e}")))?;
        self.wait_job(unit, "start", reply)
    }

    /// Stops the unit and forgets it (a failed unit would otherwise stay
    /// listed, and keep its name taken). One that is gone already is fine.
    pub fn stop(&mut self, unit: &str) -> Result<()> {
        self.subscribe()?;
        let args = [Value::Str(unit.into()), Value::Str("replace".into())];
        let r = match self.try_call("StopUnit", &args)? {
            Ok(reply) => self.wait_job(unit, "stop", reply),
            Err(e) if e.name == "org.freedesktop.systemd1.NoSuchUnit" => Ok(()),
            Err(e) => Err(Error::invalid(format!("systemd: stop {unit}: {e}"))),
        };
        let _ = self.call("ResetFailedUnit", &[Value::Str(unit.into())]);
        r
    }

    /// Changes a running unit's properties (`update`).
    pub fn set(&mut self, unit: &str, props: Vec<Property>) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.call(
            "SetUnitProperties",
            &[
                Value::Str(unit.into()),
                Value::Bool(true),
                property_array(props),
            ],
        )
        .with_context(|| format!("systemd: set properties of {unit}"))?;
        Ok(())
    }
}

/// `a(sv)`.
fn property_array(props: Vec<Property>) -> Value {
    Value::Array(
        "(sv)".into(),
        props
            .into_iter()
            .map(|(k, v)| Value::Struct(vec![Value::Str(k), Value::Variant(Box::new(v))]))
            .collect(),
    )
}

/// The properties every container unit has, before its resources'.
pub fn base_properties(id: &str, placement: &path::Placement, pid: i32) -> Vec<Property> {
    let mut p = vec![
        (
            "Description".to_string(),
            Value::Str(format!("berth container {id}")),
        ),
        // Not ordered against shutdown.target and the like: the engine
        // decides when its containers stop.
        ("DefaultDependencies".to_string(), Value::Bool(false)),
    ];
    if placement.is_slice() {
        // A slice's parent is in its name; it only wants it started.
        p.push((
            "Wants".to_string(),
            Value::Array("s".into(), vec![Value::Str(placement.slice.clone())]),
        ));
    } else {
        p.push(("Slice".to_string(), Value::Str(placement.slice.clone())));
        p.push(("Delegate".to_string(), Value::Bool(true)));
        p.push((
            "PIDs".to_string(),
            Value::Array("u".into(), vec![Value::U32(pid as u32)]),
        ));
    }
    // As runc: statistics for every controller, whatever the limits.
    for a in [
        "MemoryAccounting",
        "CPUAccounting",
        "IOAccounting",
        "TasksAccounting",
    ] {
        p.push((a.to_string(), Value::Bool(true)));
    }
    p
}
