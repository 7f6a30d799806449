//! The sandbox's PID 1: the library's helper program (see `crate::helper`).
//!
//! The helper reaps orphans, forwards the library's signals to the whole
//! sandbox, reports the command's exit status on a pipe, and exits when the
//! command does (the kernel then kills what is left of the namespace) or
//! when the caller dies (it polls the caller's pidfd). See
//! src/helper_program/init.rs.

use nix::errno::Errno;

use crate::child::Child;
use crate::error::{Error, ErrorKind, Result};
use crate::process::SpawnGuard;

/// The signal init takes, queued with the signal to forward as its value,
/// for signals it cannot receive itself (SIGSTOP).
const CONTROL_SIGNAL: i32 = 64;

/// The guard of a sandbox with an init: signals go to init, which forwards
/// them to every process of the sandbox (SIGKILL ends init, and with it the
/// namespace, at once).
#[derive(Debug, Default)]
pub(crate) struct InitGuard;

impl SpawnGuard for InitGuard {
    fn kill(&self, child: &Child, signal: i32) -> Result<()> {
        if signal != libc::SIGSTOP {
            return child.signal_group(signal);
        }
        if child.reaped_status().is_some() {
            return Ok(());
        }
        // SAFETY: a zeroed siginfo_t is valid; the fields set below are the
        // ones rt_sigqueueinfo reads.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        info.si_signo = CONTROL_SIGNAL;
        info.si_code = libc::SI_QUEUE;
        // SAFETY: writes the sival_int of the siginfo's union, where the
        // kernel's copy of si_value sits (after si_pid and si_uid).
        unsafe {
            let base = &mut info as *mut libc::siginfo_t as *mut u8;
            let value = base.add(std::mem::size_of::<libc::c_int>() * 4 + 8) as *mut libc::c_int;
            let pid = base.add(std::mem::size_of::<libc::c_int>() * 4) as *mut libc::pid_t;
            let uid = pid.add(1) as *mut libc::uid_t;
            *pid = std::process::id() as libc::pid_t;
            *uid = nix::unistd::getuid().as_raw();
            *value = libc::SIGSTOP;
        }
        // SAFETY: queues a signal to our own child with a valid siginfo.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigqueueinfo,
                child.pid(),
                CONTROL_SIGNAL,
                &info as *const libc::siginfo_t,
            )
        };
        if rc != 0 && Errno::last() != Errno::ESRCH {
            return Err(Error::from_errno(
                ErrorKind::Io,
                format!("stopping the sandbox of pid {}", child.pid()),
                Errno::last(),
            ));
        }
        Ok(())
    }
}
