use berth::container::store::Store;
use berth::Result;

use super::args::Flag;
use super::line::{Line, Stop};
use super::Command;

pub const FLAGS: &[Flag] = &[Flag::switch(
    "all",
    Some('a'),
    "Signal every process of the container.",
)];

pub fn parse(line: Line) -> Result<Command, Stop> {
    let mut all = false;
    let mut words = line
        .words(|v| {
            all = v.on()?;
            Ok(())
        })?
        .into_iter();
    Ok(Command::Kill {
        all,
        id: words.next().unwrap_or_default(),
        signal: words.next().unwrap_or_else(|| "SIGTERM".to_string()),
    })
}

pub fn run(store: &Store, id: &str, signal: &str, all: bool) -> Result<()> {
    let sig = berth::container::lifecycle::parse_signal(signal)?;
    berth::container::lifecycle::kill(&store.open(id)?, sig, all)
}
