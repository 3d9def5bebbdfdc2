//! Leaving the CPU to a task just made.
//!
//! A new task starts on its parent's CPU and waits there while the parent
//! keeps running: work the two could do side by side on a machine with
//! CPUs to spare is done one after the other. The parent steps aside to its
//! other CPUs for that work and comes back to all of them after, so that
//! nothing it starts later (hooks) inherits the narrower set.

/// The CPU set the process had before [`step_aside`]; restored by
/// [`Aside::back`] or on drop.
pub struct Aside(Option<libc::cpu_set_t>);

/// Moves this thread off the CPU it runs on, to the others it may use;
/// nothing happens with fewer than two.
pub fn step_aside() -> Aside {
    // SAFETY: cpu_set_t is plain data; the calls only read and write it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Aside(None);
        }
        let here = libc::sched_getcpu();
        if here < 0 || libc::CPU_COUNT(&set) < 2 {
            return Aside(None);
        }
        let mut others = set;
        libc::CPU_CLR(here as usize, &mut others);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &others) != 0 {
            return Aside(None);
        }
        Aside(Some(set))
    }
}

impl Aside {
    pub fn back(self) {}
}

impl Drop for Aside {
    fn drop(&mut self) {
        if let Some(set) = self.0.take() {
            // SAFETY: as above. A failure leaves berth on fewer CPUs, which
            // only makes it slower.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        }
    }
}
