//! Checkpoints with CRIU through the runtime's `checkpoint`: what the
//! Checkpoint RPC's options ask for, and where CRIU works and logs.
//!
//! containerd sends `containerd.runc.v1.CheckpointOptions` (ctr's
//! `containers checkpoint` always, `tasks checkpoint` only for a runtime
//! named io.containerd.runc.*); without options a checkpoint leaves the
//! task running, as containerd's runc shim does. Restoring is the other
//! half: a task created from a checkpoint is restored by its Start (see
//! the task module).

use std::path::{Path, PathBuf};

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::CheckpointOptions;

use crate::error::{Error, Result};
use crate::runtime::{CheckpointOpts, Runtime};

/// `containerd.runc.v1.CheckpointOptions`, free of protocol types.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// Stop the container once dumped (else `--leave-running`).
    pub exit: bool,
    pub open_tcp: bool,
    pub external_unix_sockets: bool,
    pub terminal: bool,
    pub file_locks: bool,
    pub empty_namespaces: Vec<String>,
    pub cgroups_mode: String,
    pub image_path: String,
    pub work_path: String,
}

pub fn decode(any: Option<&Any>) -> Result<Options> {
    let Some(any) = any.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
        return Ok(Options::default());
    };
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    // The old linux runtime's CheckpointOptions has the same fields.
    if name != "containerd.runc.v1.CheckpointOptions"
        && name != "containerd.linux.runc.CheckpointOptions"
    {
        return Err(Error::InvalidArgument(format!(
            "unknown checkpoint options type {name:?}"
        )));
    }
    let o = CheckpointOptions::parse_from_bytes(&any.value)
        .map_err(|e| Error::InvalidArgument(format!("checkpoint options {name}: {e}")))?;
    Ok(Options {
        exit: o.exit,
        open_tcp: o.open_tcp,
        external_unix_sockets: o.external_unix_sockets,
        terminal: o.terminal,
        file_locks: o.file_locks,
        empty_namespaces: o.empty_namespaces,
        cgroups_mode: o.cgroups_mode,
        image_path: o.image_path,
        work_path: o.work_path,
    })
}

/// Where CRIU's failure log is kept for the user: the work directory is
/// gone by the time anyone reads the error.
pub const DUMP_LOG: &str = "criu-dump.log";

/// Dumps container `id` into `image`. CRIU works in `o.work_path` if
/// given (and it is kept), else in a directory of the bundle that is
/// removed afterwards; on failure its log is copied to the bundle's
/// [`DUMP_LOG`] and the error names it.
pub fn dump(runtime: &Runtime, id: &str, bundle: &Path, image: &Path, o: &Options) -> Result<()> {
    let (work, temporary) = if o.work_path.is_empty() {
        (bundle.join("criu-work"), true)
    } else {
        (PathBuf::from(&o.work_path), false)
    };
    std::fs::create_dir_all(&work).map_err(Error::io(format!(
        "checkpoint of container {id}: mkdir {}",
        work.display()
    )))?;
    let result = runtime.checkpoint(
        id,
        &CheckpointOpts {
            image,
            work: &work,
            leave_running: !o.exit,
            tcp_established: o.open_tcp,
            ext_unix_sk: o.external_unix_sockets,
            shell_job: o.terminal,
            file_locks: o.file_locks,
            empty_ns: &o.empty_namespaces,
            cgroups_mode: &o.cgroups_mode,
        },
    );
    let result = result.map_err(|e| match e {
        Error::Runtime { command, message } => {
            let kept = bundle.join(DUMP_LOG);
            let message = match std::fs::copy(work.join("dump.log"), &kept) {
                Ok(_) => format!("{message} (CRIU's log kept as {})", kept.display()),
                Err(_) => message,
            };
            Error::Runtime { command, message }
        }
        other => other,
    });
    if temporary {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_decode_and_default_to_leaving_the_task_running() {
        assert_eq!(decode(None).unwrap(), Options::default());
        assert!(!decode(None).unwrap().exit);
        let mut o = CheckpointOptions::new();
        o.exit = true;
        o.file_locks = true;
        o.cgroups_mode = "soft".into();
        o.empty_namespaces = vec!["network".into()];
        o.work_path = "/w".into();
        let mut any = Any::new();
        any.type_url = "containerd.runc.v1.CheckpointOptions".into();
        any.value = o.write_to_bytes().unwrap();
        let got = decode(Some(&any)).unwrap();
        assert!(got.exit && got.file_locks && !got.open_tcp);
        assert_eq!(got.cgroups_mode, "soft");
        assert_eq!(got.empty_namespaces, vec!["network".to_string()]);
        assert_eq!(got.work_path, "/w");
        any.type_url = "example.Other".into();
        assert!(decode(Some(&any)).is_err());
    }
}
