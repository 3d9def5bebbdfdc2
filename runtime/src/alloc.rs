//! The berth binary's memory allocator: blocks of power-of-two size
//! classes, carved from 256 KiB mappings that are never given back, with a
//! free list per class.
//!
//! Why not the C library's malloc: the installed berth is static with musl
//! (hack/build), and musl's malloc maps and unmaps a page for many small
//! allocations and frees. A foreground `run` made about 40 mmap/munmap
//! pairs, and perf put them and the malloc code at about a tenth of the
//! parent's CPU time (each munmap tears down page tables and the next
//! mmap faults a fresh zeroed page in). berth lives for milliseconds and
//! allocates a few hundred KiB at most, so memory it frees is better kept
//! for its next allocation than returned. Its long-lived commands (`events`,
//! a foreground `run` or `exec` waiting for the process) allocate in a
//! steady loop at most, which the free lists serve without growth.
//!
//! Blocks above 32 KiB (or aligned above a page) go to the system
//! allocator, which maps them whole.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};

const MIN_SHIFT: u32 = 4; // 16 bytes: room for the free-list link
const MAX_SHIFT: u32 = 15; // 32 KiB
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
const PAGE: usize = 4096;
const CHUNK: usize = 256 * 1024;

/// The size class of a layout, or None for the system allocator.
/// Inlined: berth's size-optimised build called it on every alloc, free
/// and realloc (1500 calls before clone3 in `run`).
#[inline(always)]
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    if size > 1 << MAX_SHIFT || layout.align() > PAGE {
        return None;
    }
    Some((size.next_power_of_two().trailing_zeros() - MIN_SHIFT) as usize)
}

fn class_size(c: usize) -> usize {
    1 << (c as u32 + MIN_SHIFT)
}

struct Heap {
    free: [Option<NonNull<Free>>; CLASSES],
    next: usize,
    end: usize,
}

struct Free {
    next: Option<NonNull<Free>>,
}

impl Heap {
    /// A block of class `c`, from its free list or the current mapping.
    ///
    /// # Safety
    /// Called with the pool's lock held.
    unsafe fn take(&mut self, c: usize) -> *mut u8 {
        if let Some(block) = self.free[c] {
            // SAFETY: a block on a free list is one this heap handed out,
            // freed, and linked there; nobody else holds it.
            self.free[c] = unsafe { block.as_ref().next };
            return block.as_ptr().cast();
        }
        let size = class_size(c);
        // Natural alignment up to a page: any layout of this class fits.
        let align = size.min(PAGE);
        let mut at = (self.next + align - 1) & !(align - 1);
        if self.next == 0 || at + size > self.end {
            // SAFETY: a fresh private anonymous mapping; no existing memory
            // is affected.
            let base = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    CHUNK,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return ptr::null_mut();
            }
            // The rest of the old mapping is left unused: at most one
            // block's worth, and never touched, so it costs no memory.
            at = base as usize;
            self.end = at + CHUNK;
        }
        self.next = at + size;
        at as *mut u8
    }

    /// # Safety
    /// `p` came from `take(c)` and is no longer used; lock held.
    unsafe fn give(&mut self, p: *mut u8, c: usize) {
        let block = p.cast::<Free>();
        // SAFETY: the block is at least 16 bytes and aligned to 16, so it
        // holds a link; the caller no longer uses it.
        unsafe { block.write(Free { next: self.free[c] }) };
        self.free[c] = NonNull::new(block);
    }
}

/// The allocator; `#[global_allocator]` in the berth binary.
pub struct Pool {
    locked: AtomicBool,
    heap: UnsafeCell<Heap>,
}

// SAFETY: the heap is only touched with `locked` held (see `with`), and the
// blocks it hands out belong to their callers.
unsafe impl Sync for Pool {}

