//! The limits layer: resource limits prepared before the spawn and set by
//! the command's process just before exec.
//!
//! `max_processes` is `RLIMIT_NPROC`. In the sandbox's user namespace the
//! kernel counts it per namespace, so it bounds the command's own tree (the
//! namespace's init counts as one, and is allowed for); for a root caller,
//! which runs without a user namespace and which the kernel exempts from
//! `RLIMIT_NPROC`, a pids cgroup does the same job (see `cgroup`).

use super::rules::Limits;
use crate::error::{Error, ErrorKind, Result};

/// The type glibc's `setrlimit` takes for a resource.
pub(crate) type Resource = libc::__rlimit_resource_t;

/// Which limit, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Memory,
    Processes,
    OpenFiles,
    Cpu,
}

impl Which {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Which::Memory => "setting max_memory_bytes (RLIMIT_AS)",
            Which::Processes => "setting max_processes (RLIMIT_NPROC)",
            Which::OpenFiles => "setting max_open_files (RLIMIT_NOFILE)",
            Which::Cpu => "setting max_cpu_seconds (RLIMIT_CPU)",
        }
    }
}

/// The limits to set, ready for the child.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    pub(crate) limits: [(Which, Resource, Option<libc::rlimit>); 4],
    /// Highest fd to mark close-on-exec when `close_range` is missing.
    pub(crate) max_fd: libc::c_int,
}

fn current(resource: Resource) -> Result<libc::rlimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return Err(Error::from_errno(
            ErrorKind::Spawn,
            format!("reading resource limit {resource}"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(r)
}

/// Prepares `limits`; `init_counts` adds one process for the namespace's
/// init, which shares the command's user and namespace.
pub(crate) fn prepare(limits: Limits, init_counts: bool) -> Result<Prepared> {
    let Limits {
        memory_bytes,
        processes,
        open_files,
        cpu_seconds,
    } = limits;
    let processes = processes.map(|p| p.saturating_add(u64::from(init_counts)));
    let wanted = [
        (Which::Memory, libc::RLIMIT_AS, memory_bytes),
        (Which::Processes, libc::RLIMIT_NPROC, processes),
        (Which::OpenFiles, libc::RLIMIT_NOFILE, open_files),
        (Which::Cpu, libc::RLIMIT_CPU, cpu_seconds),
    ];
    let mut out = [(Which::Memory, 0, None); 4];
    for (slot, (which, resource, value)) in out.iter_mut().zip(wanted) {
        let limit = match value {
            // A maximum: above the current hard limit (which only a
            // privileged process could raise) the hard limit already holds.
            Some(v) => {
                let hard = current(resource)?.rlim_max;
                // At the CPU soft limit the kernel sends SIGXCPU, at the hard
                // one SIGKILL: one second apart, the program sees SIGXCPU.
                let max = if resource == libc::RLIMIT_CPU {
                    v.saturating_add(1)
                } else {
                    v
                };
                Some(libc::rlimit {
                    rlim_cur: v.min(hard),
                    rlim_max: max.min(hard),
                })
            }
            None => None,
        };
        *slot = (which, resource, limit);
    }
    let nofile = current(libc::RLIMIT_NOFILE)?;
    Ok(Prepared {
        limits: out,
        max_fd: nofile.rlim_cur.min(1 << 20) as libc::c_int,
    })
}

/// Sets the prepared limits.
///
/// # Safety
/// System calls only; for the vfork-style child.
pub(crate) unsafe fn apply(p: &Prepared) -> std::result::Result<(), (Which, i32)> {
    for (which, resource, limit) in &p.limits {
        if let Some(limit) = limit {
            // SAFETY: setrlimit reads one rlimit.
            if unsafe { libc::setrlimit(*resource, limit) } != 0 {
                // SAFETY: reads this thread's errno.
                return Err((*which, unsafe { *libc::__errno_location() }));
            }
        }
    }
    Ok(())
}
