//! The sandbox's PID 1: the library's helper program (src/helper), embedded
//! in the library and run from a sealed memfd, so nothing needs installing
//! and no file of the host is executed for it.
//!
//! The helper reaps orphans, forwards the library's signals to the whole
//! sandbox, reports the command's exit status on a pipe, and exits when the
//! command does (the kernel then kills what is left of the namespace) or
//! when the caller dies (it polls the caller's pidfd). See
//! src/helper/init.rs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

use nix::errno::Errno;

use crate::child::Child;
use crate::error::{Error, ErrorKind, Result};
use crate::process::SpawnGuard;
use crate::spawn::lift_above_stdio;

#[cfg(rr_helper)]
static HELPER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/restricted-runner-helper"));

/// The signal init takes, queued with the signal to forward as its value,
/// for signals it cannot receive itself (SIGSTOP).
const CONTROL_SIGNAL: i32 = 64;

/// A sealed, close-on-exec memfd holding the helper program, made once per
/// process.
pub(crate) fn helper_fd() -> Result<BorrowedFd<'static>> {
    static FD: OnceLock<std::result::Result<OwnedFd, Error>> = OnceLock::new();
    match FD.get_or_init(make_helper_fd) {
        Ok(fd) => Ok(fd.as_fd()),
        Err(e) => Err(e.clone()),
    }
}

#[cfg(rr_helper)]
fn make_helper_fd() -> std::result::Result<OwnedFd, Error> {
    const MFD_CLOEXEC: libc::c_uint = 1;
    const MFD_ALLOW_SEALING: libc::c_uint = 2;
    // Linux 6.3+: say the memfd is meant to be executed, for systems where
    // vm.memfd_noexec makes memfds non-executable by default.
    const MFD_EXEC: libc::c_uint = 0x10;
    let name = c"restricted-runner-helper";
    let create = |flags: libc::c_uint| {
        // SAFETY: memfd_create takes a C string and flags.
        unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags) }
    };
    let mut fd = create(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if fd < 0 && Errno::last() == Errno::EINVAL {
        fd = create(MFD_CLOEXEC | MFD_ALLOW_SEALING);
    }
    if fd < 0 {
        return Err(Error::from_errno(
            ErrorKind::Requirements,
            "creating the memfd for the sandbox's init (memfd_create)",
            Errno::last(),
        ));
    }
    // SAFETY: a new fd that we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, HELPER)
        .map_err(|e| Error::from_io(ErrorKind::Io, "writing the sandbox's init", &e))?;
    let fd = OwnedFd::from(file);
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our fd.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(Error::from_errno(
            ErrorKind::Io,
            "sealing the sandbox's init",
            Errno::last(),
        ));
    }
    lift_above_stdio(fd)
}

#[cfg(not(rr_helper))]
fn make_helper_fd() -> std::result::Result<OwnedFd, Error> {
    Err(Error::requirements(format!(
        "the landrun runner's PID namespace init is not built for the {} architecture",
        std::env::consts::ARCH
    )))
}

/// A pidfd of this process, which the sandbox's init polls to die with it.
/// Made again after a fork, where the process is another one.
pub(crate) fn caller_pidfd() -> Result<i32> {
    static FD: Mutex<Option<(u32, OwnedFd)>> = Mutex::new(None);
    let me = std::process::id();
    let mut slot = FD.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((pid, fd)) = slot.as_ref() {
        if *pid == me {
            return Ok(fd.as_raw_fd());
        }
    }
    // SAFETY: pidfd_open takes a pid and flags; the fd is close-on-exec.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, me as libc::pid_t, 0) };
    if fd < 0 {
        return Err(Error::from_errno(
            ErrorKind::Requirements,
            "opening a pidfd of the caller so the sandbox dies with it (pidfd_open, Linux 5.3)",
            Errno::last(),
        ));
    }
    // SAFETY: a new fd that we own.
    let fd = lift_above_stdio(unsafe { OwnedFd::from_raw_fd(fd as i32) })?;
    let raw = fd.as_raw_fd();
    *slot = Some((me, fd));
    Ok(raw)
}

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
