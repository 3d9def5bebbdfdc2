use berth::container::store::Store;
use berth::Result;

pub fn run(store: &Store, id: &str) -> Result<()> {
    berth::container::lifecycle::start(&store.open(id)?)
}
