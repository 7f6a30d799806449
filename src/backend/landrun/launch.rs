//! Starting a program in its sandbox: the clone choreography.
//!
//! The restrictions must be applied between clone and exec, which
//! `posix_spawn` cannot do, and a plain `fork` copies the caller's page
//! tables (tens of milliseconds for a host holding gigabytes). So every
//! child here is made with `clone(CLONE_VM)` on a stack of its own: it
//! shares the caller's memory, and the cost does not depend on the
//! caller's size.
//!
//! With namespaces, two such children, and the caller runs alongside them:
//! the first clone is made as soon as the program and the namespaces are
//! known, and the caller then plans the view and adds the Landlock rules
//! (`prepare` in [`spawn`]) on its CPU while the kernel makes the
//! namespaces, the sandbox process having been asked to run on another.
//! 1. the *sandbox* process, cloned into new user (when the caller is not
//!    privileged), mount, PID, IPC, UTS and cgroup namespaces. It is PID 1
//!    of the new PID namespace. It writes its id maps, joins the pids
//!    cgroup and clones the command's process; then it waits on the *ready*
//!    pipe for the caller's plan, builds the mount view, moves into it,
//!    joins the command's network namespace (when networking is off) and
//!    brings its loopback up, tells the command's process through the *go*
//!    pipe, and execs the embedded init (see `init` and `start_init`), which
//!    drops the capabilities this process kept and stays PID 1 until the
//!    command ends.
//! 2. the *command* process, which meanwhile (these steps cost about as
//!    much as the view) starts its own session, makes the network
//!    namespace (the costliest namespace to create, so off the sandbox
//!    process's path) and says so on the *net* pipe, connects stdio,
//!    closes every other fd, sets the resource limits, drops every
//!    capability, sets `no_new_privs` and installs the seccomp filters.
//!    Then it waits on the go pipe; once the view is in place
//!    (`pivot_root` moved its root and working folder there too) it enters
//!    its working folder, enforces the Landlock ruleset (which by then
//!    holds the view's own rules) and execs the program. Nothing it runs
//!    before that is the program's: until the go byte it executes only
//!    this code, without capabilities; if the view fails, the sandbox
//!    process exits and the kernel kills it with the PID namespace.
//!
//! When the caller has an idle network namespace (see `netns_pool`), both
//! processes join it instead (`setns`, its loopback up already): the
//! sandbox process before the ready byte, the command's process where it
//! would have made one.
//!
//! The caller then reads the error pipe to its end, which comes once both
//! children have exec'd: only then is the memory they use released (`Args`
//! lives on the heap, as a stack slot could be reused once the compiler
//! sees no more use of it). Without namespaces (the fallback where none can
//! be made) the first child is the command itself, made with CLONE_VFORK
//! after `prepare`.
//!
//! Sharing memory means the children may only make async-signal-safe system
//! calls on data prepared for them: everything that allocates (strings,
//! argv and envp arrays, the ruleset, the seccomp programs) is built before
//! the clone, the mount plan before the ready byte. All signals are blocked around
//! the clone so that no handler of the caller runs in a child; the command
//! resets every disposition to default and unblocks everything just before
//! exec. A failure in a child is written (stage and errno) to a
//! close-on-exec pipe and turned into an error by the caller, who also
//! reaps the failed child.

use std::ffi::{c_void, CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use nix::errno::Errno;

use super::limits::{self, Which};
use super::namespaces::{Compiled, IdMaps, Namespaces, ViewStep, PROC_OPTIONS};
use super::privileges;
use super::seccomp::Filters;
use crate::child::Child;
use crate::error::{Error, ErrorKind};
use crate::spawn::{pipe_above_stdio, stdio_ends, Program, Spawned, StdioEnds};
use crate::vfork::{self, errno, BlockSignals, Signals, Stack};

/// How the mount namespace is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mounts {
    /// The host's file system (no mount namespace).
    Host,
    /// The host's file system with the sandbox's own /proc.
    ProcOnly,
    /// Only what the policy names: the view `prepare` compiles (see
    /// [`spawn`]).
    View,
}

/// What the children apply before exec.
#[derive(Debug)]
pub(crate) struct Confinement<'a> {
    pub(crate) namespaces: Namespaces,
    pub(crate) id_maps: Option<&'a IdMaps>,
    pub(crate) mounts: Mounts,
    /// The Landlock ruleset to enforce, if any.
    pub(crate) ruleset: Option<&'a OwnedFd>,
    pub(crate) seccomp: Option<&'a Filters>,
    pub(crate) limits: limits::Prepared,
    pub(crate) privileges: privileges::Prepared,
    /// `cgroup.procs` of a pids cgroup the sandbox joins, if any.
    pub(crate) pids_cgroup: Option<&'a OwnedFd>,
    /// The folder the command starts in, and whether failing to enter it is
    /// an error (it was asked for) or means starting in `/`.
    pub(crate) cwd: Option<(CString, bool)>,
    /// An idle network namespace the sandbox joins instead of making one
    /// (see `netns_pool`; with a sandbox process and networking off).
    pub(crate) netns: Option<&'a OwnedFd>,
    /// Whether the init says, once every process of the sandbox is gone,
    /// whether the network namespace was left empty (see `netns_pool`).
    pub(crate) report_netns: bool,
}

