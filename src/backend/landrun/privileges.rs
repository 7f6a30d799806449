//! The capability layer: every capability set emptied before exec, for a
//! root caller and inside a user namespace alike, so the command holds no
//! privilege over anything, its sandbox included.
//!
//! Root keeps uid 0 when it runs without a user namespace, and a plain
//! execve by uid 0 would hand the full bounding set back; so the bounding
//! set is emptied and the securebits that make uid 0 special are locked
//! off. `no_new_privs` then keeps set-user-ID files and file capabilities
//! from granting anything.

use std::sync::OnceLock;

use crate::caps;
use crate::error::{Error, ErrorKind, Result};

/// What the child needs to drop everything: the highest capability number
/// of this kernel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    last_cap: u32,
}

/// Reads the kernel's highest capability number (once per process).
pub(crate) fn prepare() -> Result<Prepared> {
    static LAST: OnceLock<std::result::Result<u32, String>> = OnceLock::new();
    let last = LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .map_err(|e| format!("reading /proc/sys/kernel/cap_last_cap: {e}"))?
            .trim()
            .parse::<u32>()
            .map_err(|e| format!("parsing /proc/sys/kernel/cap_last_cap: {e}"))
    });
    match last {
        Ok(last_cap) => Ok(Prepared {
            last_cap: (*last_cap).min(63),
        }),
        Err(msg) => Err(Error::new(ErrorKind::Spawn, msg.clone())),
    }
}

// SECBIT_NOROOT | _LOCKED, SECBIT_NO_SETUID_FIXUP | _LOCKED,
// SECBIT_KEEP_CAPS_LOCKED, SECBIT_NO_CAP_AMBIENT_RAISE | _LOCKED.
const SECUREBITS: libc::c_ulong = 0b1110_1111;

/// Drops every capability of the calling process; returns the errno of the
/// call that failed.
///
/// # Safety
/// Async-signal-safe: only system calls on stack data. Meant for a
/// vfork-style child.
pub(crate) unsafe fn drop_all(p: &Prepared) -> std::result::Result<(), i32> {
    // SAFETY: per this function's contract.
    unsafe { drop_bounding(p)? };
    clear()
}

/// The first half of [`drop_all`]: locks the securebits and empties the
/// bounding and ambient sets, which only matter at the next execve (one
/// `prctl` per capability).
///
/// # Safety
/// As [`drop_all`].
unsafe fn drop_bounding(p: &Prepared) -> std::result::Result<(), i32> {
    // SAFETY: plain system calls on local data.
    unsafe {
        let errno = || *libc::__errno_location();
        if libc::prctl(libc::PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) == 0 {
            for cap in 0..=p.last_cap {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(errno());
                }
            }
        } else if errno() == libc::EPERM {
            // Without CAP_SETPCAP the bounding set cannot change; that is
            // only acceptable when there is nothing to drop.
            let data = caps::get()?;
            if data.iter().any(|d| d.permitted != 0 || d.effective != 0) {
                return Err(libc::EPERM);
            }
        } else {
            return Err(errno());
        }
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ) != 0
            && errno() != libc::EINVAL
        {
            return Err(errno());
        }
        Ok(())
    }
}

/// The second half of [`drop_all`]: empties the effective, permitted and
/// inheritable sets (one `capset`, async-signal-safe).
fn clear() -> std::result::Result<(), i32> {
    caps::set(&caps::Sets::default())
}

/// Makes the next execve keep `CAP_SETPCAP` for a process that is not uid
/// 0 in its namespace (uid 0 keeps every capability through an exec): it
/// goes into the inheritable and ambient sets. The sandbox's init thus
/// holds a capability the command lacks from its first instruction, which
/// keeps the command from tracing it until it is undumpable, and it is the
/// one the init needs to empty its own bounding set.
///
/// # Safety
/// As [`drop_all`].
pub(crate) unsafe fn keep_setpcap_through_exec() -> std::result::Result<(), i32> {
    // SAFETY: plain system calls on local data.
    unsafe {
        if libc::getuid() == 0 {
            return Ok(());
        }
        let mut sets = caps::get()?;
        sets[0].inheritable |= 1 << CAP_SETPCAP;
        caps::set(&sets)?;
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE,
            CAP_SETPCAP as libc::c_ulong,
            0,
            0,
        ) != 0
        {
            return Err(*libc::__errno_location());
        }
        Ok(())
    }
}

/// Whether this process holds `cap` in its effective set.
pub(crate) fn has_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << cap) != 0)
}

// Capability numbers of linux/capability.h.
const CAP_SETPCAP: u32 = 8;
pub(crate) const CAP_SYS_ADMIN: u32 = 21;
