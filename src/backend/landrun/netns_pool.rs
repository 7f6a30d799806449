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
//!   namespace with it; so does a spawn that fails;
//! - each to one sandbox at a time: a kept namespace is taken out of the
//!   pool by the spawn that joins it.
//!
//! An idle namespace is kept as an fd in flight on a private socket pair
//! (`SCM_RIGHTS` sent to ourselves), not in the caller's fd table: the
//! caller's fd count stays what it was after the runner was made, however
//! many spawns ran, and no fd of the pool can be closed, reused or inherited
//! by the caller's other code. The pair is made with the first runner that
//! may pool, and the end in use is checked before each use. A fork's child
//! shares the pair: each namespace is still received by one spawn only. The
//! kernel drops what is in flight when the last holder of the pair exits.
//!
//! A sandboxed command cannot change such a namespace: it holds no
//! capability over it, and its /proc/sys is read-only. What carries over is
//! the kernel's statistics counters (/proc/net/snmp, /proc/net/netstat).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

/// How many idle namespaces a process keeps; more are let go.
const MAX_IDLE: usize = 4;

/// `ioctl(NS_GET_NSTYPE)` of linux/nsfs.h: the kind of a namespace's fd.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The two ends of the pair, and who each is (device and inode), to tell it
/// from whatever a caller might have put under its number.
struct Pair {
    send: (OwnedFd, (u64, u64)),
    receive: (OwnedFd, (u64, u64)),
}

/// A pool of idle namespaces.
pub(crate) struct Pool {
    pair: OnceLock<Option<Pair>>,
    /// How many this process put in and did not take out (a bound, not a
    /// count: a fork's child shares the pair but not this).
    idle: Mutex<usize>,
}

/// This process's pool.
pub(crate) static POOL: Pool = Pool::new();

/// A sandbox's network namespace: joined from the pool, or made by the
/// sandbox and captured to be kept once it ends.
#[derive(Debug)]
pub(crate) struct Netns(OwnedFd);