/// Where a child failed, as reported through the error pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    ProcessGroup,
    Session,
    UserNamespace,
    NetworkNamespace,
    Loopback,
    View(ViewStep),
    PidsCgroup,
    Cwd,
    Stdio,
    CloseFds,
    Limit(Which),
    Capabilities,
    NoNewPrivs,
    Landlock,
    Seccomp,
    Fork,
    Init,
    Exec,
}

const VIEW_STEPS: [ViewStep; 10] = [
    ViewStep::Private,
    ViewStep::Clone,
    ViewStep::Staging,
    ViewStep::Skeleton,
    ViewStep::Attach,
    ViewStep::Dev,
    ViewStep::Proc,
    ViewStep::LandlockRule,
    ViewStep::Seal,
    ViewStep::Pivot,
];
const LIMITS: [Which; 4] = [
    Which::Memory,
    Which::Processes,
    Which::OpenFiles,
    Which::Cpu,
];
const SIMPLE: [Stage; 14] = [
    Stage::ProcessGroup,
    Stage::Session,
    Stage::UserNamespace,
    Stage::Loopback,
    Stage::PidsCgroup,
    Stage::Cwd,
    Stage::Stdio,
    Stage::CloseFds,
    Stage::Capabilities,
    Stage::NoNewPrivs,
    Stage::Landlock,
    Stage::Seccomp,
    Stage::Fork,
    Stage::NetworkNamespace,
];

impl Stage {
    fn code(self) -> u32 {
        match self {
            Stage::View(s) => 100 + VIEW_STEPS.iter().position(|v| *v == s).unwrap_or(0) as u32,
            Stage::Limit(w) => 200 + LIMITS.iter().position(|l| *l == w).unwrap_or(0) as u32,
            Stage::Init => 300,
            Stage::Exec => 301,
            s => 1 + SIMPLE.iter().position(|x| *x == s).unwrap_or(0) as u32,
        }
    }

    pub(crate) fn from_code(c: u32) -> Option<Stage> {
        match c {
            100..=199 => VIEW_STEPS.get((c - 100) as usize).map(|s| Stage::View(*s)),
            200..=299 => LIMITS.get((c - 200) as usize).map(|w| Stage::Limit(*w)),
            300 => Some(Stage::Init),
            301 => Some(Stage::Exec),
            1.. => SIMPLE.get((c - 1) as usize).copied(),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Stage::ProcessGroup => "setting the process group (setpgid)",
            Stage::Session => "starting a new session (setsid)",
            Stage::UserNamespace => "writing the user namespace's id maps",
            Stage::NetworkNamespace => "creating the network namespace (unshare)",
            Stage::Loopback => "bringing up the network namespace's loopback",
            Stage::View(s) => s.describe(),
            Stage::PidsCgroup => "joining the pids cgroup for max_processes",
            Stage::Cwd => "entering the working folder (chdir)",
            Stage::Stdio => "connecting stdin/stdout/stderr (dup2)",
            Stage::CloseFds => "closing inherited file descriptors (close_range)",
            Stage::Limit(w) => w.describe(),
            Stage::Capabilities => "dropping every capability (securebits, bounding set, capset)",
            Stage::NoNewPrivs => "setting no_new_privs (prctl)",
            Stage::Landlock => "enforcing the Landlock ruleset (landlock_restrict_self)",
            Stage::Seccomp => "installing the seccomp filter",
            Stage::Fork => "starting the command inside the sandbox (clone)",
            Stage::Init => "starting the sandbox's init (execveat of the embedded helper)",
            Stage::Exec => "executing the program",
        }
    }

    /// Whether a failure here means a namespace layer could not be built
    /// (which `best_effort` answers by running without namespaces).
    pub(crate) fn is_namespace_layer(self) -> bool {
        matches!(
            self,
            Stage::UserNamespace
                | Stage::NetworkNamespace
                | Stage::Loopback
                | Stage::View(_)
                | Stage::Fork
                | Stage::Init
        )
    }
}

/// Everything the children read, prepared by the caller. Plain integers and
/// pointers into data that outlives the clone.
struct Args<'a> {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    stdio: [RawFd; 3],
    error_fd: RawFd,
    ruleset_fd: RawFd,
    namespaces: Namespaces,
    id_maps: Option<&'a IdMaps>,
    mounts: Mounts,
    /// The compiled view: written by the caller once `prepare` returned,
    /// read by the sandbox process only after the ready byte.
    view: *mut Compiled,
    /// The ready pipe: the caller writes a byte once `view` and the
    /// ruleset's rules are in place (-1, -1 when they were before the
    /// clone).
    ready: [RawFd; 2],
    seccomp: [(*const libc::sock_filter, u16); 2],
    limits: limits::Prepared,
    privileges: privileges::Prepared,
    pids_cgroup_fd: RawFd,
    cwd: Option<(*const libc::c_char, bool)>,
    signals: Signals,
    // For the init.
    init_fd: RawFd,
    caller_pidfd: RawFd,
    status_fd: RawFd,
    /// The go pipe: the sandbox process writes a byte once the view is in
    /// place, just before it execs the init; the command's process reads it
    /// before it enters the view (-1, -1 without a sandbox process).
    go: [RawFd; 2],
    init_argv: [*const libc::c_char; 4],
    init_pid_arg: [u8; 16],
    empty_env: [*const libc::c_char; 1],
    command_stack: *mut c_void,
    /// Whether the command's process makes the network namespace (with a
    /// sandbox process and networking off), and the pipe it says so on,
    /// made by the sandbox process.
    unshare_network: bool,
    net: [RawFd; 2],
    /// An idle network namespace that both children join instead, or -1.
    netns_fd: RawFd,
    /// The write end of the pipe the init gives its verdict on the network
    /// namespace on, or -1.
    netns_report: RawFd,
    /// The CPUs the caller may run on, when there are several.
    cpus: Option<libc::cpu_set_t>,
}