impl Pool {
    pub const fn new() -> Pool {
        Pool {
            locked: AtomicBool::new(false),
            heap: UnsafeCell::new(Heap {
                free: [None; CLASSES],
                next: 0,
                end: 0,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Heap) -> T) -> T {
        // berth is single-threaded: the lock is never contended there, but
        // it keeps the pool sound wherever it is used.
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock makes this the only reference to the heap.
        let r = f(unsafe { &mut *self.heap.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new()
    }
}

unsafe impl GlobalAlloc for Pool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class(layout) {
            // SAFETY: lock held inside `with`.
            Some(c) => self.with(|h| unsafe { h.take(c) }),
            // SAFETY: forwarded with the caller's layout.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match class(layout) {
            // SAFETY: the same layout chose the same class in alloc, so `p`
            // came from `take(c)`; lock held inside `with`.
            Some(c) => self.with(|h| unsafe { h.give(p, c) }),
            // SAFETY: it came from System with this layout.
            None => unsafe { System.dealloc(p, layout) },
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (for the Layout): GlobalAlloc::realloc's contract makes
        // new_size, rounded to the alignment, a valid layout size.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new)) {
            // Still fits its block (a growing Vec within its class).
            (Some(a), Some(b)) if a == b => p,
            // SAFETY: both sides the system allocator's, as in alloc.
            (None, None) => unsafe { System.realloc(p, layout, new_size) },
            _ => {
                // SAFETY: a fresh block for `new`; `p` is valid for the
                // old size, and the two do not overlap.
                unsafe {
                    let q = self.alloc(new);
                    if !q.is_null() {
                        ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                        self.dealloc(p, layout);
                    }
                    q
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_size_and_alignment() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(class(l(1, 1)), Some(0));
        assert_eq!(class(l(16, 8)), Some(0));
        assert_eq!(class(l(17, 1)), Some(1));
        assert_eq!(class(l(8, 64)), Some(2));
        assert_eq!(class(l(32 * 1024, 8)), Some(CLASSES - 1));
        assert_eq!(class(l(32 * 1024 + 1, 8)), None);
        assert_eq!(class(l(16, 8192)), None);
    }

    /// Blocks are aligned as asked, never overlap while live, and a freed
    /// block is reused before the mapping grows.
    #[test]
    fn blocks_are_aligned_disjoint_and_reused() {
        let pool = Pool::new();
        let mut live = Vec::new();
        for (i, size) in [1usize, 24, 100, 3000, 4096, 5000, 32768, 40000]
            .iter()
            .cycle()
            .take(400)
            .enumerate()
        {
            let align = [1usize, 8, 16, 64, 4096][i % 5];
            let layout = Layout::from_size_align(*size, align).unwrap();
            let p = unsafe { pool.alloc(layout) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "{layout:?}");
            unsafe { ptr::write_bytes(p, i as u8, *size) };
            live.push((p, layout, i as u8));
        }
        for &(p, layout, byte) in &live {
            let all = unsafe { std::slice::from_raw_parts(p, layout.size()) };
            assert!(all.iter().all(|b| *b == byte), "{layout:?} overwritten");
        }
        let (p, layout, _) = live.swap_remove(2);
        unsafe { pool.dealloc(p, layout) };
        let again = unsafe { pool.alloc(layout) };
        assert_eq!(again, p);
        live.push((again, layout, 0));
        for (p, layout, _) in live {
            unsafe { pool.dealloc(p, layout) };
        }
    }

    #[test]
    fn realloc_keeps_contents_across_classes() {
        let pool = Pool::new();
        let mut layout = Layout::from_size_align(10, 1).unwrap();
        let mut p = unsafe { pool.alloc(layout) };
        unsafe { ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p, 10) };
        for size in [12, 16, 17, 4000, 70000, 50, 3] {
            let q = unsafe { pool.realloc(p, layout, size) };
            assert!(!q.is_null());
            let keep = layout.size().min(size).min(10);
            let got = unsafe { std::slice::from_raw_parts(q, keep) };
            assert_eq!(got, &b"0123456789"[..keep]);
            if class(layout) == class(Layout::from_size_align(size, 1).unwrap()) {
                assert_eq!(q, p, "same class, same block");
            }
            p = q;
            layout = Layout::from_size_align(size, 1).unwrap();
        }
        unsafe { pool.dealloc(p, layout) };
    }

    #[test]
    fn threads_share_the_pool() {
        static POOL: Pool = Pool::new();
        let workers: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..2000usize {
                        let layout = Layout::from_size_align(16 << (i % 6), 8).unwrap();
                        let p = unsafe { POOL.alloc(layout) };
                        unsafe { p.write(t as u8) };
                        std::thread::yield_now();
                        assert_eq!(unsafe { p.read() }, t as u8);
                        unsafe { POOL.dealloc(p, layout) };
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }
}
