//! A started child: waiting with and without a deadline, signalling its
//! process group, reaping it exactly once.
//!
//! Waiting for exit uses `waitid(WNOWAIT)` (or a pidfd when a deadline is
//! given), which leaves the child a zombie: its pid, and so its process group
//! id, cannot be reused until [`Child::reap`] runs. That makes
//! [`Child::signal_group`] safe to call from another thread at any time
//! before the reap, and a no-op after it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
#[cfg(target_os = "linux")]
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use once_cell::sync::OnceCell;

use crate::error::{Error, ErrorKind, Result};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
}

impl ExitStatus {
    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// The exit code, if it exited normally.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(c),
            ExitStatus::Signaled(_) => None,
        }
    }

    /// The terminating signal, if a signal ended it.
    pub fn signal(self) -> Option<i32> {
        match self {
            ExitStatus::Signaled(s) => Some(s),
            ExitStatus::Exited(_) => None,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit status {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Running,
    Reaped(ExitStatus, Usage),
}

/// What the reaped child and the descendants it waited for used, as the
/// kernel's `wait4` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time in user mode.
    pub user: Duration,
    /// CPU time in the kernel.
    pub system: Duration,
    /// The largest resident set size of any of those processes, in bytes.
    pub peak_rss_bytes: u64,
}

impl Usage {
    fn from_rusage(r: &libc::rusage) -> Usage {
        let tv = |t: libc::timeval| {
            Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000)
        };
        // ru_maxrss is in KiB on Linux, in bytes on macOS.
        #[cfg(target_os = "macos")]
        let rss = r.ru_maxrss.max(0) as u64;
        #[cfg(not(target_os = "macos"))]
        let rss = r.ru_maxrss.max(0) as u64 * 1024;
        Usage {
            user: tv(r.ru_utime),
            system: tv(r.ru_stime),
            peak_rss_bytes: rss,
        }
    }
}

/// A child process started by this library, leader of its own process group.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    state: Mutex<State>,
    pidfd: OnceCell<Option<OwnedFd>>,
    /// Where a supervising child (a sandbox's init) writes the wait status
    /// of the command it runs, which is then the status reported.
    status_pipe: Option<OwnedFd>,
}

impl Child {
    pub(crate) fn new(pid: libc::pid_t) -> Self {
        Child {
            pid: Pid::from_raw(pid),
            state: Mutex::new(State::Running),
            pidfd: OnceCell::new(),
            status_pipe: None,
        }
    }

    /// A child that supervises the command: when it reports the command's
    /// raw wait status on `status_pipe` before exiting, that status is the
    /// one [`reap`](Child::reap) returns; when it reports nothing (it was
    /// killed), its own status is.
    #[cfg(target_os = "linux")]
    pub(crate) fn with_status_pipe(pid: libc::pid_t, status_pipe: OwnedFd) -> Self {
        Child {
            status_pipe: Some(status_pipe),
            ..Child::new(pid)
        }
    }