impl Netns {
    /// The namespace's fd, for `setns`.
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.0
    }

    /// The network namespace of `pid` (our child, not yet reaped): for a
    /// sandbox that made a new one.
    pub(crate) fn of_child(pid: libc::pid_t) -> Option<Netns> {
        let path = format!("/proc/{pid}/ns/net\0");
        // SAFETY: opens a NUL-terminated path.
        let fd = unsafe {
            libc::open(
                path.as_ptr() as *const libc::c_char,
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        // SAFETY: a new fd that we own.
        (fd >= 0).then(|| Netns(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

/// A file's device and inode.
fn id_of(st: nix::sys::stat::FileStat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

fn identity(fd: BorrowedFd<'_>) -> Option<(u64, u64)> {
    nix::sys::stat::fstat(fd).ok().map(id_of)
}

/// Whether `fd` is a network namespace other than the caller's own.
fn is_other_netns(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: an ioctl without argument on an fd we hold.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind != libc::CLONE_NEWNET {
        return false;
    }
    let own = nix::sys::stat::stat("/proc/thread-self/ns/net")
        .ok()
        .map(id_of);
    own.is_some() && identity(fd) != own
}

impl Pool {
    const fn new() -> Self {
        Pool {
            pair: OnceLock::new(),
            idle: Mutex::new(0),
        }
    }

    /// Makes the pair now (at runner creation), so that spawns do not
    /// change the caller's fd count. Without it nothing is kept.
    pub(crate) fn prepare(&self) {
        self.pair.get_or_init(|| {
            let (send, receive) = socketpair(
                AddressFamily::Unix,
                SockType::Datagram,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .ok()?;
            let send_id = identity(send.as_fd())?;
            let receive_id = identity(receive.as_fd())?;
            Some(Pair {
                send: (send, send_id),
                receive: (receive, receive_id),
            })
        });
    }

    /// One end of the pair, if the pair was made and that fd is still its own.
    fn end(&self, which: impl FnOnce(&Pair) -> &(OwnedFd, (u64, u64))) -> Option<RawFd> {
        let (fd, id) = which(self.pair.get()?.as_ref()?);
        (identity(fd.as_fd()) == Some(*id)).then(|| fd.as_raw_fd())
    }

    /// An idle namespace for a new sandbox, if there is one.
    pub(crate) fn take(&self) -> Option<Netns> {
        let receive = self.end(|p| &p.receive)?;
        loop {
            let mut byte = [0u8; 1];
            let mut iov = [IoSliceMut::new(&mut byte)];
            let mut space = nix::cmsg_space!([RawFd; 1]);
            let msg = match recvmsg::<()>(
                receive,
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => msg,
                Err(Errno::EINTR) => continue,
                Err(_) => return None,
            };
            let mut got: Vec<OwnedFd> = Vec::new();
            for cmsg in msg.cmsgs().into_iter().flatten() {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    // SAFETY: fds the kernel just gave us.
                    got.extend(
                        fds.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            *idle = idle.saturating_sub(1);
            drop(idle);
            if got.len() == 1 && is_other_netns(got[0].as_fd()) {
                return got.pop().map(Netns);
            }
            // Anything else is let go, and the next one tried.
        }
    }

    /// Keeps `netns` for a later sandbox if `report` (the read end of the
    /// pipe the sandbox's init writes its verdict on) says it is empty.
    /// Called once the init is reaped.
    pub(crate) fn give_back(&self, netns: Netns, report: &OwnedFd) {
        let mut verdict = [0u8; 1];
        let clean = loop {
            match nix::unistd::read(report, &mut verdict) {
                Ok(1) => break verdict[0] == 1,
                Err(Errno::EINTR) => continue,
                _ => break false,
            }
        };
        if !clean {
            return;
        }
        let Some(send) = self.end(|p| &p.send) else {
            return;
        };
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if *idle >= MAX_IDLE {
            return;
        }
        let fds = [netns.0.as_raw_fd()];
        let sent = loop {
            match sendmsg::<()>(
                send,
                &[IoSlice::new(&[0])],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Err(Errno::EINTR) => continue,
                other => break other.is_ok(),
            }
        };
        if sent {
            *idle += 1;
        }
        // Our fd closes here; the one in flight keeps the namespace.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe_with(bytes: &[u8]) -> OwnedFd {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, bytes).unwrap();
        r
    }

    /// A network namespace that is not the caller's, when the test may make
    /// one (root).
    fn new_netns() -> Option<Netns> {
        let (r, w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only makes system calls, then waits to be killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: system calls only, in the forked child.
            unsafe {
                let ok = libc::unshare(libc::CLONE_NEWNET) == 0;
                libc::write(w.as_raw_fd(), [ok as u8].as_ptr().cast(), 1);
                libc::pause();
                libc::_exit(0);
            }
        }
        drop(w);
        let mut ok = [0u8];
        let made = nix::unistd::read(&r, &mut ok) == Ok(1) && ok[0] == 1;
        let netns = made.then(|| Netns::of_child(pid)).flatten();
        // SAFETY: our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        netns
    }

    /// The namespaces this process holds an fd of (tests run side by side:
    /// a count would see their fds come and go).
    fn held_netns() -> Vec<String> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|l| l.to_string_lossy().into_owned())
            .filter(|l| l.starts_with("net:"))
            .collect()
    }

    #[test]
    fn only_clean_namespaces_are_kept_a_few_and_off_the_fd_table() {
        let pool = Pool::new();
        pool.prepare();
        if new_netns().is_none() {
            return; // not allowed to make network namespaces here
        }
        pool.give_back(new_netns().unwrap(), &pipe_with(&[0]));
        pool.give_back(new_netns().unwrap(), &pipe_with(&[]));
        assert!(
            pool.take().is_none(),
            "a dirty or missing verdict keeps nothing"
        );
        let mut given = Vec::new();
        for _ in 0..MAX_IDLE + 2 {
            let netns = new_netns().unwrap();
            given.push(format!("net:[{}]", identity(netns.fd().as_fd()).unwrap().1));
            pool.give_back(netns, &pipe_with(&[1]));
        }
        let held = held_netns();
        assert!(
            given.iter().all(|g| !held.contains(g)),
            "idle namespaces are in the fd table: {held:?}"
        );
        let mut kept = Vec::new();
        while let Some(netns) = pool.take() {
            kept.push(identity(netns.fd().as_fd()).unwrap());
        }
        assert_eq!(kept.len(), MAX_IDLE);
        kept.dedup();
        assert_eq!(kept.len(), MAX_IDLE, "one namespace was kept twice");
    }

    #[test]
    fn the_callers_own_namespace_and_other_files_are_not_kept() {
        let pool = Pool::new();
        pool.prepare();
        let own = std::fs::File::open("/proc/self/ns/net").unwrap();
        pool.give_back(Netns(own.into()), &pipe_with(&[1]));
        let other = std::fs::File::open("/dev/null").unwrap();
        pool.give_back(Netns(other.into()), &pipe_with(&[1]));
        assert!(pool.take().is_none());
    }

    fn receiving_end(pool: &Pool) -> RawFd {
        let pair = pool.pair.get().unwrap().as_ref().unwrap();
        pair.receive.0.as_raw_fd()
    }

    #[test]
    fn a_pair_whose_fds_were_replaced_is_not_used() {
        let pool = Pool::new();
        pool.prepare();
        let Some(netns) = new_netns() else {
            return;
        };
        pool.give_back(netns, &pipe_with(&[1]));
        let receive = receiving_end(&pool);
        // SAFETY: duplicates an fd of the pair.
        let saved = unsafe { libc::dup(receive) };
        // The caller closes the fd and a socket of its own, with a namespace
        // in flight, gets the number.
        let theirs = Pool::new();
        theirs.prepare();
        theirs.give_back(new_netns().unwrap(), &pipe_with(&[1]));
        let their_end = receiving_end(&theirs);
        // SAFETY: puts their socket under the pair's number, then restores it.
        unsafe { libc::dup2(their_end, receive) };
        assert!(pool.take().is_none(), "a replaced fd was read from");
        // SAFETY: as above.
        unsafe { libc::dup2(saved, receive) };
        // SAFETY: our duplicate.
        unsafe { libc::close(saved) };
        assert!(pool.take().is_some());
    }
}
