//! Starting a program confined by a Landlock ruleset, resource limits and
//! optionally an empty network namespace, applied to the child only.
//!
//! The restrictions must be applied between clone and exec, which
//! `posix_spawn` cannot do, and a plain `fork` copies the caller's page
//! tables (tens of milliseconds for a host holding gigabytes). So the child
//! is made with `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own: it
//! shares the caller's memory, the calling thread sleeps until it execs or
//! exits, and the cost does not depend on the caller's size.
//!
//! Sharing memory means the child may only make async-signal-safe system
//! calls on data prepared before the clone: everything that allocates
//! (strings, argv and envp arrays, path fds, the ruleset) is built first.
//! All signals are blocked around the clone so that no handler of the
//! caller runs in the child; the child resets every disposition to default
//! and unblocks everything just before exec. A failure in the child is
//! written (stage and errno) to a close-on-exec pipe and turned into an error
//! by the caller, who also reaps the failed child.

use std::ffi::{c_void, OsStr};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use nix::errno::Errno;

use super::rules::Limits;
use crate::child::Child;
use crate::error::{Error, ErrorKind, Result};
use crate::spawn::{pipe_above_stdio, stdio_ends, Program, Spawned, StdioEnds};

/// What the child applies to itself before exec.
#[derive(Debug)]
pub(crate) struct Confinement<'a> {
    /// The Landlock ruleset to enforce, if any.
    pub(crate) ruleset: Option<&'a OwnedFd>,
    pub(crate) limits: Limits,
    /// Move into a new, empty network namespace.
    pub(crate) isolate_network: bool,
}

/// The child's stack. It runs a handful of system calls; 64 KiB leaves room
/// for debug builds.
const STACK_SIZE: usize = 64 * 1024;

/// Where the child failed, as reported through the error pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Stage {
    ProcessGroup = 1,
    Network = 2,
    Stdio = 3,
    CloseFds = 4,
    MemoryLimit = 5,
    ProcessLimit = 6,
    OpenFileLimit = 7,
    CpuLimit = 8,
    NoNewPrivs = 9,
    Landlock = 10,
    Exec = 11,
    WorkingFolder = 12,
}

const STAGES: [Stage; 12] = [
    Stage::ProcessGroup,
    Stage::Network,
    Stage::Stdio,
    Stage::CloseFds,
    Stage::MemoryLimit,
    Stage::ProcessLimit,
    Stage::OpenFileLimit,
    Stage::CpuLimit,
    Stage::NoNewPrivs,
    Stage::Landlock,
    Stage::Exec,
    Stage::WorkingFolder,
];

impl Stage {
    fn describe(self) -> &'static str {
        match self {
            Stage::ProcessGroup => "setting the process group (setpgid)",
            Stage::Network => "entering a new network namespace for isolate_network (unshare)",
            Stage::Stdio => "connecting stdin/stdout/stderr (dup2)",
            Stage::CloseFds => "closing inherited file descriptors (close_range)",
            Stage::MemoryLimit => "setting max_memory_bytes (RLIMIT_AS)",
            Stage::ProcessLimit => "setting max_processes (RLIMIT_NPROC)",
            Stage::OpenFileLimit => "setting max_open_files (RLIMIT_NOFILE)",
            Stage::CpuLimit => "setting max_cpu_seconds (RLIMIT_CPU)",
            Stage::NoNewPrivs => "setting no_new_privs (prctl)",
            Stage::Landlock => "enforcing the Landlock ruleset (landlock_restrict_self)",
            Stage::Exec => "executing the program",
            Stage::WorkingFolder => "changing to the working folder (chdir)",
        }
    }
}

/// The type glibc's `setrlimit` takes for a resource.
type Resource = libc::__rlimit_resource_t;

/// Everything the child reads, prepared by the caller. Plain integers and
/// pointers into data that outlives the clone.
struct ChildArgs {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// The working folder, or NULL to stay in the caller's.
    cwd: *const libc::c_char,
    stdio: [RawFd; 3],
    error_fd: RawFd,
    ruleset_fd: RawFd,
    isolate_network: bool,
    limits: [(Stage, Resource, Option<libc::rlimit>); 4],
    /// Highest fd to mark close-on-exec when `close_range` is missing.
    max_fd: libc::c_int,
    default_action: libc::sigaction,
    empty_mask: libc::sigset_t,
}

