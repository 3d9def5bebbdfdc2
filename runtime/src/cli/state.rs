use std::io::Write;

use berth::container::store::Store;
use berth::{Error, Result};

use super::line::{first, Line, Stop};
use super::Command;

pub fn parse(line: Line) -> Result<Command, Stop> {
    Ok(Command::State {
        id: first(line.plain()?),
    })
}

pub fn run(store: &Store, id: &str) -> Result<()> {
    let dir = store.read(id)?;
    let (state, status) = berth::container::lifecycle::loaded(&dir)?;
    let Some(state) = state else {
        if dir.busy {
            // A create under way (a hook of it asking): runc has no state
            // for it yet either.
            return Err(Error::not_found(format!("container {id} does not exist")));
        }
        // The create holds the lock until state.json is written: having
        // it, with no state.json, means that create died part-way.
        return Err(Error::wrong_state(format!(
            "container {id} was not created: the create that began it died \
             part-way (delete removes what it left)"
        )));
    };
    let out = state.oci(status, "");
    let text = serde_json::to_string_pretty(&out).expect("state serialises");
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(())
}
