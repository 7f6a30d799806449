//! `init`: PID 1 of a landrun sandbox's PID namespace.
//!
//! The library's child sets up the namespaces, starts the command (its own
//! child, so now ours), releases it, then execs this program, which:
//! - makes itself undumpable, and only then drops the capabilities the
//!   library's child kept through the exec (all of them as uid 0, else
//!   `CAP_SETPCAP` in the ambient set; so that the command's program,
//!   which may already run and holds none, can trace neither: see
//!   `start_init` in src/backend/landrun/launch.rs); every set is emptied
//!   and the securebits that make uid 0 special are locked off, as for the
//!   command;
//! - reaps every process the namespace's orphans reparent to it;
//! - forwards the signals the library sends (from outside the namespace) to
//!   every process of the sandbox, `kill(-1, sig)`; signals sent from inside
//!   are ignored, as PID 1 ignores them by default;
//! - when the command exits, kills and reaps whatever is left in the
//!   namespace, so nothing outlives the command; then, when fd 6 is given,
//!   writes to it whether the sandbox's network namespace was left empty
//!   (no socket, no TCP connection in TIME_WAIT: the library then keeps it
//!   for a later sandbox), writes the command's wait status to fd 4 and
//!   exits;
//! - exits at once when the caller dies (its pidfd, fd 3, becomes readable),
//!   which ends the whole sandbox with it.

use crate::sys::{self, nr, sys, KernelSigaction, PollFd, SigSet, SignalfdSiginfo};

/// The signal the library sends, queued with the signal to forward as its
/// value, for signals init cannot receive itself (SIGSTOP).
const CONTROL_SIGNAL: i32 = 64;

const CALLER_FD: i32 = 3;
const STATUS_FD: i32 = 4;
const NETNS_FD: i32 = 6;

extern "C" fn ignore(_: i32) {}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl rr_restore_rt",
    "rr_restore_rt:",
    "mov rax, 15",
    "syscall",
    "ud2",
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn rr_restore_rt();
}

fn restorer() -> (u64, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        (sys::SA_RESTORER, rr_restore_rt as *const () as usize)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (0, 0)
    }
}

/// Signals that get a handler so that the kernel delivers them to PID 1
/// (it drops signals whose disposition is the default); all stay blocked
/// and are read from a signalfd, so the handler never runs.
fn forwarded(sig: i32) -> bool {
    // Synchronous faults are the kernel's business, SIGKILL and SIGSTOP
    // cannot be handled.
    !matches!(sig, 4 | 5 | 7 | 8 | 9 | 11 | 19 | 31)
}

// SECBIT_NOROOT | _LOCKED, SECBIT_NO_SETUID_FIXUP | _LOCKED,
// SECBIT_KEEP_CAPS_LOCKED, SECBIT_NO_CAP_AMBIENT_RAISE | _LOCKED: as the
// library sets them for the command.
const SECUREBITS: usize = 0b1110_1111;

