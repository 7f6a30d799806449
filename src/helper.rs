//! The library's helper program (src/helper_program), embedded in the
//! library and run from a sealed memfd, so that nothing needs installing and
//! no file of the host is executed for it: PID 1 of landrun sandboxes, and
//! each caller's watchdog and reclaimer of what dead callers left behind.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use nix::errno::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::spawn::{lift_above_stdio, Program, Stdio};

#[cfg(rr_helper)]
static HELPER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/restricted-runner-helper"));

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

/// A program running the helper with `args` (the first names the mode),
/// with the caller's environment, `argv[0]` being `name`. It must be
/// started with the helper's fd as fd number `fd` (see [`helper_fd`]),
/// which its path names.
pub(crate) fn program<I, S>(name: &str, args: I, fd: u32) -> Result<Program>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let path = PathBuf::from(format!("/proc/self/fd/{fd}"));
    let mut p = Program::new(&path, OsStr::new(name))?;
    let caller: Vec<_> = std::env::vars_os().collect();
    p.args(args)?.env(&caller)?.stdio([Stdio::Null; 3]);
    Ok(p)
}
