//! The handle to one spawned process: its pipe ends, and everything the
//! spawn created (profile files, containers), removed when it is waited for.

use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::child::{Child, ExitStatus, Usage};
use crate::enforcement::Enforcement;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::spawn::Spawned;

/// Why a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// It exited by itself, whatever its code.
    Exited,
    /// A signal ended it that did not come from this handle.
    Signaled,
    /// This handle killed it (`kill`, or dropping the handle).
    Killed,
    /// Its deadline passed and its tree was killed.
    TimedOut,
    /// The caller cancelled the run and its tree was killed.
    Canceled,
    /// The kernel, or the container engine, killed it for memory.
    OutOfMemory,
    /// It used up its CPU time limit (`max_cpu_seconds`).
    CpuLimit,
    /// It wrote past its file size limit (SIGXFSZ).
    FileSizeLimit,
}

/// How a process ended and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitResult {
    /// How it ended, as the kernel reports it (for wrapper runners, the
    /// wrapper's status: 128+N for a signal).
    pub status: ExitStatus,
    /// Why it ended.
    pub reason: EndReason,
    /// From the spawn to the reap.
    pub wall_time: Duration,
    /// CPU time and peak resident memory of the tree, where the system
    /// measured them (the processes the command waited for, or its whole
    /// cgroup); `None` where nothing was measured (a container's processes
    /// are not the caller's).
    pub usage: Option<Usage>,
}

/// What a backend created for one spawn, and how to stop what it started.
///
/// The default methods fit a plain child: signals go to its process group,
/// and there is nothing to remove.
pub trait SpawnGuard: Send + Sync + fmt::Debug {
    /// Sends `signal` to everything the spawn started.
    fn kill(&self, child: &Child, signal: i32) -> Result<()> {
        child.signal_group(signal)
    }

    /// Learns how the child ended (`None` when it could not be reaped), just
    /// before [`cleanup`](SpawnGuard::cleanup): a guard may skip removal work
    /// that a normal exit makes unnecessary.
    fn reaped(&mut self, _status: Option<ExitStatus>) {}

    /// What only the runner can tell about how the process ended (the
    /// engine's OOM kill, a CPU limit), and what the tree used where the
    /// runner measures more than `wait4` does (a cgroup's accounting).
    /// Called after the reap, before [`cleanup`](SpawnGuard::cleanup).
    fn ended(
        &mut self,
        _status: ExitStatus,
        _usage: Option<Usage>,
    ) -> (Option<EndReason>, Option<Usage>) {
        (None, None)
    }

    /// Whether the kernel's accounting of the direct child (`wait4`) is the
    /// command's: not for a container, whose processes are the engine's.
    fn measures_usage(&self) -> bool {
        true
    }

    /// Removes what the spawn created. Called exactly once, after the child
    /// was reaped (or could not be), on every path.
    fn cleanup(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The guard of a spawn that created nothing beyond the child itself.
#[derive(Debug, Default)]
pub struct PlainGuard;

impl SpawnGuard for PlainGuard {}

/// A process's report of what its spawn enforced: built at the spawn, or
/// when first asked for.
#[derive(Default)]
struct Report {
    attached: bool,
    built: OnceLock<Enforcement>,
    later: Mutex<Option<Box<dyn FnOnce() -> Enforcement + Send>>>,
}

impl Report {
    fn get(&self) -> Option<&Enforcement> {
        if !self.attached {
            return None;
        }
        // One thread builds it; any other asking meanwhile waits for it.
        Some(self.built.get_or_init(|| {
            let build = self.later.lock().unwrap_or_else(|p| p.into_inner()).take();
            build.map_or_else(|| Enforcement::new("unknown"), |b| b())
        }))
    }
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("built", &self.built.get())
            .finish_non_exhaustive()
    }
}

/// A spawned process.
///
/// Take its pipe ends with [`take_stdin`](Process::take_stdin) and friends;
/// they are close-on-exec and owned by the caller from then on. Call
/// [`wait`](Process::wait) to reap it and remove what the spawn created.
/// Dropping a process that was not waited for kills its process tree, reaps
/// it and cleans up, so nothing outlives the handle.
///
/// `kill`, `pid` and `wait_exit` take `&self` and may be called from other
/// threads while one thread waits in `wait_exit`.
#[derive(Debug)]
pub struct Process {
    child: Child,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    guard: Option<Box<dyn SpawnGuard>>,
    enforcement: Report,
    /// The crash-safe record of what the spawn made, freed once the guard
    /// removed it all.
    record: Option<Record>,
    started: Instant,
    /// Set when this handle sent a signal.
    killed: AtomicBool,
    /// A reason set by the one running it to completion (a timeout).
    marked: AtomicU8,
    /// Whether the wait reports what the run cost (see
    /// [`SpawnAttrs::set_measure_usage`](crate::SpawnAttrs::set_measure_usage)).
    measure_usage: bool,
    result: Option<WaitResult>,
}

impl Process {
    /// Wraps a started child and the guard of what its spawn created.
    pub fn new(spawned: Spawned, guard: Box<dyn SpawnGuard>) -> Self {
        Process {
            child: spawned.child,
            stdin: spawned.stdin,
            stdout: spawned.stdout,
            stderr: spawned.stderr,
            guard: Some(guard),
            enforcement: Report::default(),
            record: None,
            started: Instant::now(),
            killed: AtomicBool::new(false),
            marked: AtomicU8::new(0),
            measure_usage: true,
            result: None,
        }
    }