/// A started sandbox: the caller's pipe ends, the child, and the pipe its
/// init reports the command's status on.
pub(crate) struct Started {
    pub(crate) spawned: Spawned,
    /// Where the init says whether the network namespace was left empty
    /// (with `report_netns`).
    pub(crate) netns_report: Option<OwnedFd>,
}

/// A failure to start, with the stage it happened at (None when it was the
/// clone of the caller itself).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) stage: Option<Stage>,
    pub(crate) error: Error,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure { stage: None, error }
    }
}

/// Starts `program` under `confinement`, with what `prepare` makes (the
/// view, and the rules of `confinement.ruleset`).
///
/// With a sandbox process, `prepare` runs after the clone, while the kernel
/// makes the namespaces and the command's process the network namespace:
/// the first clone then leaves the caller running (no CLONE_VFORK), and the
/// sandbox process waits on the ready pipe before it reads the view. If
/// `prepare` fails, the pipe's end tells the sandbox process to exit, the
/// PID namespace takes the command's process with it, and the caller reaps
/// the sandbox before returning the error. The children share this thread's
/// `errno`, as vfork children do; they set it only when a call fails, and
/// the only failures a spawn survives (the CPU affinity hint, clearing the
/// ambient capabilities on kernels before 4.3) need unusual systems.
/// Without a sandbox process `prepare` runs before the clone.
pub(crate) fn spawn(
    program: &Program,
    confinement: Confinement<'_>,
    init: Option<(RawFd, RawFd)>,
    prepare: impl FnOnce() -> std::result::Result<Option<Compiled>, Failure>,
) -> std::result::Result<Started, Failure> {
    let concurrent = init.is_some();
    // The compiled view lives here until both children have exec'd.
    let (mut view, prepare) = if concurrent {
        (None, Some(prepare))
    } else {
        (prepare()?, None)
    };
    let StdioEnds { parent, child, .. } = stdio_ends(program.stdio)?;
    let child = StdioEnds::owned_child_ends(child)?;
    let (error_read, error_write) = pipe_above_stdio()?;
    let status = if init.is_some() {
        Some(pipe_above_stdio()?)
    } else {
        None
    };
    let go = if init.is_some() {
        Some(pipe_above_stdio()?)
    } else {
        None
    };
    let ready = if concurrent {
        Some(pipe_above_stdio()?)
    } else {
        None
    };
    let netns_report = if init.is_some() && confinement.report_netns {
        Some(pipe_above_stdio()?)
    } else {
        None
    };

    let mut argv: Vec<*const libc::c_char> = program.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(ptr::null());
    // A copy of the caller's environment, if the command inherits it: the
    // command execs after the caller's thread went on.
    let copied;
    let entries = if program.inherit_env {
        copied = Program::entries(&std::env::vars_os().collect::<Vec<_>>())?;
        &copied
    } else {
        &program.env
    };
    let mut envp: Vec<*const libc::c_char> = entries.iter().map(|e| e.as_ptr()).collect();
    envp.push(ptr::null());

    let seccomp = match confinement.seccomp {
        Some(f) => [
            (
                f.clone3.as_ptr() as *const libc::sock_filter,
                f.clone3.len() as u16,
            ),
            (
                f.deny.as_ptr() as *const libc::sock_filter,
                f.deny.len() as u16,
            ),
        ],
        None => [(ptr::null(), 0); 2],
    };

    let mut command_stack = Stack::new();
    let mut sandbox_stack = Stack::new();
    let namespaces = confinement.namespaces;
    let cwd_shown: Option<std::ffi::OsString> = confinement
        .cwd
        .as_ref()
        .map(|(c, _)| OsStr::from_bytes(c.as_bytes()).to_os_string());
    // On the heap: the children read it until they exec, and a stack slot
    // may be reused for other locals once the compiler sees no more use.
    let mut args = Box::new(Args {
        path: program.path.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        stdio: [
            child[0].as_raw_fd(),
            child[1].as_raw_fd(),
            child[2].as_raw_fd(),
        ],
        error_fd: error_write.as_raw_fd(),
        ruleset_fd: confinement.ruleset.map_or(-1, |fd| fd.as_raw_fd()),
        namespaces,
        id_maps: confinement.id_maps,
        mounts: confinement.mounts,
        view: view
            .as_mut()
            .map_or(ptr::null_mut(), |c| c as *mut Compiled),
        ready: ready
            .as_ref()
            .map_or([-1, -1], |(r, w)| [r.as_raw_fd(), w.as_raw_fd()]),
        seccomp,
        limits: confinement.limits,
        privileges: confinement.privileges,
        pids_cgroup_fd: confinement.pids_cgroup.map_or(-1, |fd| fd.as_raw_fd()),
        cwd: confinement
            .cwd
            .as_ref()
            .map(|(c, required)| (c.as_ptr(), *required)),
        signals: Signals::new(),
        init_fd: init.map_or(-1, |(fd, _)| fd),
        caller_pidfd: init.map_or(-1, |(_, fd)| fd),
        status_fd: status.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
        go: go
            .as_ref()
            .map_or([-1, -1], |(r, w)| [r.as_raw_fd(), w.as_raw_fd()]),
        init_argv: [ptr::null(); 4],
        init_pid_arg: [0; 16],
        empty_env: [ptr::null()],
        command_stack: command_stack.top(),
        unshare_network: init.is_some() && namespaces.network && confinement.netns.is_none(),
        net: [-1, -1],
        netns_fd: match (init, confinement.netns) {
            (Some(_), Some(fd)) if namespaces.network => fd.as_raw_fd(),
            _ => -1,
        },
        netns_report: netns_report.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
        cpus: caller_cpus(),
    });
    args.init_argv[0] = c"rr-init".as_ptr();
    args.init_argv[1] = c"init".as_ptr();

    // With a sandbox process, the command's process makes the network
    // namespace itself (see `confine_and_exec`), and the caller goes on
    // with `prepare`.
    let mut flags = libc::CLONE_VM | libc::SIGCHLD | namespaces.clone_flags();
    if args.unshare_network || args.netns_fd >= 0 {
        flags &= !libc::CLONE_NEWNET;
    }
    if !concurrent {
        flags |= libc::CLONE_VFORK;
    }
    let args_cpus = args.cpus;
    let args_ptr: *mut Args<'_> = &mut *args;
    // Signals stay blocked until the report is read: the command's process
    // may still run in this memory (see `build_sandbox`), and no handler of
    // ours may interrupt the read meanwhile.
    let blocked = BlockSignals::new()?;
    let (pid, clone_errno) = {
        let entry = if init.is_some() {
            sandbox_main
        } else {
            command_main
        };
        // SAFETY: the entry points only read `args` (the sandbox process also
        // writes the tree fds of the mount plan and the init's pid argument,
        // which nothing else touches; `view` it reads only after the ready
        // byte) and make async-signal-safe calls; this function returns
        // only once the error pipe reached its end, when both children have
        // exec'd or exited, so `args`, the stacks and everything they point
        // to outlive the children's use of them.
        let pid =
            unsafe { libc::clone(entry, sandbox_stack.top(), flags, args_ptr as *mut c_void) };
        (pid, Errno::last())
    };
    drop(error_write);
    drop(child);
    let status_read = status.map(|(r, w)| {
        drop(w);
        r
    });
    let netns_report = netns_report.map(|(r, w)| {
        drop(w);
        r
    });
    // Only the sandbox process writes the go byte; the children hold their
    // own copies.
    drop(go);
    if pid < 0 {
        let what = if namespaces == Namespaces::NONE {
            "creating the child (clone)".to_string()
        } else {
            format!(
                "creating the sandbox's {} namespaces (clone)",
                namespaces.names().join(", ")
            )
        };
        let kind = if namespaces != Namespaces::NONE
            && matches!(
                clone_errno,
                Errno::EPERM | Errno::ENOSPC | Errno::EINVAL | Errno::EUSERS
            ) {
            ErrorKind::Requirements
        } else {
            ErrorKind::Spawn
        };
        return Err(Failure {
            stage: None,
            error: Error::from_errno(kind, what, clone_errno),
        });
    }
    if let (Some((ready_read, ready_write)), Some(prepare)) = (ready, prepare) {
        drop(ready_read);
        // The sandbox process runs on another CPU while this thread keeps
        // its own for `prepare`, and gets every CPU back before the ready
        // byte wakes it: the command's process, which it clones meanwhile,
        // may then be in the kernel on that other CPU for a while.
        // SAFETY: system calls on local data.
        unsafe { run_elsewhere(args_cpus.as_ref(), pid) };
        // A panic must not unwind past this point: the children still use
        // the memory it would free.
        let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(prepare))
            .unwrap_or_else(|_| Err(Error::internal("preparing the sandbox panicked").into()));
        match prepared {
            Ok(compiled) => {
                view = compiled;
                let at = view
                    .as_mut()
                    .map_or(ptr::null_mut(), |c| c as *mut Compiled);
                // SAFETY: `args` outlives the children (see above); the
                // sandbox process reads `view` only after the byte below,
                // and the fence keeps this store before it.
                unsafe { ptr::write_volatile(ptr::addr_of_mut!((*args_ptr).view), at) };
                std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
                if let Some(cpus) = &args_cpus {
                    // SAFETY: reads a local set.
                    unsafe {
                        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), cpus)
                    };
                }
                // A sandbox process that is gone already reported why.
                // SAFETY: writes one byte to our pipe.
                unsafe { write_byte(ready_write.as_raw_fd()) };
            }
            Err(failure) => {
                // The end of the ready pipe ends the sandbox; once the
                // error pipe ends too, both children are gone.
                drop(ready_write);
                let _ = vfork::read_report(&error_read);
                drop(blocked);
                vfork::reap(pid);
                return Err(failure);
            }
        }
    }

    // EOF once every child has exec'd (each holds a close-on-exec copy of
    // the pipe): only then are `args` and the stacks free.
    let report = vfork::read_report(&error_read);
    drop(blocked);
    drop(sandbox_stack);
    drop(command_stack);
    drop(args);
    drop(view);
    if let Some((stage, errno)) = report.and_then(|(code, e)| Some((Stage::from_code(code)?, e))) {
        vfork::reap(pid);
        return Err(Failure {
            stage: Some(stage),
            error: child_error(program, stage, errno, cwd_shown.as_deref()),
        });
    }
    let [stdin, stdout, stderr] = parent;
    let child = match status_read {
        Some(fd) => Child::with_status_pipe(pid, fd),
        None => Child::new(pid),
    };
    Ok(Started {
        spawned: Spawned {
            child,
            stdin,
            stdout,
            stderr,
        },
        netns_report,
    })
}