    /// The status reported on the status pipe, if any.
    fn reported_status(&self) -> Option<ExitStatus> {
        let fd = self.status_pipe.as_ref()?;
        let mut buf = [0u8; 4];
        let mut got = 0;
        while got < buf.len() {
            match nix::unistd::read(fd, &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        if got < buf.len() {
            return None;
        }
        let raw = i32::from_ne_bytes(buf);
        if libc::WIFEXITED(raw) {
            Some(ExitStatus::Exited(libc::WEXITSTATUS(raw)))
        } else if libc::WIFSIGNALED(raw) {
            Some(ExitStatus::Signaled(libc::WTERMSIG(raw)))
        } else {
            None
        }
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave State inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The exit status if the child was already reaped.
    pub fn reaped_status(&self) -> Option<ExitStatus> {
        match *self.state() {
            State::Reaped(s, _) => Some(s),
            State::Running => None,
        }
    }

    /// What the child used, once it was reaped.
    pub fn usage(&self) -> Option<Usage> {
        match *self.state() {
            State::Reaped(_, u) => Some(u),
            State::Running => None,
        }
    }

    /// Sends `signal` to the child's whole process group, unless it was
    /// already reaped. `signal` 0 only checks that the group exists.
    pub fn signal_group(&self, signal: i32) -> Result<()> {
        let state = self.state();
        if let State::Reaped(..) = *state {
            return Ok(());
        }
        killpg(self.pid, signal)
    }

    /// A pidfd for the child, opened on first use; None where the kernel
    /// lacks `pidfd_open` (before Linux 5.3), on other systems, and when the
    /// child was reaped before the first use (its pid may name another
    /// process by then).
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd
            .get_or_init(|| {
                // Under the lock: no reap can run between the check and the open.
                let state = self.state();
                match *state {
                    State::Running => open_pidfd(self.pid),
                    State::Reaped(..) => None,
                }
            })
            .as_ref()
            .map(|fd| fd.as_fd())
    }

    /// Waits until the child has exited, without reaping it. `None` waits
    /// without limit; returns false when `timeout` passed first.
    pub fn wait_exit(&self, timeout: Option<Duration>) -> Result<bool> {
        if self.reaped_status().is_some() {
            return Ok(true);
        }
        let Some(timeout) = timeout else {
            return self.peek_exit(true);
        };
        let deadline = Instant::now() + timeout;
        if let Some(fd) = self.pidfd() {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if poll_readable(fd, Some(left))? {
                    return Ok(true);
                }
                if Instant::now() >= deadline {
                    return self.peek_exit(false);
                }
            }
        }
        let mut nap = Duration::from_micros(200);
        loop {
            if self.peek_exit(false)? {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            std::thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }

    fn peek_exit(&self, block: bool) -> Result<bool> {
        loop {
            match exited_without_reaping(self.pid, block) {
                Ok(exited) => return Ok(exited),
                Err(Errno::EINTR) => continue,
                // Reaped meanwhile by another thread of ours.
                Err(Errno::ECHILD) if self.reaped_status().is_some() => return Ok(true),
                Err(e) => {
                    return Err(Error::from_errno(
                        ErrorKind::Io,
                        format!("waiting for pid {}", self.pid),
                        e,
                    ))
                }
            }
        }
    }

    /// Reaps the child (blocking until it exits) and then SIGKILLs whatever is
    /// left of its process group, so no process it started outlives it.
    /// Reaping twice returns the first status.
    pub fn reap(&self) -> Result<ExitStatus> {
        // Block without the lock, so that signal_group from another thread
        // is never held up by a wait; the waitpid below then returns at once.
        if self.reaped_status().is_none() {
            self.peek_exit(true)?;
        }
        let mut state = self.state();
        if let State::Reaped(s, _) = *state {
            return Ok(s);
        }
        let (status, usage) = loop {
            let mut raw = 0;
            // SAFETY: a zeroed rusage is valid; wait4 fills it.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: waits for our own child with valid out pointers.
            let rc = unsafe { libc::wait4(self.pid.as_raw(), &mut raw, 0, &mut ru) };
            if rc < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    e => {
                        return Err(Error::from_errno(
                            ErrorKind::Io,
                            format!("reaping pid {}", self.pid),
                            e,
                        ))
                    }
                }
            }
            let usage = Usage::from_rusage(&ru);
            if libc::WIFEXITED(raw) {
                break (ExitStatus::Exited(libc::WEXITSTATUS(raw)), usage);
            }
            if libc::WIFSIGNALED(raw) {
                break (ExitStatus::Signaled(libc::WTERMSIG(raw)), usage);
            }
        };
        // The supervisor exited: what it wrote is all there will be.
        let status = self.reported_status().unwrap_or(status);
        *state = State::Reaped(status, usage);
        // Still under the lock, right after the reap: the group id is ours as
        // long as any member lives, and no member means ESRCH.
        let _ = killpg(self.pid, libc::SIGKILL);
        Ok(status)
    }
}

/// `waitid(WEXITED | WNOWAIT)`: has the child exited? It stays a zombie.
#[cfg(target_os = "linux")]
fn exited_without_reaping(pid: Pid, block: bool) -> nix::Result<bool> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    let mut flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
    if !block {
        flags |= WaitPidFlag::WNOHANG;
    }
    waitid(Id::Pid(pid), flags).map(|s| s != WaitStatus::StillAlive)
}

/// `waitid(WEXITED | WNOWAIT)`: has the child exited? It stays a zombie.
#[cfg(not(target_os = "linux"))]
fn exited_without_reaping(pid: Pid, block: bool) -> nix::Result<bool> {
    let mut flags = libc::WEXITED | libc::WNOWAIT;
    if !block {
        flags |= libc::WNOHANG;
    }
    // SAFETY: a zeroed siginfo_t is valid; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall on our own child with a valid out pointer.
    let rc = unsafe { libc::waitid(libc::P_PID, pid.as_raw() as libc::id_t, &mut info, flags) };
    if rc != 0 {
        return Err(Errno::last());
    }
    // With WNOHANG and no change, si_pid stays 0.
    Ok(info.si_pid != 0)
}

fn killpg(pgid: Pid, signal: i32) -> Result<()> {
    // SAFETY: kill(2) takes plain integers.
    let rc = unsafe { libc::kill(-pgid.as_raw(), signal) };
    if rc == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::ESRCH => Ok(()),
        Errno::EINVAL => Err(Error::from_errno(
            ErrorKind::InvalidArgument,
            format!("signal {signal} is not a valid signal number"),
            Errno::EINVAL,
        )),
        e => Err(Error::from_errno(
            ErrorKind::Io,
            format!("signalling process group {pgid}"),
            e,
        )),
    }
}

#[cfg(target_os = "linux")]
fn open_pidfd(pid: Pid) -> Option<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    // The fd is close-on-exec by definition of the syscall.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        None
    } else {
        // SAFETY: a freshly returned fd that nothing else owns.
        Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

#[cfg(not(target_os = "linux"))]
fn open_pidfd(_pid: Pid) -> Option<OwnedFd> {
    None
}

/// Polls one fd for readability. Returns false when `timeout` passed.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout_ms(timeout);
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    if rc < 0 {
        let e = Errno::last();
        if e == Errno::EINTR {
            return Ok(false);
        }
        return Err(Error::from_errno(ErrorKind::Io, "polling", e));
    }
    Ok(rc > 0)
}

/// A poll(2) timeout in ms: rounded up so a short wait never spins, capped at i32.
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    }
}