/// Starts `program` under `confinement`.
pub(crate) fn spawn(program: &Program, confinement: &Confinement<'_>) -> Result<Spawned> {
    let StdioEnds { parent, child } = stdio_ends(program.stdio)?;
    let (error_read, error_write) = pipe_above_stdio()?;

    let mut argv: Vec<*const libc::c_char> = program.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(ptr::null());
    let mut envp: Vec<*const libc::c_char> = program.env.iter().map(|e| e.as_ptr()).collect();
    envp.push(ptr::null());

    let Limits {
        memory_bytes,
        processes,
        open_files,
        cpu_seconds,
    } = confinement.limits;
    let nofile = current_limit(libc::RLIMIT_NOFILE)?;
    let limits = [
        (Stage::MemoryLimit, libc::RLIMIT_AS, memory_bytes),
        (Stage::ProcessLimit, libc::RLIMIT_NPROC, processes),
        (Stage::OpenFileLimit, libc::RLIMIT_NOFILE, open_files),
        (Stage::CpuLimit, libc::RLIMIT_CPU, cpu_seconds),
    ];
    let mut prepared = [(Stage::MemoryLimit, 0, None); 4];
    for (slot, (stage, resource, value)) in prepared.iter_mut().zip(limits) {
        let limit = match value {
            // A maximum: above the current hard limit (which only a
            // privileged process could raise) the hard limit already holds.
            Some(v) => {
                let hard = current_limit(resource)?.rlim_max;
                // At the CPU soft limit the kernel sends SIGXCPU, at the hard
                // one SIGKILL: one second apart, the program sees SIGXCPU.
                let max = if resource == libc::RLIMIT_CPU {
                    v.saturating_add(1)
                } else {
                    v
                };
                Some(libc::rlimit {
                    rlim_cur: v.min(hard),
                    rlim_max: max.min(hard),
                })
            }
            None => None,
        };
        *slot = (stage, resource, limit);
    }

    // SAFETY: zeroed sigaction/sigset_t are valid plain C structs;
    // sigemptyset initialises the set.
    let (default_action, empty_mask) = unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = libc::SIG_DFL;
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        (act, set)
    };

    let args = ChildArgs {
        path: program.path.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: program.cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
        stdio: [
            child[0].as_raw_fd(),
            child[1].as_raw_fd(),
            child[2].as_raw_fd(),
        ],
        error_fd: error_write.as_raw_fd(),
        ruleset_fd: confinement.ruleset.map_or(-1, |fd| fd.as_raw_fd()),
        isolate_network: confinement.isolate_network,
        limits: prepared,
        max_fd: nofile.rlim_cur.min(1 << 20) as libc::c_int,
        default_action,
        empty_mask,
    };

    let mut stack: Vec<MaybeUninit<u8>> = Vec::with_capacity(STACK_SIZE);
    // SAFETY: the pointer stays within (one past the end of) the allocation;
    // the stack grows down from there, aligned to 16 as the ABI wants.
    let stack_top = unsafe {
        let top = stack.as_mut_ptr().add(STACK_SIZE) as usize;
        (top & !15) as *mut c_void
    };

    let (pid, clone_errno) = {
        let _blocked = BlockSignals::new()?;
        // SAFETY: `child_main` only reads `args` and makes async-signal-safe
        // calls; with CLONE_VFORK this thread sleeps until the child execs or
        // exits, so `args`, `stack` and everything they point to outlive the
        // child's use of them.
        let pid = unsafe {
            libc::clone(
                child_main,
                stack_top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                &args as *const ChildArgs as *mut c_void,
            )
        };
        (pid, Errno::last())
    };
    drop(error_write);
    drop(child);
    drop(stack);
    if pid < 0 {
        return Err(Error::from_errno(
            ErrorKind::Spawn,
            "creating the child (clone)",
            clone_errno,
        ));
    }

    if let Some((stage, errno)) = read_report(&error_read) {
        reap(pid);
        return Err(child_error(program, stage, errno));
    }
    let [stdin, stdout, stderr] = parent;
    Ok(Spawned {
        child: Child::new(pid),
        stdin,
        stdout,
        stderr,
    })
}

fn current_limit(resource: Resource) -> Result<libc::rlimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return Err(Error::from_errno(
            ErrorKind::Spawn,
            format!("reading resource limit {resource}"),
            Errno::last(),
        ));
    }
    Ok(r)
}

/// Blocks every signal in the calling thread until dropped.
struct BlockSignals(libc::sigset_t);

impl BlockSignals {
    fn new() -> Result<Self> {
        // SAFETY: plain sigset manipulation on local, initialised sets.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            if rc != 0 {
                return Err(Error::from_errno(
                    ErrorKind::Spawn,
                    "blocking signals",
                    Errno::from_raw(rc),
                ));
            }
            Ok(BlockSignals(old))
        }
    }
}

impl Drop for BlockSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in new().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, ptr::null_mut()) };
    }
}

/// Reads the child's failure report: None when the pipe closed empty (the
/// exec succeeded).
fn read_report(fd: &OwnedFd) -> Option<(Stage, i32)> {
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled tail of `buf`.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[got..].as_mut_ptr() as *mut c_void,
                buf.len() - got,
            )
        };
        if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    if got < buf.len() {
        return None;
    }
    let stage = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let stage = STAGES.into_iter().find(|s| *s as u32 == stage)?;
    Some((stage, errno))
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waits for our own child, which has exited or is about to.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && Errno::last() == Errno::EINTR {}
}