fn child_error(program: &Program, stage: Stage, errno: i32, cwd: Option<&OsStr>) -> Error {
    let errno = Errno::from_raw(errno);
    let name = OsStr::from_bytes(program.path.as_bytes());
    match (stage, errno) {
        (Stage::Exec, Errno::ENOENT) => Error::from_errno(
            ErrorKind::CommandNotFound,
            format!("{name:?} (or the interpreter it names) does not exist in the sandbox"),
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
        (Stage::Exec, _) => {
            Error::from_errno(ErrorKind::Spawn, format!("executing {name:?}"), errno)
        }
        (Stage::Cwd, _) => Error::from_errno(
            ErrorKind::Spawn,
            format!(
                "starting {name:?}: changing to the working folder {:?}: it must be reachable in \
                 the sandbox, under a folder the policy names",
                cwd.unwrap_or_default()
            ),
            errno,
        ),
        (s, Errno::ENOSYS)
        | (s @ Stage::UserNamespace, _)
        | (
            s @ Stage::NetworkNamespace,
            Errno::EPERM | Errno::ENOSPC | Errno::EINVAL | Errno::EUSERS,
        ) if s.is_namespace_layer() => Error::from_errno(
            ErrorKind::Requirements,
            format!(
                "starting {name:?}: {} is not supported here; \
                 set best_effort to run with Landlock, seccomp and rlimits only",
                s.describe()
            ),
            errno,
        ),
        _ => Error::from_errno(
            ErrorKind::Spawn,
            format!("starting {name:?}: {}", stage.describe()),
            errno,
        ),
    }
}

/// Writes a report and exits.
///
/// # Safety
/// For the children: system calls only.
unsafe fn fail(a: &Args<'_>, stage: Stage, errno: i32) -> ! {
    // SAFETY: forwarded.
    unsafe { vfork::report_and_exit(a.error_fd, stage.code(), errno) }
}

/// The first child with namespaces: PID 1 of the sandbox until it execs
/// the init.
extern "C" fn sandbox_main(arg: *mut c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Args` the caller keeps alive until we exec or
    // exit; nothing else uses it meanwhile.
    let a = unsafe { &mut *(arg as *mut Args<'_>) };
    // SAFETY: system calls on prepared data only.
    match unsafe { build_sandbox(a) } {
        Err((stage, errno)) => unsafe { fail(a, stage, errno) },
        Ok(never) => match never {},
    }
}

/// # Safety
/// In the sandbox process (see `sandbox_main`).
unsafe fn build_sandbox(
    a: &mut Args<'_>,
) -> std::result::Result<std::convert::Infallible, (Stage, i32)> {
    // SAFETY: the function's contract.
    unsafe {
        // Only the caller may write the ready byte: with this copy closed,
        // its end means `prepare` failed.
        if a.ready[1] >= 0 {
            libc::close(a.ready[1]);
        }
        a.signals.reset_handlers();
        if let (true, Some(maps)) = (a.namespaces.user, a.id_maps) {
            maps.write().map_err(|e| (Stage::UserNamespace, e))?;
        }
        // Out of the caller's process group, so its terminal's signals do
        // not reach the sandbox.
        if libc::setpgid(0, 0) != 0 {
            return Err((Stage::ProcessGroup, errno()));
        }
        // Before the command's process is made, so that it starts inside.
        if a.pids_cgroup_fd >= 0 {
            let me = b"0";
            if libc::write(a.pids_cgroup_fd, me.as_ptr() as *const c_void, me.len()) != 1 {
                return Err((Stage::PidsCgroup, errno()));
            }
        }
        // The command's process confines itself while this one builds the
        // view; then one execs the program, the other the init. Both only
        // read `args` (this one writes the view's tree fds and the init's
        // own fields, which the other never reads); the caller keeps
        // everything alive until the error pipe reaches EOF, which waits
        // for both execs.
        if a.unshare_network {
            // Made here, not by the caller: the caller's copy of the write
            // end would stay open until the spawn ends, and a command
            // process that failed before writing would never bring the end
            // of file the read below waits for.
            if libc::pipe2(a.net.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                return Err((Stage::NetworkNamespace, errno()));
            }
        }
        let mut pidfd: libc::c_int = -1;
        let pid = libc::clone(
            command_main,
            a.command_stack,
            libc::CLONE_VM | libc::SIGCHLD | libc::CLONE_PIDFD,
            a as *mut Args<'_> as *mut c_void,
            &mut pidfd as *mut libc::c_int,
        );
        if pid < 0 {
            return Err((Stage::Fork, errno()));
        }
        if a.net[1] >= 0 {
            libc::close(a.net[1]);
        }
        if a.netns_fd >= 0 && libc::setns(a.netns_fd, libc::CLONE_NEWNET) != 0 {
            return Err((Stage::NetworkNamespace, errno()));
        }
        if a.ready[0] >= 0 {
            // The command's process starts on this CPU while this process
            // waits for the caller (see `spawn`).
            if !read_byte(a.ready[0]) {
                // `prepare` failed: the caller reports why.
                libc::_exit(125);
            }
        } else {
            run_elsewhere(a.cpus.as_ref(), pid);
        }
        match a.mounts {
            Mounts::Host => {}
            Mounts::ProcOnly => {
                let null = ptr::null::<libc::c_char>();
                if libc::mount(
                    null,
                    c"/".as_ptr(),
                    null,
                    libc::MS_REC | libc::MS_PRIVATE,
                    ptr::null(),
                ) != 0
                {
                    return Err((Stage::View(ViewStep::Private), errno()));
                }
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                if libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    flags,
                    PROC_OPTIONS.as_ptr() as *const c_void,
                ) != 0
                {
                    return Err((Stage::View(ViewStep::Proc), errno()));
                }
            }
            Mounts::View => {
                std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
                let view = ptr::read_volatile(ptr::addr_of!(a.view));
                if view.is_null() {
                    return Err((Stage::View(ViewStep::Private), libc::EINVAL));
                }
                (*view)
                    .apply(a.ruleset_fd)
                    .map_err(|(s, e)| (Stage::View(s), e))?;
            }
        }
        if a.unshare_network {
            join_network(a, pidfd)?;
        }
        // This process keeps its capabilities through the init's execveat
        // (see `start_init`), and the init drops them.
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err((Stage::NoNewPrivs, errno()));
        }
        start_init(a, pid)
    }
}

/// Reads the one byte a pipe between the children carries; false at its end
/// (the writer is gone) or on an error.
///
/// # Safety
/// System calls only.
unsafe fn read_byte(fd: RawFd) -> bool {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into a local.
        let n = unsafe { libc::read(fd, &mut byte as *mut u8 as *mut c_void, 1) };
        if !(n < 0 && errno() == libc::EINTR) {
            return n == 1;
        }
    }
}

/// Writes the one byte a pipe between the children carries.
///
/// # Safety
/// System calls only.
unsafe fn write_byte(fd: RawFd) -> bool {
    let byte = 1u8;
    // SAFETY: writes one byte from a local.
    unsafe { libc::write(fd, &byte as *const u8 as *const c_void, 1) == 1 }
}

/// Moves the sandbox process into the network namespace the command's
/// process made, once it says so, and brings its loopback up: the init must
/// not stay in the host's, whose sockets and connections `/proc/1/net`
/// would list to the command.
///
/// # Safety
/// In the sandbox process, with `pidfd` the command's process.
unsafe fn join_network(a: &Args<'_>, pidfd: libc::c_int) -> std::result::Result<(), (Stage, i32)> {
    // SAFETY: system calls on prepared data.
    unsafe {
        if !read_byte(a.net[0]) {
            // The command's process failed, and its report is the first.
            return Err((Stage::NetworkNamespace, libc::EPIPE));
        }
        if libc::setns(pidfd, libc::CLONE_NEWNET) != 0 {
            return Err((Stage::NetworkNamespace, errno()));
        }
        libc::close(pidfd);
        namespaces_loopback()
    }
}

/// Asks the kernel to run `pid` on another of `cpus` than the calling
/// process's, which has work of its own meanwhile (the caller's plan, the
/// sandbox process's view). Some schedulers start a child on its parent's
/// CPU and keep it waiting until the parent sleeps; the two paths then add
/// up instead of overlapping. A hint only: a failure changes nothing, and
/// every CPU is given back (by the caller to the sandbox process before the
/// ready byte, by the command's process itself before the program starts).
///
/// # Safety
/// System calls only.
unsafe fn run_elsewhere(cpus: Option<&libc::cpu_set_t>, pid: libc::pid_t) {
    let Some(cpus) = cpus else { return };
    let mut cpu: libc::c_uint = 0;
    // SAFETY: getcpu fills `cpu`; the affinity call reads a local set. The
    // raw call: the C library may answer from the calling thread's rseq
    // area, which is the caller's, not this process's.
    unsafe {
        if libc::syscall(
            libc::SYS_getcpu,
            &mut cpu as *mut libc::c_uint,
            ptr::null_mut::<libc::c_uint>(),
            ptr::null_mut::<c_void>(),
        ) != 0
        {
            return;
        }
        let mut others = *cpus;
        libc::CPU_CLR(cpu as usize, &mut others);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &others);
    }
}

/// # Safety
/// System calls only.
unsafe fn namespaces_loopback() -> std::result::Result<(), (Stage, i32)> {
    // SAFETY: forwarded.
    unsafe { super::namespaces::loopback_up() }.map_err(|e| (Stage::Loopback, e))
}

/// # Safety
/// System calls only.
unsafe fn enter_cwd(a: &Args<'_>) -> std::result::Result<(), (Stage, i32)> {
    if let Some((dir, required)) = a.cwd {
        // SAFETY: chdir on a prepared C string.
        if unsafe { libc::chdir(dir) } != 0 {
            if required {
                return Err((Stage::Cwd, errno()));
            }
            // SAFETY: as above.
            unsafe { libc::chdir(c"/".as_ptr()) };
        }
    }
    Ok(())
}

/// The sandbox process becomes the init: it execs the embedded helper with
/// only its own fds, and releases the command's process (the go byte) just
/// before, once nothing of the sandbox's is left to set up: the command's
/// program then starts while the init does.
///
/// The program may thus run beside a PID 1 that is still this process,
/// sharing the caller's memory, for the time of the execveat. It cannot
/// reach it: this process holds every capability of its namespaces until
/// the exec has replaced its memory, so the program, which holds none,
/// cannot trace it or open its memory (the kernel wants the tracer's
/// capabilities to cover the tracee's); and the sandbox's /proc shows no
/// process the program may not trace (`PROC_OPTIONS`), so neither the
/// caller's command line nor PID 1 at all. The init starts with
/// capabilities too (all of them as uid 0; else `CAP_SETPCAP`, kept in
/// the ambient set), makes itself undumpable as its first act, and only
/// then drops them (see src/helper_program/init.rs).
///
/// # Safety
/// In the sandbox process, once the view is in place.
unsafe fn start_init(
    a: &mut Args<'_>,
    command: libc::pid_t,
) -> std::result::Result<std::convert::Infallible, (Stage, i32)> {
    // SAFETY: system calls on prepared data.
    unsafe {
        // The init's pid argument, in decimal.
        let mut digits = [0u8; 12];
        let mut n = command as u32;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            a.init_pid_arg[i] = digits[len - 1 - i];
        }
        a.init_pid_arg[len] = 0;
        a.init_argv[2] = a.init_pid_arg.as_ptr() as *const libc::c_char;
        a.init_argv[3] = ptr::null();

        // fd 3: the caller's pidfd, fd 4: the status pipe, fd 5: the helper
        // (close-on-exec), and fd 6, when the network namespace may be kept,
        // the pipe for the init's verdict on it; nothing else, so the init
        // holds none of the caller's pipes.
        privileges::keep_setpcap_through_exec().map_err(|e| (Stage::Capabilities, e))?;
        // Each moved above them first, since any may have one of those
        // numbers; the go pipe's write end and the error pipe's too, for
        // the same reason.
        let lift = |fd: RawFd| {
            if fd < 0 {
                fd
            } else {
                libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10)
            }
        };
        let [caller, status, helper, netns, go, error] = [
            a.caller_pidfd,
            a.status_fd,
            a.init_fd,
            a.netns_report,
            a.go[1],
            a.error_fd,
        ]
        .map(lift);
        if [caller, status, helper, go, error].contains(&-1) || (a.netns_report >= 0 && netns < 0) {
            return Err((Stage::Init, errno()));
        }
        // From here on the caller's numbers may name other files: a
        // failure is reported through the error pipe's moved copy.
        let failed = || -> ! { vfork::report_and_exit(error, Stage::Init.code(), errno()) };
        if libc::dup3(caller, 3, 0) < 0
            || libc::dup3(status, 4, 0) < 0
            || libc::dup3(helper, 5, libc::O_CLOEXEC) < 0
            || (netns >= 0 && libc::dup3(netns, 6, 0) < 0)
        {
            failed();
        }
        // Opened before the program starts, which might otherwise have put
        // something else there.
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        for target in 0..3 {
            if null >= 0 {
                libc::dup2(null, target);
            } else {
                libc::close(target);
            }
        }
        // Everything that could fail with a report is done: the command's
        // program may start (see above for why it may while this process
        // still shares the caller's memory).
        if !write_byte(go) {
            failed();
        }
        // The error pipe stays, close-on-exec, right above the init's fds:
        // its end tells the caller that this process no longer uses its
        // memory, which the command's exec alone no longer says now that
        // the command may exec first.
        let error_fd: libc::c_int = if netns >= 0 { 7 } else { 6 };
        if libc::dup3(error, error_fd, libc::O_CLOEXEC) < 0 {
            failed();
        }
        libc::syscall(libc::SYS_close_range, error_fd as u32 + 1, u32::MAX, 0u32);
        libc::syscall(
            libc::SYS_execveat,
            5,
            c"".as_ptr(),
            a.init_argv.as_ptr(),
            a.empty_env.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        // The PID namespace, the command's program included, ends with
        // this process.
        vfork::report_and_exit(error_fd, Stage::Init.code(), errno())
    }
}

/// The command's process: everything that confines the command itself.
extern "C" fn command_main(arg: *mut c_void) -> libc::c_int {
    // SAFETY: `arg` is the caller's `Args`, alive until we exec or exit.
    let a = unsafe { &*(arg as *const Args<'_>) };
    // SAFETY: system calls on prepared data only.
    let (stage, errno) = match unsafe { confine_and_exec(a) } {
        Err(e) => e,
        Ok(never) => match never {},
    };
    // SAFETY: as above.
    unsafe { fail(a, stage, errno) }
}

/// Applies everything and execs; returns only on failure.
///
/// # Safety
/// In a `CLONE_VM | CLONE_VFORK` child with `a` pointing to live data.
unsafe fn confine_and_exec(
    a: &Args<'_>,
) -> std::result::Result<std::convert::Infallible, (Stage, i32)> {
    // SAFETY: see the function's contract.
    unsafe {
        let sandboxed = a.namespaces != Namespaces::NONE;
        if !sandboxed {
            a.signals.reset_handlers();
        }
        // Only the sandbox process may write the go byte: with this copy
        // of the write end closed, its exit is an end of file here.
        if a.go[1] >= 0 {
            libc::close(a.go[1]);
        }
        // Its own session: no controlling terminal to push input into, and
        // a process group of its own that a kill reaches as a whole.
        if libc::setsid() < 0 {
            return Err((Stage::Session, errno()));
        }
        // Here rather than in the sandbox process, which builds the view
        // meanwhile: this process still holds the namespaces' capabilities.
        if a.unshare_network {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err((Stage::NetworkNamespace, errno()));
            }
            // A pass through the scheduler reports this CPU's RCU quiescent
            // state, which the sandbox process's unmount of the host's tree
            // (the view's last step) waits for. This process stays in the
            // kernel for the namespace's whole creation and then runs
            // without sleeping until the go pipe: without the yield, that
            // unmount waited about 0.2 ms longer here.
            libc::sched_yield();
            // The sandbox process joins it (see `join_network`).
            if !write_byte(a.net[1]) {
                return Err((Stage::NetworkNamespace, errno()));
            }
        } else if a.netns_fd >= 0 {
            // An idle namespace, its loopback up already.
            if libc::setns(a.netns_fd, libc::CLONE_NEWNET) != 0 {
                return Err((Stage::NetworkNamespace, errno()));
            }
        } else if a.namespaces.network {
            namespaces_loopback()?;
        }
        for (target, fd) in a.stdio.iter().enumerate() {
            if libc::dup2(*fd, target as libc::c_int) < 0 {
                return Err((Stage::Stdio, errno()));
            }
        }
        // Close-on-exec rather than close: the error pipe and the ruleset are
        // needed until exec, and are close-on-exec already.
        vfork::cloexec_from_3(|| a.limits.max_fd).map_err(|e| (Stage::CloseFds, e))?;
        limits::apply(&a.limits).map_err(|(w, e)| (Stage::Limit(w), e))?;
        privileges::drop_all(&a.privileges).map_err(|e| (Stage::Capabilities, e))?;
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err((Stage::NoNewPrivs, errno()));
        }
        for (filter, len) in a.seccomp {
            if filter.is_null() {
                continue;
            }
            let prog = libc::sock_fprog {
                len,
                filter: filter as *mut libc::sock_filter,
            };
            if libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0u32,
                &prog as *const libc::sock_fprog,
            ) != 0
            {
                return Err((Stage::Seccomp, errno()));
            }
        }
        // Back to every CPU the caller allows (see `run_elsewhere`).
        if let Some(cpus) = &a.cpus {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), cpus);
        }
        if a.go[0] >= 0 {
            if !read_byte(a.go[0]) {
                // The sandbox process failed and reported why; the PID
                // namespace ends with it.
                libc::_exit(127);
            }
            // pivot_root moved this process's root into the view, and its
            // working folder only if that was the old root: leave whatever
            // host folder it inherited.
            if a.cwd.is_none() && libc::chdir(c"/".as_ptr()) != 0 {
                return Err((Stage::Cwd, errno()));
            }
        }
        enter_cwd(a)?;
        if a.ruleset_fd >= 0
            && libc::syscall(libc::SYS_landlock_restrict_self, a.ruleset_fd, 0u32) != 0
        {
            return Err((Stage::Landlock, errno()));
        }
        libc::sigprocmask(libc::SIG_SETMASK, &a.signals.empty_mask, ptr::null_mut());
        libc::execve(a.path, a.argv, a.envp);
        Err((Stage::Exec, errno()))
    }
}

/// The CPUs the caller may run on, when there are more than one.
fn caller_cpus() -> Option<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is valid; the kernel fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        (libc::CPU_COUNT(&set) > 1).then_some(set)
    }
}
