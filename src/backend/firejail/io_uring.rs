//! How the jail keeps io_uring from its command. io_uring runs operations
//! (making a socket among them) without the system calls a seccomp filter
//! sees, so it would get around the jail's socket filter.
//!
//! firejail 0.9.72 can refuse the io_uring calls only by rebuilding its
//! whole default seccomp filter in two helper processes at every spawn,
//! which costs a tenth of the spawn. Recent kernels charge an io_uring's
//! rings to RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK, so the
//! jail's shell sets that limit to 0 and, where that is enough, the
//! prebuilt filter is kept. Whether it is enough is probed once per
//! process, in a child that gives up its capabilities and sets the limit as
//! the jailed command will; an answer the probe cannot give means the
//! filter is rebuilt.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::OnceLock;

/// Exit status of the probe when io_uring is out of reach.
const OUT_OF_REACH: i32 = 0;
/// Exit status of the probe in every other case.
const IN_REACH: i32 = 1;

/// Bytes of `struct io_uring_params`.
const IO_URING_PARAMS_SIZE: usize = 120;

const STACK_SIZE: usize = 64 * 1024;

/// True when a process with no capabilities and an RLIMIT_MEMLOCK of 0
/// cannot create an io_uring on this machine; false when it can, or when
/// that could not be found out.
pub(crate) fn memlock_limit_stops_io_uring() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| probe() == Some(OUT_OF_REACH))
}

/// Runs the probe in a child and returns its exit status.
fn probe() -> Option<i32> {
    let mut stack: Vec<MaybeUninit<u8>> = Vec::with_capacity(STACK_SIZE);
    // SAFETY: one past the end of the allocation, aligned down to 16; the
    // child's stack grows down from there.
    let stack_top = unsafe { ((stack.as_mut_ptr().add(STACK_SIZE) as usize) & !15) as *mut c_void };
    let pid = {
        let _blocked = BlockedSignals::new()?;
        // SAFETY: `child` makes only async-signal-safe calls on its own
        // stack and locals; with CLONE_VFORK this thread sleeps until the
        // child exits, so `stack` outlives it. No signal handler can run in
        // the child: every signal is blocked.
        unsafe {
            libc::clone(
                child,
                stack_top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                ptr::null_mut(),
            )
        }
    };
    drop(stack);
    if pid < 0 {
        return None;
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for the child just created.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        if rc < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

/// The probe: the jailed command's limit and capabilities, then an
/// io_uring. Refused for lack of memory (the limit), of permission (a
/// seccomp filter or the io_uring_disabled setting, which bind the jail
/// too) or of the system call itself: out of reach.
extern "C" fn child(_: *mut c_void) -> libc::c_int {
    // SAFETY: raw system calls on locals; the child shares the caller's
    // memory and exits right after.
    unsafe {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &none) != 0 {
            libc::_exit(IN_REACH);
        }
        let Ok(mut caps) = crate::caps::get() else {
            libc::_exit(IN_REACH);
        };
        caps[0].effective = 0;
        caps[1].effective = 0;
        if crate::caps::set(&caps).is_err() {
            libc::_exit(IN_REACH);
        }
        let mut params = [0u8; IO_URING_PARAMS_SIZE];
        let fd = libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr());
        if fd >= 0 {
            libc::_exit(IN_REACH);
        }
        match *libc::__errno_location() {
            libc::ENOMEM | libc::EPERM | libc::ENOSYS => libc::_exit(OUT_OF_REACH),
            _ => libc::_exit(IN_REACH),
        }
    }
}

/// Every signal blocked in the calling thread until dropped.
struct BlockedSignals(libc::sigset_t);

impl BlockedSignals {
    fn new() -> Option<Self> {
        // SAFETY: sigset manipulation on initialised locals.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            (libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) == 0)
                .then_some(BlockedSignals(old))
        }
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in new().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, ptr::null_mut()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer is the same each time and leaves this process as it was.
    #[test]
    fn the_probe_leaves_the_caller_alone() {
        let limit = || {
            let mut r = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes one rlimit.
            assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) }, 0);
            (r.rlim_cur, r.rlim_max)
        };
        let caps = || {
            let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
            status
                .lines()
                .find(|l| l.starts_with("CapEff:"))
                .unwrap()
                .to_string()
        };
        let before = (limit(), caps());
        let answer = probe();
        assert!(
            matches!(answer, Some(OUT_OF_REACH | IN_REACH)),
            "{answer:?}"
        );
        assert_eq!(probe(), answer);
        assert_eq!((limit(), caps()), before);
    }
}
