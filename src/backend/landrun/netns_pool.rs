//! Network namespaces kept for the next spawn of this process.
//!
//! With networking off, a sandbox gets a network namespace of its own: only
//! a loopback, no host address, no host abstract socket. Making one is the
//! costliest step of a spawn (about 0.5 ms of kernel time, and as much again
//! when the kernel tears it down in the background), yet an empty one is
//! all alike. So when the sandbox ends, its namespace is kept and the next
//! spawn joins it instead of making one:
//! - only namespaces the caller owns (no user namespace for the sandbox: a
//!   root caller), which every later sandbox may join;
//! - only once every process of the sandbox is gone: the sandbox's init
//!   kills and reaps them all after the command exits, and then says
//!   whether the namespace holds nothing: no socket of any kind and no TCP
//!   connection in TIME_WAIT (`/proc/net/sockstat`). A sandbox that leaves
//!   anything, or that ends without its init's word (killed), takes its
//!   namespace with it;
//! - never two sandboxes at once, and never across a fork: the idle ones
//!   belong to the process that made them.
//!
//! A sandboxed command cannot change such a namespace: it holds no
//! capability over it, and its /proc/sys is read-only. What carries over is
//! the kernel's statistics counters (/proc/net/snmp, /proc/net/netstat).

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Mutex;

use nix::errno::Errno;

/// How many idle namespaces a process keeps; more are let go.
const MAX_IDLE: usize = 4;

struct Idle {
    /// The process the namespaces belong to (a fork starts afresh).
    owner: u32,
    fds: Vec<OwnedFd>,
}

/// A pool of idle namespaces.
pub(crate) struct Pool(Mutex<Idle>);

/// This process's pool.
pub(crate) static POOL: Pool = Pool::new();

impl Pool {
    const fn new() -> Self {
        Pool(Mutex::new(Idle {
            owner: 0,
            fds: Vec::new(),
        }))
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        let mut idle = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let me = std::process::id();
        if idle.owner != me {
            // Inherited through a fork: the parent may hand the same ones
            // out.
            idle.fds.clear();
            idle.owner = me;
        }
        idle
    }

    /// An idle namespace for a new sandbox, if there is one.
    pub(crate) fn take(&self) -> Option<OwnedFd> {
        self.idle().fds.pop()
    }

    /// Keeps `netns` for a later sandbox if `report` (the read end of the
    /// pipe the sandbox's init writes its verdict on) says it is empty.
    /// Called once the init is reaped.
    pub(crate) fn give_back(&self, netns: OwnedFd, report: &OwnedFd) {
        let mut verdict = [0u8; 1];
        let clean = loop {
            match nix::unistd::read(report, &mut verdict) {
                Ok(1) => break verdict[0] == 1,
                Err(Errno::EINTR) => continue,
                _ => break false,
            }
        };
        if clean {
            let mut idle = self.idle();
            if idle.fds.len() < MAX_IDLE {
                idle.fds.push(netns);
            }
        }
    }
}

/// The network namespace of `pid` (our child, not yet reaped), to keep
/// once it ends: for a sandbox that made a new one.
pub(crate) fn of_child(pid: libc::pid_t) -> Option<OwnedFd> {
    let path = format!("/proc/{pid}/ns/net\0");
    // SAFETY: opens a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            path.as_ptr() as *const libc::c_char,
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a new fd that we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe_with(bytes: &[u8]) -> OwnedFd {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, bytes).unwrap();
        r
    }

    fn null() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    #[test]
    fn only_a_clean_verdict_keeps_a_namespace_and_at_most_a_few() {
        let pool = Pool::new();
        pool.give_back(null(), &pipe_with(&[0]));
        pool.give_back(null(), &pipe_with(&[]));
        assert!(
            pool.take().is_none(),
            "a dirty or missing verdict keeps nothing"
        );
        for _ in 0..MAX_IDLE + 2 {
            pool.give_back(null(), &pipe_with(&[1]));
        }
        let mut kept = 0;
        while pool.take().is_some() {
            kept += 1;
        }
        assert_eq!(kept, MAX_IDLE);
    }

    #[test]
    fn a_fork_starts_with_an_empty_pool() {
        let pool = Pool::new();
        pool.give_back(null(), &pipe_with(&[1]));
        pool.idle().owner = std::process::id() + 1;
        assert!(pool.take().is_none());
    }
}