/// Empties every capability set; exits when that fails with capabilities
/// left (fail closed: the namespace, the command's program included, ends
/// with this process).
fn drop_capabilities() {
    if sys!(nr::PRCTL, sys::PR_SET_SECUREBITS, SECUREBITS) == 0 {
        for cap in 0..64usize {
            let r = sys!(nr::PRCTL, sys::PR_CAPBSET_DROP, cap);
            if r == -sys::EINVAL {
                // Past the kernel's last capability.
                break;
            }
            if r != 0 {
                sys::exit(125);
            }
        }
    }
    let r = sys!(nr::PRCTL, sys::PR_CAP_AMBIENT, sys::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if r != 0 && r != -sys::EINVAL {
        sys::exit(125);
    }
    let mut header = sys::CapHeader { version: sys::CAPABILITY_VERSION_3, pid: 0 };
    let none = [sys::CapData::default(); 2];
    if sys!(nr::CAPSET, &header as *const sys::CapHeader, none.as_ptr()) != 0 {
        sys::exit(125);
    }
    // What is left is checked. (The securebits and the bounding set, which
    // need CAP_SETPCAP, matter only at an exec, and this program makes
    // none.)
    let mut held = [sys::CapData::default(); 2];
    if sys!(nr::CAPGET, &mut header as *mut sys::CapHeader, held.as_mut_ptr()) != 0
        || held.iter().any(|d| d.effective | d.permitted | d.inheritable != 0)
    {
        sys::exit(125);
    }
}

pub fn run(command: i32) -> ! {
    // First: the capabilities kept through the exec guard this process
    // until it is undumpable.
    if sys!(nr::PRCTL, sys::PR_SET_DUMPABLE, 0) != 0 {
        sys::exit(125);
    }
    drop_capabilities();
    let all: SigSet = !0;
    sys!(nr::RT_SIGPROCMASK, sys::SIG_SETMASK, &all as *const SigSet, 0, 8);
    let (restore_flag, restore) = restorer();
    let action = KernelSigaction {
        handler: ignore as *const () as usize,
        flags: sys::SA_RESTART | restore_flag,
        restorer: restore,
        mask: all,
    };
    for sig in 1..=64 {
        if forwarded(sig) {
            sys!(nr::RT_SIGACTION, sig, &action as *const KernelSigaction, 0, 8);
        }
    }
    let sfd = sys!(nr::SIGNALFD4, -1isize, &all as *const SigSet, 8, sys::SFD_CLOEXEC);
    if sfd < 0 {
        sys::exit(125);
    }
    let sfd = sfd as i32;
    // Opened now, while the command starts, and read when it has ended: the
    // first lookups in the sandbox's new /proc are slow, and the reading
    // is what the caller's wait waits for. (It shows this namespace's
    // counts whoever reads it.) A zero-length write tells whether the
    // verdict is wanted.
    let sockstat = if sys!(nr::WRITE, NETNS_FD, [0u8; 1].as_ptr(), 0) == 0 {
        sys!(nr::OPENAT, sys::AT_FDCWD, b"/proc/net/sockstat\0".as_ptr(), sys::O_CLOEXEC, 0)
    } else {
        -1
    };
    // The command may have ended (killed) before the signalfd existed.
    reap(command, sockstat);

    let mut fds = [
        PollFd { fd: sfd, events: sys::POLLIN, revents: 0 },
        PollFd { fd: CALLER_FD, events: sys::POLLIN, revents: 0 },
    ];
    loop {
        fds[0].revents = 0;
        fds[1].revents = 0;
        let n = sys!(nr::PPOLL, fds.as_mut_ptr(), fds.len(), 0, 0, 0);
        if n == -sys::EINTR {
            continue;
        }
        if n < 0 {
            sys::exit(125);
        }
        // POLLNVAL (no caller pidfd was given) leaves the fd ignored.
        if fds[1].revents & sys::POLLIN != 0 {
            // The caller is gone: so is the sandbox.
            sys::exit(1);
        }
        if fds[1].revents != 0 {
            fds[1].fd = -1;
        }
        if fds[0].revents == 0 {
            continue;
        }
        let mut info = core::mem::MaybeUninit::<SignalfdSiginfo>::uninit();
        let got = sys!(nr::READ, sfd, info.as_mut_ptr(), core::mem::size_of::<SignalfdSiginfo>());
        if got != core::mem::size_of::<SignalfdSiginfo>() as isize {
            continue;
        }
        // SAFETY: the kernel filled the whole struct.
        let info = unsafe { info.assume_init() };
        let sig = info.signo as i32;
        if sig == sys::SIGCHLD {
            reap(command, sockstat);
        } else if info.pid == 0 {
            // From an ancestor namespace: the library (or the host).
            let target = if sig == CONTROL_SIGNAL && info.code == sys::SI_QUEUE {
                info.int
            } else {
                sig
            };
            if (1..=64).contains(&target) {
                sys!(nr::KILL, -1isize, target);
            }
        }
    }
}

/// Reaps every child that has exited; when the command is one of them,
/// ends the rest, gives the verdict on the network namespace (when
/// `sockstat` is open), reports the command's status and exits.
fn reap(command: i32, sockstat: isize) {
    loop {
        let mut status: i32 = 0;
        let pid = sys!(nr::WAIT4, -1isize, &mut status as *mut i32, sys::WNOHANG, 0);
        if pid == -sys::EINTR {
            continue;
        }
        if pid == -sys::ECHILD {
            // Nothing left to wait for: the command is gone without a status.
            sys::exit(126);
        }
        if pid <= 0 {
            return;
        }
        if pid as i32 == command {
            end_the_rest();
            if sockstat >= 0 {
                sys::write_all(NETNS_FD, &[u8::from(netns_is_empty(sockstat))]);
            }
            sys::write_all(STATUS_FD, &status.to_ne_bytes());
            sys::exit(0);
        }
    }
}

/// Kills every other process of the namespace and reaps them all (each
/// orphan becomes our child), so that none is left once the status is out.
fn end_the_rest() {
    sys!(nr::KILL, -1isize, sys::SIGKILL);
    loop {
        let pid = sys!(nr::WAIT4, -1isize, 0, 0, 0);
        if pid < 0 && pid != -sys::EINTR {
            return;
        }
    }
}

/// Whether this process's network namespace holds no socket (of any
/// family) and no TCP connection in TIME_WAIT, per `/proc/net/sockstat`
/// (`sockstat`, read afresh from its start): its `sockets: used` and its
/// `tw` count are the namespace's own.
fn netns_is_empty(sockstat: isize) -> bool {
    let mut buf = [0u8; 512];
    let mut len = 0;
    while len < buf.len() {
        let n = sys!(nr::PREAD64, sockstat, buf[len..].as_mut_ptr(), buf.len() - len, len);
        if n == -sys::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    sockstat_is_empty(&buf[..len])
}

/// Reads `/proc/net/sockstat`'s text: "sockets: used 0" first, and a TCP
/// line with " tw 0 ".
fn sockstat_is_empty(text: &[u8]) -> bool {
    if !text.starts_with(b"sockets: used 0\n") {
        return false;
    }
    text.split(|b| *b == b'\n')
        .find(|line| line.starts_with(b"TCP:"))
        .is_some_and(|line| line.windows(6).any(|w| w == b" tw 0 "))
}
