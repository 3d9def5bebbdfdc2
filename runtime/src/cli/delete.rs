use berth::state::Store;
use berth::Result;

pub fn run(store: &Store, id: &str, force: bool) -> Result<()> {
    berth::lifecycle::delete(store, id, force)
}
