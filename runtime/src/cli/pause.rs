use berth::container::store::Store;
use berth::Result;

use super::line::{first, Line, Stop};
use super::Command;

pub fn parse_pause(line: Line) -> Result<Command, Stop> {
    Ok(Command::Pause {
        id: first(line.plain()?),
    })
}

pub fn parse_resume(line: Line) -> Result<Command, Stop> {
    Ok(Command::Resume {
        id: first(line.plain()?),
    })
}

/// `pause` (true) and `resume` (false).
pub fn run(store: &Store, id: &str, paused: bool) -> Result<()> {
    berth::container::lifecycle::set_paused(&store.open(id)?, paused)
}
