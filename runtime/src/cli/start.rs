use berth::container::store::Store;
use berth::Result;

use super::line::{first, Line, Stop};
use super::Command;

pub fn parse(line: Line) -> Result<Command, Stop> {
    Ok(Command::Start {
        id: first(line.plain()?),
    })
}

pub fn run(store: &Store, id: &str) -> Result<()> {
    berth::container::lifecycle::start(&store.open(id)?)
}
