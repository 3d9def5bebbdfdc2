use berth::container::create::{create, Console};
use berth::container::store::Store;
use berth::Result;

use super::CreateArgs;

pub fn run(store: &Store, a: &CreateArgs, rootless: bool) -> Result<()> {
    let created = create(
        store,
        &a.options(rootless),
        Console::Socket(a.console_socket.clone()),
    )?;
    super::run::send_pidfd(a.pidfd_socket.as_deref(), created.pid)
}
