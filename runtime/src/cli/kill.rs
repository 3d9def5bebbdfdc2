use berth::state::Store;
use berth::Result;

pub fn run(store: &Store, id: &str, signal: &str, all: bool) -> Result<()> {
    let sig = berth::lifecycle::parse_signal(signal)?;
    berth::lifecycle::kill(&store.open(id)?, sig, all)
}
