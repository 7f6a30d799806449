//! The calling process's capability sets through `capget`/`capset`
//! (version 3: two 32-bit words per set), for the vfork-style children that
//! change their own: plain system calls on stack data, async-signal-safe.

/// `_LINUX_CAPABILITY_VERSION_3`.
const VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

/// One 32-bit word of each set.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Word {
    pub(crate) effective: u32,
    pub(crate) permitted: u32,
    pub(crate) inheritable: u32,
}

/// The three sets, low word first.
pub(crate) type Sets = [Word; 2];

fn header() -> Header {
    Header {
        version: VERSION_3,
        pid: 0,
    }
}

/// The calling thread's sets, or the errno of `capget`.
pub(crate) fn get() -> Result<Sets, i32> {
    let mut sets = Sets::default();
    // SAFETY: capget writes two words to `sets`, which holds two.
    if unsafe { libc::syscall(libc::SYS_capget, &header(), sets.as_mut_ptr()) } != 0 {
        return Err(errno());
    }
    Ok(sets)
}

/// Sets the calling thread's sets, or returns the errno of `capset`.
pub(crate) fn set(sets: &Sets) -> Result<(), i32> {
    // SAFETY: capset reads two words from `sets`.
    if unsafe { libc::syscall(libc::SYS_capset, &header(), sets.as_ptr()) } != 0 {
        return Err(errno());
    }
    Ok(())
}

fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}