    /// Whether the wait reports what the run cost.
    pub(crate) fn with_usage(mut self, measure: bool) -> Self {
        self.measure_usage = measure;
        self
    }

    /// Records why the tree is about to be killed (a timeout, a
    /// cancellation), for the wait result.
    pub(crate) fn mark(&self, reason: EndReason) {
        let code = match reason {
            EndReason::TimedOut => 1,
            EndReason::Canceled => 2,
            _ => 0,
        };
        self.marked.store(code, Ordering::SeqCst);
    }

    /// Attaches the record of what the spawn made.
    pub(crate) fn with_record(mut self, record: Record) -> Self {
        self.record = Some(record);
        self
    }

    /// Attaches the report of what the spawn enforced.
    pub fn with_enforcement(mut self, enforcement: Enforcement) -> Self {
        self.enforcement = Report {
            attached: true,
            built: enforcement.into(),
            later: Mutex::new(None),
        };
        self
    }

    /// Attaches the report of what the spawn enforced, built by `build`
    /// the first time it is asked for.
    pub(crate) fn with_enforcement_from(
        mut self,
        build: impl FnOnce() -> Enforcement + Send + 'static,
    ) -> Self {
        self.enforcement = Report {
            attached: true,
            built: OnceLock::new(),
            later: Mutex::new(Some(Box::new(build))),
        };
        self
    }

    /// Whether a report of what the spawn enforced is attached (without
    /// building it).
    pub(crate) fn has_enforcement(&self) -> bool {
        self.enforcement.attached
    }

    /// What the spawn enforced, layer by layer.
    pub fn enforcement(&self) -> Option<&Enforcement> {
        self.enforcement.get()
    }

    /// The pid of the direct child (for container runners, the engine CLI).
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// The direct child.
    pub fn child(&self) -> &Child {
        &self.child
    }

    /// Takes the write end of the child's stdin.
    pub fn take_stdin(&mut self) -> Option<OwnedFd> {
        self.stdin.take()
    }

    /// Takes the read end of the child's stdout.
    pub fn take_stdout(&mut self) -> Option<OwnedFd> {
        self.stdout.take()
    }

    /// Takes the read end of the child's stderr.
    pub fn take_stderr(&mut self) -> Option<OwnedFd> {
        self.stderr.take()
    }

    /// Sends `signal` to the whole process tree (or container). A no-op once
    /// the process was reaped.
    pub fn kill(&self, signal: i32) -> Result<()> {
        if signal != 0 {
            self.killed.store(true, Ordering::SeqCst);
        }
        match &self.guard {
            Some(g) => g.kill(&self.child, signal),
            None => Ok(()),
        }
    }

    /// A pollable fd that becomes readable once the process has exited (a
    /// pidfd), owned by this handle: valid as long as it lives, not to be
    /// closed. An event loop waits on it instead of a thread per process.
    ///
    /// [`ErrorKind::Requirements`](crate::ErrorKind::Requirements) where the
    /// system has none (before Linux 5.3, other systems): wait with
    /// [`wait_exit`](Process::wait_exit) and a timeout instead.
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// once the process was reaped.
    pub fn exit_fd(&self) -> Result<BorrowedFd<'_>> {
        if self.child.reaped_status().is_some() {
            return Err(Error::invalid_argument(format!(
                "pid {} was already reaped",
                self.child.pid()
            )));
        }
        self.child.pidfd().ok_or_else(|| {
            Error::requirements(
                "this system has no process fd (pidfd_open needs Linux 5.3 or later); \
                 wait with a timeout instead",
            )
        })
    }

    /// Waits until the process has exited without reaping it or cleaning up;
    /// false when `timeout` passed first (`None` waits without limit).
    pub fn wait_exit(&self, timeout: Option<Duration>) -> Result<bool> {
        self.child.wait_exit(timeout)
    }

    /// Waits for the process, reaps it, ends whatever is left of its process
    /// group, and removes everything the spawn created.
    pub fn wait(mut self) -> Result<ExitStatus> {
        self.finish().map(|r| r.status)
    }

