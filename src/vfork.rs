//! Children made with `clone(CLONE_VM | CLONE_VFORK)` on a stack of their
//! own, for the spawns `posix_spawn` cannot do (joining a cgroup before
//! exec, confining a sandbox): the child shares the caller's memory, the
//! calling thread sleeps until it execs or exits, and the cost does not
//! grow with the caller's size as a `fork` would.
//!
//! Sharing memory means a child may only make async-signal-safe system
//! calls on data prepared before the clone. All signals are blocked around
//! the clone so that no handler of the caller runs in a child. A plain
//! child reports a failure (stage and errno) in the memory it shares with
//! the caller, who reads it when the vfork lets it go on, as `posix_spawn`
//! does; a sandbox's children, which exec after the caller went on, write
//! theirs to a close-on-exec pipe, which reaches EOF when every child has
//! exec'd.

use std::ffi::{c_void, OsStr};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

use crate::cgroup::Leaf;
use crate::child::Child;
use crate::error::{Error, ErrorKind, Result};
use crate::spawn::{stdio_ends, Program, Spawned, StdioEnds};

/// A child's stack. It runs a few dozen system calls; 64 KiB leaves room
/// for debug builds.
const STACK_SIZE: usize = 64 * 1024;

/// A child's stack, aligned as the ABI wants.
pub(crate) struct Stack(Vec<MaybeUninit<u8>>);

impl Stack {
    pub(crate) fn new() -> Self {
        Stack(Vec::with_capacity(STACK_SIZE))
    }

    pub(crate) fn top(&mut self) -> *mut c_void {
        // SAFETY: one past the end of the allocation; the stack grows down.
        let top = unsafe { self.0.as_mut_ptr().add(STACK_SIZE) } as usize;
        (top & !15) as *mut c_void
    }

    /// The lowest address and the size of the stack, both multiples of 16
    /// (`clone3` takes these and starts the child at their end).
    fn bounds(&mut self) -> (u64, u64) {
        let base = (self.0.as_mut_ptr() as usize + 15) & !15;
        let top = self.top() as usize;
        (base as u64, (top - base) as u64)
    }
}

/// Blocks every signal in the calling thread until dropped.
pub(crate) struct BlockSignals(libc::sigset_t);

impl BlockSignals {
    pub(crate) fn new() -> Result<Self> {
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

/// What a child needs to reset its signals: the default action and an
/// empty mask, made before the clone.
#[derive(Clone, Copy)]
pub(crate) struct Signals {
    default_action: libc::sigaction,
    pub(crate) empty_mask: libc::sigset_t,
}

impl Signals {
    pub(crate) fn new() -> Self {
        // SAFETY: zeroed sigaction/sigset_t are valid plain C structs;
        // sigemptyset initialises the set.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = libc::SIG_DFL;
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            Signals {
                default_action: act,
                empty_mask: set,
            }
        }
    }

    /// Sets every handler back to the default: handlers are the caller's
    /// code, and none may run in the child nor after exec.
    ///
    /// # Safety
    /// System calls only; for a vfork-style child.
    pub(crate) unsafe fn reset_handlers(&self) {
        // Linux numbers signals 1 to 64.
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                // Only glibc's internal signals refuse; glibc sends those to
                // the caller's threads by thread id, never to this process.
                // SAFETY: sigaction with a valid, prepared action.
                unsafe { libc::sigaction(sig, &self.default_action, ptr::null_mut()) };
            }
        }
    }
}

/// Reads a child's failure report (stage code, errno): None when the pipe
/// closed empty, every exec having succeeded.
pub(crate) fn read_report(fd: &OwnedFd) -> Option<(u32, i32)> {
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
    Some((stage, errno))
}

/// Writes a failure report and exits.
///
/// # Safety
/// For a child: system calls only.
pub(crate) unsafe fn report_and_exit(error_fd: RawFd, stage: u32, errno: i32) -> ! {
    let mut report = [0u8; 8];
    report[..4].copy_from_slice(&stage.to_ne_bytes());
    report[4..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: write and _exit are async-signal-safe; _exit never returns.
    unsafe {
        libc::write(error_fd, report.as_ptr() as *const c_void, report.len());
        libc::_exit(127)
    }
}

/// This thread's errno.
pub(crate) fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Reaps a child that failed before exec.
pub(crate) fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waits for our own child, which has exited or is about to.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && Errno::last() == Errno::EINTR {}
}

