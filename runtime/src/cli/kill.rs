use berth::container::store::Store;
use berth::Result;

pub fn run(store: &Store, id: &str, signal: &str, all: bool) -> Result<()> {
    let sig = berth::container::lifecycle::parse_signal(signal)?;
    berth::container::lifecycle::kill(&store.open(id)?, sig, all)
}
