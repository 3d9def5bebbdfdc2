use berth::container::store::Store;
use berth::Result;

/// `pause` (true) and `resume` (false).
pub fn run(store: &Store, id: &str, paused: bool) -> Result<()> {
    berth::container::lifecycle::set_paused(&store.open(id)?, paused)
}