/// Marks every fd above 2 close-on-exec (`close_range`, or one by one up to
/// what `max_fd` gives on kernels without it: asked only there, as the
/// limit's system call takes a lock that forks and exits contend for).
///
/// # Safety
/// System calls only; for a child.
pub(crate) unsafe fn cloexec_from_3(
    max_fd: impl FnOnce() -> libc::c_int,
) -> std::result::Result<(), i32> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: plain system calls.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) != 0 {
            if !matches!(errno(), libc::ENOSYS | libc::EINVAL) {
                return Err(errno());
            }
            for fd in 3..max_fd() {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// The highest fd worth marking close-on-exec one by one (a system call
/// only: callable in a child).
pub(crate) fn max_fd() -> libc::c_int {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    r.rlim_cur.min(1 << 20) as libc::c_int
}

/// Where a plain child failed.
const STAGE_PGROUP: u32 = 1;
const STAGE_CGROUP: u32 = 2;
const STAGE_STDIO: u32 = 3;
const STAGE_CLOSE: u32 = 4;
const STAGE_EXEC: u32 = 5;
const STAGE_CWD: u32 = 6;

struct PlainArgs {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// The working folder, or NULL to stay in the caller's.
    cwd: *const libc::c_char,
    /// The fds the child's streams come from: a kept caller's stream is
    /// its own number already.
    stdio: [RawFd; 3],
    /// The streams whose close-on-exec flag the child clears (kept
    /// caller's fds that had it).
    clear_cloexec: [bool; 3],
    /// A session of its own rather than only a process group.
    new_session: bool,
    /// Where the child failed (stage in the high half, errno in the low
    /// one), 0 if it did not. The memory is shared and the caller's thread
    /// resumes only once the child has exec'd or exited, so this is all a
    /// failure report needs: no pipe to wait on for EOF (which comes later
    /// in the exec, and costs the caller a wake-up).
    failure: AtomicU64,
    /// `cgroup.procs` to write to, or -1 when the child started in its
    /// cgroup.
    cgroup_fd: RawFd,
    signals: Signals,
}

impl PlainArgs {
    /// Reports where the child failed and ends it.
    ///
    /// # Safety
    /// For the vfork-style child only.
    unsafe fn fail(&self, stage: u32, errno: i32) -> ! {
        self.failure.store(
            (u64::from(stage) << 32) | u64::from(errno as u32),
            Ordering::Release,
        );
        // SAFETY: _exit never returns, and runs no handler of the caller's.
        unsafe { libc::_exit(127) }
    }

    /// The failure the child reported, once it exec'd or exited.
    fn failure(&self) -> Option<(u32, i32)> {
        let f = self.failure.load(Ordering::Acquire);
        (f != 0).then_some(((f >> 32) as u32, f as u32 as i32))
    }
}

extern "C" fn plain_main(arg: *mut c_void) -> libc::c_int {
    // SAFETY: `arg` is the caller's PlainArgs, alive until we exec or exit.
    let a = unsafe { &*(arg as *const PlainArgs) };
    // SAFETY: system calls on prepared data only.
    unsafe {
        a.signals.reset_handlers();
        let grouped = if a.new_session {
            libc::setsid()
        } else {
            libc::setpgid(0, 0)
        };
        if grouped < 0 {
            a.fail(STAGE_PGROUP, errno());
        }
        // Into the cgroup before anything runs, so nothing the program
        // starts can be outside it (unless the child started there).
        let me = b"0";
        if a.cgroup_fd >= 0 && libc::write(a.cgroup_fd, me.as_ptr() as *const c_void, me.len()) != 1
        {
            a.fail(STAGE_CGROUP, errno());
        }
        for (target, fd) in a.stdio.iter().enumerate() {
            let target = target as libc::c_int;
            let rc = if *fd != target {
                libc::dup2(*fd, target)
            } else if a.clear_cloexec[target as usize] {
                libc::fcntl(target, libc::F_SETFD, 0)
            } else {
                0
            };
            if rc < 0 {
                a.fail(STAGE_STDIO, errno());
            }
        }
        if let Err(e) = cloexec_from_3(max_fd) {
            a.fail(STAGE_CLOSE, e);
        }
        if !a.cwd.is_null() && libc::chdir(a.cwd) != 0 {
            a.fail(STAGE_CWD, errno());
        }
        libc::sigprocmask(libc::SIG_SETMASK, &a.signals.empty_mask, ptr::null_mut());
        libc::execve(a.path, a.argv, a.envp);
        a.fail(STAGE_EXEC, errno())
    }
}

/// Starts `program` as `posix_spawn` would (own process group, or own
/// session when it asks for one or shares the caller's terminal, default
/// signals, empty mask, only fds 0 to 2), inside the cgroup `leaf`.
///
/// The child starts in the leaf where the kernel can do it
/// ([`into_cgroup`]); elsewhere it joins by writing to `cgroup.procs`
/// before exec. Either way nothing the program starts can be outside it.
pub(crate) fn spawn_in_cgroup(program: &Program, leaf: &Leaf) -> Result<Spawned> {
    let ends = stdio_ends(program.stdio)?;
    let new_session = program.new_session || ends.shares_caller_terminal();
    let StdioEnds { parent, child, .. } = ends;
    let mut argv: Vec<*const libc::c_char> = program.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(ptr::null());
    let mut env_holder = Vec::new();
    let envp = program.envp(&mut env_holder);
    let mut args = PlainArgs {
        path: program.path.as_ptr(),
        argv: argv.as_ptr(),
        envp,
        cwd: program.cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
        stdio: [child[0].raw(), child[1].raw(), child[2].raw()],
        clear_cloexec: [
            child[0].clears_cloexec(),
            child[1].clears_cloexec(),
            child[2].clears_cloexec(),
        ],
        new_session,
        failure: AtomicU64::new(0),
        cgroup_fd: -1,
        signals: Signals::new(),
    };
    let mut stack = Stack::new();
    leaf.settle_populated_notice()?;
    let started = into_cgroup::spawn(
        leaf,
        &mut stack,
        plain_main,
        &mut args as *mut _ as *mut c_void,
    )?;
    let procs;
    let (pid, clone_errno) = match started {
        Some(pid) => (pid, Errno::UnknownErrno),
        None => {
            procs = leaf.procs_fd()?;
            args.cgroup_fd = procs.as_raw_fd();
            let _blocked = BlockSignals::new()?;
            // SAFETY: `plain_main` only reads `args` and makes
            // async-signal-safe calls; with CLONE_VFORK this thread sleeps
            // until the child execs or exits, so `args`, `stack` and what
            // they point to outlive it.
            let pid = unsafe {
                libc::clone(
                    plain_main,
                    stack.top(),
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                    &args as *const PlainArgs as *mut c_void,
                )
            };
            (pid, Errno::last())
        }
    };
    drop(child);
    drop(stack);
    if pid < 0 {
        return Err(Error::from_errno(
            ErrorKind::Spawn,
            "creating the child (clone)",
            clone_errno,
        ));
    }
    if let Some((stage, errno)) = args.failure() {
        reap(pid);
        let name = OsStr::from_bytes(program.path.as_bytes());
        let errno = Errno::from_raw(errno);
        return Err(match stage {
            STAGE_EXEC if errno == Errno::ENOENT => Error::from_errno(
                ErrorKind::CommandNotFound,
                format!("{name:?} (or the interpreter it names) does not exist"),
                errno,
            ),
            STAGE_EXEC => Error::from_errno(ErrorKind::Spawn, format!("starting {name:?}"), errno),
            STAGE_CWD => {
                let dir = program
                    .cwd
                    .as_ref()
                    .map(|c| OsStr::from_bytes(c.as_bytes()))
                    .unwrap_or_default();
                Error::from_errno(ErrorKind::Spawn, format!("working folder {dir:?}"), errno)
            }
            STAGE_CGROUP => Error::from_errno(
                ErrorKind::Spawn,
                format!("starting {name:?}: joining its cgroup"),
                errno,
            ),
            _ => Error::from_errno(
                ErrorKind::Spawn,
                format!("starting {name:?}: setting up the child"),
                errno,
            ),
        });
    }
    let [stdin, stdout, stderr] = parent;
    Ok(Spawned {
        child: Child::new(pid),
        stdin,
        stdout,
        stderr,
    })
}

/// `clone3(CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP)`: the child starts
/// in its cgroup rather than moving there.
///
/// Why not the C library's `clone` and a write to `cgroup.procs`: that write
/// migrates the child, and a migration takes the kernel's
/// `cgroup_threadgroup_rwsem` for writing, which now and then waits out a
/// whole RCU grace period (here about one spawn in a hundred, 12 to 35 ms
/// each, a few times the whole cost of the other spawns together). A fork
/// into a cgroup only takes it for reading. The C library has no `clone3`
/// wrapper, so the system call is made here, the child calling its function
/// on its own stack as `clone` would.
///
/// Where `clone3` or the flag is missing (before Linux 5.7, or refused by a
/// seccomp profile such as Docker's default, which answers ENOSYS), or on
/// architectures without the call written here, the spawn joins by writing
/// to `cgroup.procs` instead, and later spawns go straight there.
mod into_cgroup {
    use std::ffi::c_void;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::OnceLock;

    use super::{BlockSignals, Stack};
    use crate::cgroup::Leaf;
    use crate::error::Result;

    /// Set once `clone3` into a cgroup was refused as unknown or not allowed.
    static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

    /// The libc crate's constant is an `int`, which this flag overflows.
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

    type Entry = extern "C" fn(*mut c_void) -> libc::c_int;

    /// Starts `entry(arg)` in a vfork-style child already in `leaf`: its pid,
    /// or None when the caller should clone and join the other way.
    pub(super) fn spawn(
        leaf: &Leaf,
        stack: &mut Stack,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<Option<libc::pid_t>> {
        if !cfg!(target_arch = "x86_64")
            || UNAVAILABLE.load(Ordering::Relaxed)
            || !*WORKS.get_or_init(|| works(leaf, stack))
        {
            return Ok(None);
        }
        let ret = {
            let _blocked = BlockSignals::new()?;
            // SAFETY: as for `clone` in spawn_in_cgroup: `entry` only reads
            // `arg` and makes system calls, and this thread sleeps until the
            // child execs or exits.
            unsafe { clone3(&request(leaf, stack), entry, arg) }
        };
        if ret >= 0 {
            return Ok(Some(ret as libc::pid_t));
        }
        // A refusal of the call or of the flag holds for every later spawn;
        // anything else (the leaf itself, say) is left to the other way,
        // which names it.
        if matches!(
            -ret as i32,
            libc::ENOSYS | libc::E2BIG | libc::EINVAL | libc::EPERM
        ) {
            UNAVAILABLE.store(true, Ordering::Relaxed);
        }
        Ok(None)
    }

    /// Whether a child forked into a new leaf lives (probed once, with the
    /// first leaf, which is new): on kernels that compare the kill counts
    /// of the caller's cgroup and the leaf (see `Leaf`), a caller whose own
    /// cgroup was once killed would see every child killed at once.
    static WORKS: OnceLock<bool> = OnceLock::new();

    fn works(leaf: &Leaf, stack: &mut Stack) -> bool {
        extern "C" fn exit_at_once(_: *mut c_void) -> libc::c_int {
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(0) }
        }
        let Ok(_blocked) = BlockSignals::new() else {
            return false;
        };
        // SAFETY: the child only exits.
        let pid = unsafe { clone3(&request(leaf, stack), exit_at_once, std::ptr::null_mut()) };
        if pid < 0 {
            return false;
        }
        let mut status = 0;
        // SAFETY: waits for the child just made.
        while unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) } < 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }

    /// The `clone3` request: a vfork-style child on `stack`, in `leaf`.
    fn request(leaf: &Leaf, stack: &mut Stack) -> libc::clone_args {
        let (base, size) = stack.bounds();
        // SAFETY: an all-zero clone_args is a valid request; the fields
        // that matter are set below.
        let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
        args.flags = (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | CLONE_INTO_CGROUP;
        args.exit_signal = libc::SIGCHLD as u64;
        args.stack = base;
        args.stack_size = size;
        args.cgroup = leaf.dir_fd().as_raw_fd() as u64;
        args
    }

    /// The system call; in the child, `entry(arg)` then `exit`. Returns the
    /// pid, or minus the errno.
    ///
    /// # Safety
    /// `args` asks for CLONE_VM with the stack of a [`Stack`]; `entry` may
    /// only make system calls, on memory that outlives the child's exec.
    #[cfg(target_arch = "x86_64")]
    unsafe fn clone3(args: &libc::clone_args, entry: Entry, arg: *mut c_void) -> libc::c_long {
        let ret: libc::c_long;
        // SAFETY: the caller's contract. The parent only loses rcx and r11
        // (and rax, the result); the child, on its own 16-byte aligned
        // stack, never returns into the caller's frames.
        unsafe {
            std::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "xor ebp, ebp",
                "mov rdi, r12",
                "call r13",
                "mov edi, eax",
                "mov eax, {exit}",
                "syscall",
                "ud2",
                "2:",
                exit = const libc::SYS_exit,
                inlateout("rax") libc::SYS_clone3 => ret,
                in("rdi") args as *const libc::clone_args,
                in("rsi") std::mem::size_of::<libc::clone_args>(),
                in("r12") arg,
                in("r13") entry,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn clone3(_: &libc::clone_args, _: Entry, _: *mut c_void) -> libc::c_long {
        -(libc::ENOSYS as libc::c_long)
    }
}
