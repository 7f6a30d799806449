//! Running a process to completion while capturing stdout and stderr, in
//! the calling thread (poll, no helper threads).
//!
//! The command's end is the end: once the direct child exited, what is left
//! of its process group is killed and the pipes are drained for a short
//! grace period, so a background grandchild that keeps the pipes open
//! (`sh -c 'sleep 600 &'`) can neither hang the call nor outlive it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::child::{timeout_ms, ExitStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::process::{EndReason, Process, WaitResult};

/// What a finished command wrote, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// How it ended.
    pub status: ExitStatus,
}

/// How long the pipes are drained after the command exited and its
/// leftover processes were killed.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// How often the child is checked where no pidfd is available.
const EXIT_CHECK: Duration = Duration::from_millis(10);

struct Stream {
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
}

impl Stream {
    fn new(fd: Option<OwnedFd>) -> Result<Self> {
        if let Some(fd) = &fd {
            set_nonblocking(fd.as_fd())?;
        }
        Ok(Stream {
            fd,
            buf: Vec::new(),
        })
    }

    /// Reads what is available; closes the stream at EOF. True if it read anything.
    fn read_available(&mut self) -> Result<bool> {
        let Some(fd) = &self.fd else { return Ok(false) };
        let mut any = false;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match nix::unistd::read(fd, &mut chunk) {
                Ok(0) => {
                    self.fd = None;
                    return Ok(any);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    any = true;
                }
                Err(Errno::EAGAIN) => return Ok(any),
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::from_errno(
                        ErrorKind::Io,
                        "reading the command's output",
                        e,
                    ))
                }
            }
        }
    }
}

/// Runs `process` (whose stdin should already be closed or null) to its end.
/// On timeout the process tree is killed, reaped and cleaned up, and the
/// error is [`ErrorKind::Timeout`].
pub fn collect(process: Process, timeout: Option<Duration>) -> Result<Output> {
    collect_cancelable(process, timeout, None)
}

/// Like [`collect`]; besides, when `cancel` becomes readable or hung up
/// (its owner wrote to or closed the other end of a pipe) before the
/// process exited, the tree is killed, reaped and cleaned up the same way
/// and the error is [`ErrorKind::Canceled`]: a caller that cannot interrupt
/// this thread can still stop the call from another one.
pub fn collect_cancelable(
    process: Process,
    timeout: Option<Duration>,
    cancel: Option<BorrowedFd<'_>>,
) -> Result<Output> {
    let pid = process.pid();
    let (output, result) = collect_detailed(process, timeout, cancel)?;
    match result.reason {
        EndReason::TimedOut => Err(Error::new(
            ErrorKind::Timeout,
            format!(
                "the command (pid {pid}) did not finish within {} ms and was killed",
                timeout.unwrap_or_default().as_millis()
            ),
        )),
        EndReason::Canceled => Err(Error::new(
            ErrorKind::Canceled,
            format!("the command (pid {pid}) was cancelled and killed"),
        )),
        _ => Ok(output),
    }
}

/// Like [`collect_cancelable`], but a timeout or a cancellation is an
/// outcome, not an error: the tree is killed, and what it wrote until then
/// comes back with a [`WaitResult`] whose reason says so.
pub fn collect_detailed(
    mut process: Process,
    timeout: Option<Duration>,
    cancel: Option<BorrowedFd<'_>>,
) -> Result<(Output, WaitResult)> {
    drop(process.take_stdin());
    let mut out = Stream::new(process.take_stdout())?;
    let mut err = Stream::new(process.take_stderr())?;
    let deadline = timeout.map(|t| Instant::now() + t);

    loop {
        if process.wait_exit(Some(Duration::ZERO))? {
            break;
        }
        let left = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    stop(&process, EndReason::TimedOut)?;
                    break;
                }
                Some(d - now)
            }
            None => None,
        };
        let exit_fd = process.child().pidfd();
        let wait = if exit_fd.is_some() {
            left
        } else {
            Some(left.map_or(EXIT_CHECK, |l| l.min(EXIT_CHECK)))
        };
        let ready = poll_streams(
            &[
                out.fd.as_ref().map(|f| f.as_fd()),
                err.fd.as_ref().map(|f| f.as_fd()),
                exit_fd,
                cancel,
            ],
            wait,
        )?;
        if ready.is_some_and(|r| r & (1 << 3) != 0) {
            stop(&process, EndReason::Canceled)?;
            break;
        }
        out.read_available()?;
        err.read_available()?;
    }

    // The child exited (or was killed): reap it (which also kills what is
    // left of its tree), then take what is still in flight.
    let result = process.wait_result()?;
    let drain_deadline = Instant::now() + DRAIN_GRACE;
    while out.fd.is_some() || err.fd.is_some() {
        let now = Instant::now();
        if now >= drain_deadline {
            break;
        }
        let ready = poll_streams(
            &[
                out.fd.as_ref().map(|f| f.as_fd()),
                err.fd.as_ref().map(|f| f.as_fd()),
            ],
            Some(drain_deadline - now),
        )?;
        if ready == Some(0) {
            break;
        }
        out.read_available()?;
        err.read_available()?;
    }
    Ok((
        Output {
            stdout: out.buf,
            stderr: err.buf,
            status: result.status,
        },
        result,
    ))
}

/// Kills the tree for `reason`.
fn stop(process: &Process, reason: EndReason) -> Result<()> {
    process.mark(reason);
    process.kill(libc::SIGKILL)
}

/// Polls the present fds for input; returns a mask with bit `i` set when
/// `fds[i]` is ready (readable, hung up or in error), or `None` when a
/// signal interrupted the wait and nothing is known.
fn poll_streams(fds: &[Option<BorrowedFd<'_>>], timeout: Option<Duration>) -> Result<Option<u32>> {
    let slots: Vec<usize> = (0..fds.len()).filter(|&i| fds[i].is_some()).collect();
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .flatten()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    if pfds.is_empty() {
        if let Some(t) = timeout {
            std::thread::sleep(t);
        }
        return Ok(Some(0));
    }
    // SAFETY: pfds is a valid array of pollfd of the given length.
    let rc = unsafe {
        libc::poll(
            pfds.as_mut_ptr(),
            pfds.len() as libc::nfds_t,
            timeout_ms(timeout),
        )
    };
    if rc < 0 {
        let e = Errno::last();
        if e == Errno::EINTR {
            return Ok(None);
        }
        return Err(Error::from_errno(
            ErrorKind::Io,
            "polling the command's output",
            e,
        ));
    }
    Ok(Some(
        slots
            .iter()
            .zip(&pfds)
            .filter(|(_, p)| p.revents != 0)
            .fold(0, |mask, (&i, _)| mask | (1 << i)),
    ))
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags =
        fcntl(fd, FcntlArg::F_GETFL).map_err(|e| Error::from_errno(ErrorKind::Io, "fcntl", e))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| Error::from_errno(ErrorKind::Io, "fcntl", e))?;
    Ok(())
}
