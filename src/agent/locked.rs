//! A value kept in its own anonymous memory mapping that is locked into RAM
//! (mlock: never written to swap) and left out of core dumps
//! (MADV_DONTDUMP); zeroed before the mapping is released. The agent keeps
//! each profile's identity in one.

use std::ptr::NonNull;

pub struct LockedBox<T> {
    ptr: NonNull<T>,
    len: usize,
    /// Whether mlock succeeded (RLIMIT_MEMLOCK may forbid it).
    locked: bool,
}

// SAFETY: LockedBox owns its T exclusively, like Box<T>.
unsafe impl<T: Send> Send for LockedBox<T> {}
// SAFETY: shared access only hands out &T, like Box<T>.
unsafe impl<T: Sync> Sync for LockedBox<T> {}

impl<T> LockedBox<T> {
    /// Moves `value` into a fresh locked mapping; None if no mapping could be made.
    pub fn new(value: T) -> Option<LockedBox<T>> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .unwrap_or(4096)
            .max(4096);
        let size = std::mem::size_of::<T>().max(1);
        let len = size.div_ceil(page) * page;
        // SAFETY: an anonymous private mapping; the result is checked.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: raw..raw+len is the mapping just made.
        let locked = unsafe { libc::mlock(raw, len) } == 0;
        #[cfg(target_os = "linux")]
        // SAFETY: advice on our own mapping; failure is harmless.
        unsafe {
            libc::madvise(raw, len, libc::MADV_DONTDUMP);
        }
        let ptr = NonNull::new(raw.cast::<T>())?;
        // SAFETY: page-aligned (so aligned for T), large enough, writable.
        unsafe { ptr.as_ptr().write(value) };
        Some(LockedBox { ptr, len, locked })
    }

    /// Whether the memory is locked into RAM.
    pub fn is_locked(&self) -> bool {
        self.locked
    }
}

impl<T> std::ops::Deref for LockedBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in new(), valid until drop.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for LockedBox<T> {
    fn drop(&mut self) {
        let raw = self.ptr.as_ptr().cast::<u8>();
        // SAFETY: the value is initialised and dropped exactly once here;
        // then the whole mapping is zeroed (volatile, so not optimised
        // away), unlocked and unmapped.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr());
            for i in 0..self.len {
                std::ptr::write_volatile(raw.add(i), 0);
            }
            if self.locked {
                libc::munlock(raw.cast(), self.len);
            }
            libc::munmap(raw.cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_and_drops_its_value() {
        let b = LockedBox::new([7u8; 32]).expect("mmap");
        assert_eq!(b[0], 7);
        assert_eq!(b.len(), 32);
        let s = LockedBox::new(String::from("x")).expect("mmap");
        assert_eq!(s.as_str(), "x");
        drop(s);
    }
}