    /// Like [`wait`](Process::wait), and says why the process ended and what
    /// it cost.
    pub fn wait_result(mut self) -> Result<WaitResult> {
        self.finish()
    }

    /// Like [`wait`](Process::wait), but gives up after `timeout`, returning
    /// `Ok(None)` and leaving the process running. After it returned
    /// `Some`, the process is finished and later calls return the same status.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if let Some(r) = self.result {
            return Ok(Some(r.status));
        }
        if !self.child.wait_exit(Some(timeout))? {
            return Ok(None);
        }
        self.finish().map(|r| Some(r.status))
    }

    /// The result of a process that a completed
    /// [`wait_timeout`](Process::wait_timeout) finished.
    pub fn result(&self) -> Option<WaitResult> {
        self.result
    }

    fn finish(&mut self) -> Result<WaitResult> {
        if let Some(r) = self.result {
            return Ok(r);
        }
        let reaped = self.child.reap();
        let wall_time = self.started.elapsed();
        let mut usage = self.child.usage();
        let mut told = (None, None);
        let cleaned = match self.guard.take() {
            Some(mut g) => {
                g.reaped(reaped.as_ref().ok().copied());
                if !g.measures_usage() {
                    usage = None;
                }
                // The guard sees the kernel's accounting even when the
                // caller asked for none: why the run ended may depend on
                // it (a CPU limit's SIGKILL).
                if let Ok(status) = &reaped {
                    told = g.ended(*status, usage);
                }
                g.cleanup()
            }
            None => Ok(()),
        };
        if let Some(record) = self.record.take() {
            if cleaned.is_err() || reaped.is_err() {
                // Something may be left: the watchdog or gc will retry.
                record.keep();
            }
        }
        let status = reaped?;
        cleaned?;
        let killed = self.killed.load(Ordering::SeqCst);
        let reason = match self.marked.load(Ordering::SeqCst) {
            1 => EndReason::TimedOut,
            2 => EndReason::Canceled,
            _ => told.0.unwrap_or_else(|| generic_reason(status, killed)),
        };
        let result = WaitResult {
            status,
            reason,
            wall_time,
            usage: told.1.or(usage).filter(|_| self.measure_usage),
        };
        self.result = Some(result);
        Ok(result)
    }
}

/// Why a process ended, from its status alone.
fn generic_reason(status: ExitStatus, killed: bool) -> EndReason {
    match status {
        ExitStatus::Signaled(libc::SIGXCPU) => EndReason::CpuLimit,
        ExitStatus::Signaled(libc::SIGXFSZ) => EndReason::FileSizeLimit,
        ExitStatus::Signaled(_) if killed => EndReason::Killed,
        ExitStatus::Signaled(_) => EndReason::Signaled,
        // Wrapper runners (firejail, the engines) report a signal as 128+N.
        ExitStatus::Exited(c) if killed && c > 128 => EndReason::Killed,
        ExitStatus::Exited(_) => EndReason::Exited,
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.guard.is_some() {
            let _ = self.kill(libc::SIGKILL);
            let _ = self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::spawn::{Program, Stdio};

    /// Records what the process told it, in order.
    #[derive(Debug, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl SpawnGuard for Recorder {
        fn reaped(&mut self, status: Option<ExitStatus>) {
            self.0.lock().unwrap().push(format!("reaped {status:?}"));
        }

        fn cleanup(&mut self) -> Result<()> {
            self.0.lock().unwrap().push("cleanup".into());
            Ok(())
        }
    }

    #[test]
    fn guard_learns_the_status_before_cleanup() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut p = Program::new(Path::new("/bin/sh"), "sh".as_ref()).unwrap();
        p.args(["-c", "exit 3"]).unwrap();
        p.stdio([Stdio::Null; 3]);
        let process = Process::new(p.spawn().unwrap(), Box::new(Recorder(log.clone())));
        assert_eq!(process.wait().unwrap(), ExitStatus::Exited(3));
        assert_eq!(*log.lock().unwrap(), ["reaped Some(Exited(3))", "cleanup"]);
    }

    #[test]
    fn a_report_built_later_is_built_once_whoever_asks() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&builds);
        let report = Report {
            attached: true,
            built: OnceLock::new(),
            later: Mutex::new(Some(Box::new(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                Enforcement::new("exec")
            }))),
        };
        let seen: Vec<*const Enforcement> = std::thread::scope(|s| {
            let askers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| report.get().map(|e| e as *const Enforcement).unwrap() as usize)
                })
                .collect();
            askers
                .into_iter()
                .map(|t| t.join().unwrap() as *const Enforcement)
                .collect()
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
        assert!(Report::default().get().is_none());
    }
}
