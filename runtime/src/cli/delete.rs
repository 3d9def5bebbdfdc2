use berth::container::store::Store;
use berth::Result;

pub fn run(store: &Store, id: &str, force: bool) -> Result<()> {
    berth::container::lifecycle::delete(store, id, force)
}
