use berth::state::Store;
use berth::Result;

pub fn run(store: &Store, id: &str) -> Result<()> {
    berth::lifecycle::start(&store.open(id)?)
}