fn child_error(program: &Program, stage: Stage, errno: i32) -> Error {
    let errno = Errno::from_raw(errno);
    let name = OsStr::from_bytes(program.path.as_bytes());
    match (stage, errno) {
        (Stage::Exec, Errno::ENOENT) => Error::from_errno(
            ErrorKind::CommandNotFound,
            format!("{name:?} (or the interpreter it names) does not exist"),
            errno,
        ),
        (Stage::Exec, Errno::EACCES) => Error::from_errno(
            ErrorKind::Spawn,
            format!(
                "executing {name:?} was denied: its folder (and its interpreter's) needs \
                 allow_read_exec_folders or allow_write_exec_folders"
            ),
            errno,
        ),
        (Stage::WorkingFolder, _) => {
            let dir = program
                .cwd
                .as_ref()
                .map(|c| OsStr::from_bytes(c.as_bytes()))
                .unwrap_or_default();
            Error::from_errno(
                ErrorKind::Spawn,
                format!(
                    "starting {name:?}: changing to the working folder {dir:?} (it must be \
                     reachable under the runner's policy)"
                ),
                errno,
            )
        }
        (Stage::Exec, _) => {
            Error::from_errno(ErrorKind::Spawn, format!("executing {name:?}"), errno)
        }
        _ => Error::from_errno(
            ErrorKind::Spawn,
            format!("starting {name:?}: {}", stage.describe()),
            errno,
        ),
    }
}

/// The child, on its own stack, sharing the caller's memory. Only raw,
/// async-signal-safe calls on prepared data; never returns into Rust code
/// of the caller.
extern "C" fn child_main(arg: *mut c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildArgs` the caller keeps alive until we exec
    // or exit.
    let a = unsafe { &*(arg as *const ChildArgs) };
    // SAFETY: every call below is an async-signal-safe system call on
    // values prepared before the clone.
    let (stage, errno) = unsafe { confine_and_exec(a) };
    let mut report = [0u8; 8];
    let s = (stage as u32).to_ne_bytes();
    let e = errno.to_ne_bytes();
    report[..4].copy_from_slice(&s);
    report[4..].copy_from_slice(&e);
    // SAFETY: as above; _exit never returns.
    unsafe {
        libc::write(a.error_fd, report.as_ptr() as *const c_void, report.len());
        libc::_exit(127)
    }
}

/// Applies everything and execs; returns only on failure, with the stage
/// and errno.
///
/// # Safety
/// Must run in the child of a `CLONE_VM | CLONE_VFORK` clone with `a`
/// pointing to live data.
unsafe fn confine_and_exec(a: &ChildArgs) -> (Stage, i32) {
    // SAFETY: see the function's contract.
    unsafe {
        let errno = || *libc::__errno_location();

        // Handlers are the caller's code; none may run here or after exec.
        // Linux numbers signals 1 to 64.
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                // Only glibc's internal signals refuse; glibc sends those to
                // the caller's threads by thread id, never to this process.
                libc::sigaction(sig, &a.default_action, ptr::null_mut());
            }
        }
        if libc::setpgid(0, 0) != 0 {
            return (Stage::ProcessGroup, errno());
        }
        if a.isolate_network && libc::unshare(libc::CLONE_NEWNET) != 0 {
            return (Stage::Network, errno());
        }
        for (target, fd) in a.stdio.iter().enumerate() {
            if libc::dup2(*fd, target as libc::c_int) < 0 {
                return (Stage::Stdio, errno());
            }
        }
        // Close-on-exec rather than close: the error pipe and the ruleset are
        // needed until exec, and are close-on-exec already.
        const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) != 0 {
            if !matches!(errno(), libc::ENOSYS | libc::EINVAL) {
                return (Stage::CloseFds, errno());
            }
            for fd in 3..a.max_fd {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        for (stage, resource, limit) in &a.limits {
            if let Some(limit) = limit {
                if libc::setrlimit(*resource, limit) != 0 {
                    return (*stage, errno());
                }
            }
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return (Stage::NoNewPrivs, errno());
        }
        if a.ruleset_fd >= 0
            && libc::syscall(libc::SYS_landlock_restrict_self, a.ruleset_fd, 0u32) != 0
        {
            return (Stage::Landlock, errno());
        }
        // Last, so that the folder is looked up under the confinement.
        if !a.cwd.is_null() && libc::chdir(a.cwd) != 0 {
            return (Stage::WorkingFolder, errno());
        }
        libc::sigprocmask(libc::SIG_SETMASK, &a.empty_mask, ptr::null_mut());
        libc::execve(a.path, a.argv, a.envp);
        (Stage::Exec, errno())
    }
}
