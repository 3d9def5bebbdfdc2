use berth::container::store::Store;
use berth::Result;

use super::args::Flag;
use super::line::{first, Line, Stop};
use super::Command;

pub const FLAGS: &[Flag] = &[Flag::switch(
    "force",
    Some('f'),
    "Kill the container if it is still running.",
)];

pub fn parse(line: Line) -> Result<Command, Stop> {
    let mut force = false;
    let words = line.words(|v| {
        force = v.on()?;
        Ok(())
    })?;
    Ok(Command::Delete {
        force,
        id: first(words),
    })
}

pub fn run(store: &Store, id: &str, force: bool) -> Result<()> {
    berth::container::lifecycle::delete(store, id, force)
}
