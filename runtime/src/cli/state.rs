use std::io::Write;

use berth::state::{OciState, Store};
use berth::{Error, Result};

/// The runtime-spec version berth implements, as `state` reports it.
pub const OCI_VERSION: &str = "1.2.0";

pub fn run(store: &Store, id: &str) -> Result<()> {
    let dir = store.open(id)?;
    let (state, status) = berth::lifecycle::loaded(&dir)?;
    let Some(state) = state else {
        return Err(Error::wrong_state(format!(
            "container {id} is still being created"
        )));
    };
    let stopped = status == berth::state::Status::Stopped;
    let out = OciState {
        oci_version: OCI_VERSION,
        id: &state.id,
        // runc reports pid 0 once the process is gone.
        pid: if stopped { 0 } else { state.pid },
        status: status.as_str(),
        bundle: &state.bundle,
        rootfs: &state.rootfs,
        created: &state.created,
        owner: "",
        annotations: &state.annotations,
    };
    let text = serde_json::to_string_pretty(&out).expect("state serialises");
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(())
}
