//! Starting a program with pipes through `posix_spawn`.
//!
//! `std::process::Command` cannot close the caller's stray file descriptors in
//! the child without a `pre_exec` hook, and a hook forces a full `fork`, whose
//! cost grows with the caller's page tables (Go and JVM hosts hold large heaps).
//! So this module calls glibc's `posix_spawn` directly: it clones with
//! `CLONE_VM | CLONE_VFORK` whatever the caller's size, and
//! `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+) leaves the child
//! exactly fds 0, 1 and 2.
//!
//! The child also gets its own process group (so a kill reaches its whole
//! tree), every signal disposition reset to default (SIGPIPE included, which
//! Rust and many hosts ignore), and an empty signal mask.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::ptr;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::child::Child;
use crate::error::{Error, ErrorKind, Result};

/// What a child's standard stream is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// A new pipe whose other end is handed to the caller.
    #[default]
    Pipe,
    /// `/dev/null`.
    Null,
    /// The caller's own stream of the same number (its fd 0, 1 or 2),
    /// shared with the child: a terminal stays a terminal.
    Inherit,
    /// The caller's fd `n`, duplicated for the child at spawn: the caller
    /// keeps its fd, which must stay open until the spawn returns. stdin
    /// takes an fd open for reading, stdout and stderr one open for writing.
    Fd(RawFd),
    /// stderr only: the same target as stdout, whatever that is (`2>&1`).
    Stdout,
}

/// The caller's `environ`, as the C library keeps it.
fn caller_environ() -> *const *const libc::c_char {
    #[cfg(target_vendor = "apple")]
    {
        // SAFETY: returns a pointer to the process's environ pointer.
        unsafe { *libc::_NSGetEnviron() as *const *const libc::c_char }
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        extern "C" {
            static environ: *const *const libc::c_char;
        }
        // SAFETY: reads the C library's pointer, as posix_spawn's callers
        // passing `environ` do; changing the environment while another
        // thread spawns is the caller's race (as `setenv` documents).
        unsafe { environ }
    }
}

/// The name of standard stream `target` (0, 1 or 2).
pub(crate) fn stream_name(target: usize) -> &'static str {
    match target {
        0 => "stdin",
        1 => "stdout",
        _ => "stderr",
    }
}

/// Pipe buffer size asked for the stdin and stdout pipes. The kernel default
/// is 64 KiB; 1 MiB (the default `pipe-max-size`) moves bulk data about four
/// times faster. stderr keeps the default: it rarely carries bulk data, and
/// every enlarged pipe counts against the per-user pipe budget.
#[cfg(target_os = "linux")]
pub(crate) const BULK_PIPE_SIZE: i32 = 1 << 20;

/// A fully resolved program to start: path, argv, environment.
#[derive(Debug, Clone)]
pub struct Program {
    pub(crate) path: CString,
    pub(crate) argv: Vec<CString>,
    pub(crate) env: Vec<CString>,
    /// The child gets the caller's environment itself (`environ` at the
    /// spawn, as `posix_spawn(..., environ)` would), not `env`.
    pub(crate) inherit_env: bool,
    /// A session of its own rather than only a process group.
    pub(crate) new_session: bool,
    pub(crate) stdio: [Stdio; 3],
    /// The folder the child changes to before exec; None stays in the caller's.
    pub(crate) cwd: Option<CString>,
}

impl Program {
    /// A program at `path`, with `argv[0]` set to `arg0`.
    pub fn new(path: &Path, arg0: &OsStr) -> Result<Self> {
        Ok(Program {
            path: c_string(path.as_os_str(), "program path")?,
            argv: vec![c_string(arg0, "argument")?],
            env: Vec::new(),
            inherit_env: false,
            new_session: false,
            stdio: [Stdio::Pipe; 3],
            cwd: None,
        })
    }

    /// Appends one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> Result<&mut Self> {
        self.argv.push(c_string(arg.as_ref(), "argument")?);
        Ok(self)
    }

    /// Appends arguments.
    pub fn args<I, S>(&mut self, args: I) -> Result<&mut Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a)?;
        }
        Ok(self)
    }

    /// Sets the whole environment of the child.
    pub fn env(&mut self, vars: &[(OsString, OsString)]) -> Result<&mut Self> {
        self.env = Program::entries(vars)?;
        self.inherit_env = false;
        Ok(self)
    }

    /// `KEY=VALUE` entries of `vars`.
    pub(crate) fn entries(vars: &[(OsString, OsString)]) -> Result<Vec<CString>> {
        vars.iter()
            .map(|(k, v)| {
                let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
                kv.extend_from_slice(k.as_bytes());
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                c_string(OsStr::from_bytes(&kv), "environment entry")
            })
            .collect()
    }

    /// Gives the child the caller's environment as it is at the spawn,
    /// without copying it.
    pub(crate) fn inherit_env(&mut self) -> &mut Self {
        self.env.clear();
        self.inherit_env = true;
        self
    }

    /// The `envp` for exec: the caller's `environ` when the child inherits
    /// it, else pointers to `env`, put in `holder` (which must outlive the
    /// exec).
    pub(crate) fn envp(&self, holder: &mut Vec<*const libc::c_char>) -> *const *const libc::c_char {
        if self.inherit_env {
            let environ = caller_environ();
            if !environ.is_null() {
                return environ;
            }
        }
        holder.clear();
        holder.extend(self.env.iter().map(|e| e.as_ptr()));
        holder.push(ptr::null());
        holder.as_ptr()
    }

    /// Sets what fds 0, 1 and 2 of the child are connected to.
    pub fn stdio(&mut self, stdio: [Stdio; 3]) -> &mut Self {
        self.stdio = stdio;
        self
    }

    /// Gives the child a session of its own (and so no controlling
    /// terminal) instead of only a process group.
    #[cfg(target_os = "linux")]
    pub(crate) fn new_session(&mut self) -> &mut Self {
        self.new_session = true;
        self
    }

    /// Sets the folder the child starts in (None: the caller's current one).
    pub fn cwd(&mut self, dir: Option<&Path>) -> Result<&mut Self> {
        self.cwd = dir
            .map(|d| c_string(d.as_os_str(), "working folder"))
            .transpose()?;
        Ok(self)
    }

    /// Starts the program.
    pub fn spawn(&self) -> Result<Spawned> {
        spawn(self, &[])
    }

    /// Starts the program with `fd3` as its fd 3 (every other fd above 2
    /// is still closed). The caller keeps `fd3` and should close its copy.
    pub(crate) fn spawn_with_fd3(&self, fd3: BorrowedFd<'_>) -> Result<Spawned> {
        spawn(self, &[fd3])
    }

    /// Starts the program with `fds` as its fds 3, 4, ... (every other fd
    /// above 2 is still closed). The caller keeps its copies.
    #[cfg(target_os = "linux")]
    pub(crate) fn spawn_with_fds(&self, fds: &[BorrowedFd<'_>]) -> Result<Spawned> {
        spawn(self, fds)
    }
}

/// A started child and the caller's ends of its pipes.
#[derive(Debug)]
pub struct Spawned {
    /// The child.
    pub child: Child,
    /// Write end of the child's stdin, if it is a pipe.
    pub stdin: Option<OwnedFd>,
    /// Read end of the child's stdout, if it is a pipe.
    pub stdout: Option<OwnedFd>,
    /// Read end of the child's stderr, if it is a pipe.
    pub stderr: Option<OwnedFd>,
}

fn c_string(s: &OsStr, what: &str) -> Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| Error::invalid_argument(format!("{what} {s:?} contains a NUL byte")))
}

/// `vars` with `overrides` applied on top, a later entry winning over an
/// earlier one; a variable keeps its place, a new one goes last.
pub fn with_overrides(
    mut vars: Vec<(OsString, OsString)>,
    overrides: &[(OsString, OsString)],
) -> Vec<(OsString, OsString)> {
    for (k, v) in overrides {
        match vars.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => vars.push((k.clone(), v.clone())),
        }
    }
    vars
}

/// Splits a `KEY=VALUE` entry. The key must be non-empty.
pub fn parse_env_entry(entry: &[u8]) -> Result<(OsString, OsString)> {
    match entry.iter().position(|&b| b == b'=') {
        Some(i) if i > 0 => Ok((
            OsString::from_vec(entry[..i].to_vec()),
            OsString::from_vec(entry[i + 1..].to_vec()),
        )),
        _ => Err(Error::invalid_argument(format!(
            "environment entry {:?} is not of the form KEY=VALUE",
            OsStr::from_bytes(entry)
        ))),
    }
}

/// The search path used when the environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Finds `name` the way `execvp` would: a name with a slash is used as it is,
/// anything else is looked up in `path` (or [`DEFAULT_PATH`]).
pub fn find_program(name: &OsStr, path: Option<&OsStr>) -> Result<PathBuf> {
    if name.is_empty() {
        return Err(Error::new(
            ErrorKind::CommandNotFound,
            "the command is empty",
        ));
    }
    if name.as_bytes().contains(&b'/') {
        let p = PathBuf::from(name);
        return match p.symlink_metadata() {
            Ok(_) => Ok(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(name, None)),
            Err(e) => Err(Error::from_io(
                ErrorKind::Spawn,
                format!("checking {name:?}"),
                &e,
            )),
        };
    }
    let search = path.unwrap_or_else(|| OsStr::new(DEFAULT_PATH));
    let mut denied = None;
    let mut seen: Vec<&[u8]> = Vec::new();
    for dir in search.as_bytes().split(|&b| b == b':') {
        // A folder listed twice (shell start-up files often add one again)
        // gave its answer the first time.
        if seen.contains(&dir) {
            continue;
        }
        seen.push(dir);
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(name);
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() => {
                if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() {
                    return Ok(candidate);
                }
                denied.get_or_insert(candidate);
            }
            _ => continue,
        }
    }
    match denied {
        Some(p) => Err(Error::from_errno(
            ErrorKind::Spawn,
            format!(
                "{name:?} was found at {} but is not executable",
                p.display()
            ),
            Errno::EACCES,
        )),
        None => Err(not_found(name, Some(search))),
    }
}

fn not_found(name: &OsStr, search: Option<&OsStr>) -> Error {
    let mut msg = format!("{name:?}");
    if let Some(s) = search {
        msg.push_str(&format!(" is not in PATH ({})", s.to_string_lossy()));
    } else {
        msg.push_str(" does not exist");
    }
    Error::new(ErrorKind::CommandNotFound, msg)
}

/// A pipe whose two ends are close-on-exec and numbered 3 or above, so that
/// the child's dup2 onto 0, 1 and 2 can never clobber another pipe end even
/// when the caller runs with some of its standard fds closed.
pub(crate) fn pipe_above_stdio() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) =
        cloexec_pipe().map_err(|e| Error::from_errno(ErrorKind::Io, "creating a pipe", e))?;
    Ok((lift_above_stdio(r)?, lift_above_stdio(w)?))
}

#[cfg(not(target_os = "macos"))]
fn cloexec_pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC)
}

/// macOS has no pipe2: the flag is set right after. Children started by
/// this library cannot inherit the pipe in between (their spawns close
/// every fd they are not given), but a fork+exec by another thread of the
/// host could.
#[cfg(target_os = "macos")]
fn cloexec_pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let (r, w) = nix::unistd::pipe()?;
    fcntl(&r, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    fcntl(&w, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok((r, w))
}

/// `fd` itself when it is 3 or above, else a close-on-exec duplicate that is.
pub(crate) fn lift_above_stdio(fd: OwnedFd) -> Result<OwnedFd> {
    lift_above(fd, 3)
}

/// `fd` itself if it is numbered `min` or above, else a close-on-exec copy that is.
fn lift_above(fd: OwnedFd, min: RawFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    dup_above(fd.as_raw_fd(), min)
        .map_err(|e| Error::from_io(ErrorKind::Io, "moving a pipe fd", &e))
}

/// A close-on-exec copy of `fd` numbered `min` or above.
fn dup_above(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on any integer either fails or returns a new fd.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a freshly created fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(target_os = "linux")]
fn enlarge_pipe(fd: &OwnedFd) {
    // Best effort: the kernel refuses past pipe-max-size or the per-user pipe
    // budget, and then the pipe keeps its default size.
    // SAFETY: F_SETPIPE_SZ on a valid pipe fd has no memory effects.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, BULK_PIPE_SIZE);
    }
}

/// Pipe sizes are the kernel's own elsewhere.
#[cfg(not(target_os = "linux"))]
fn enlarge_pipe(_fd: &OwnedFd) {}

/// Where one of the child's standard streams comes from.
#[derive(Debug)]
pub(crate) enum ChildEnd {
    /// A pipe end, `/dev/null` or a copy of a caller's fd, close-on-exec and
    /// numbered 3 or above: the child dup2s it onto its stream.
    Fd(OwnedFd),
    /// The caller's own fd of the stream's number (`Stdio::Inherit`), left
    /// where it is rather than copied: the child keeps it, clearing its
    /// close-on-exec flag if the caller had set one. Every other end is
    /// numbered 3 or above, so no dup2 onto 0, 1 or 2 can replace it first.
    Kept { fd: RawFd, cloexec: bool },
}

impl ChildEnd {
    /// The fd the child's stream is taken from.
    pub(crate) fn raw(&self) -> RawFd {
        match self {
            ChildEnd::Fd(fd) => fd.as_raw_fd(),
            ChildEnd::Kept { fd, .. } => *fd,
        }
    }

    /// Whether the child must clear close-on-exec on its stream (kept
    /// from a caller's fd that had it set).
    pub(crate) fn clears_cloexec(&self) -> bool {
        matches!(self, ChildEnd::Kept { cloexec: true, .. })
    }

    /// An fd of its own, numbered 3 or above: the end itself, or a copy of
    /// a kept caller's fd.
    pub(crate) fn into_owned(self, target: usize) -> Result<OwnedFd> {
        match self {
            ChildEnd::Fd(fd) => Ok(fd),
            ChildEnd::Kept { fd, .. } => caller_fd(fd, target, "the caller's own stream"),
        }
    }
}

/// The caller's ends and the child's ends of the three standard streams, in
/// fd order 0, 1, 2. A child end is a pipe end, `/dev/null`, a copy of a
/// caller's fd (close-on-exec and numbered 3 or above, which the child
/// dup2s onto 0, 1 or 2), or the caller's own stream left in place.
pub(crate) struct StdioEnds {
    pub(crate) parent: [Option<OwnedFd>; 3],
    pub(crate) child: [ChildEnd; 3],
    /// Which child ends are the caller's fds or copies of them (the only
    /// ones that can be its terminal).
    pub(crate) callers: [bool; 3],
}

impl StdioEnds {
    /// Whether one of the child's streams is the caller's controlling
    /// terminal. A child in the caller's session but in a process group of
    /// its own (not the terminal's foreground group) would be stopped by
    /// SIGTTIN as soon as it reads it (SIGTTOU when it changes its modes),
    /// and as a member of the terminal's session could push input into it
    /// (TIOCSTI): such a child gets a session of its own instead, in which
    /// the terminal is an ordinary fd.
    pub(crate) fn shares_caller_terminal(&self) -> bool {
        if !self.callers.iter().any(|c| *c) {
            return false;
        }
        // SAFETY: getsid(0) has no memory effects.
        let session = unsafe { libc::getsid(0) };
        self.child.iter().zip(self.callers).any(|(end, caller)| {
            // SAFETY: isatty and tcgetsid only query a valid fd.
            caller
                && unsafe { libc::isatty(end.raw()) == 1 && libc::tcgetsid(end.raw()) == session }
        })
    }

    /// The child's ends as fds of their own, numbered 3 or above, for a
    /// child that does not keep the caller's numbering.
    #[cfg(target_os = "linux")]
    pub(crate) fn owned_child_ends(child: [ChildEnd; 3]) -> Result<[OwnedFd; 3]> {
        let [a, b, c] = child;
        Ok([a.into_owned(0)?, b.into_owned(1)?, c.into_owned(2)?])
    }
}

/// The caller's fd `target`, checked open, to be kept as the child's stream
/// `target`.
fn kept_caller_fd(target: usize) -> Result<ChildEnd> {
    let fd = target as RawFd;
    // SAFETY: F_GETFD on any integer either fails or reads the fd's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        let what = format!("the caller's fd {target} (Stdio::Inherit)");
        return Err(unusable_caller_fd(
            target,
            &what,
            io::Error::last_os_error(),
        ));
    }
    Ok(ChildEnd::Kept {
        fd,
        cloexec: flags & libc::FD_CLOEXEC != 0,
    })
}

/// A close-on-exec copy of the caller's `fd`, numbered 3 or above, for the
/// child's stream `target`.
fn caller_fd(fd: RawFd, target: usize, what: &str) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(Error::invalid_argument(format!(
            "{}: {what} is negative",
            stream_name(target)
        )));
    }
    dup_above(fd, 3).map_err(|e| unusable_caller_fd(target, what, e))
}

/// The error for a caller's fd (`what`) that stream `target` cannot take.
fn unusable_caller_fd(target: usize, what: &str, e: io::Error) -> Error {
    let why = if e.raw_os_error() == Some(libc::EBADF) {
        "is not an open file descriptor".to_string()
    } else {
        format!("cannot be shared with the child ({e})")
    };
    Error::from_errno(
        ErrorKind::InvalidArgument,
        format!("{}: {what} {why}", stream_name(target)),
        Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
    )
}

/// Checks that the caller's fd behind `copy` can serve as stream `target`:
/// open for reading (stdin) or for writing (stdout, stderr), and not an
/// `O_PATH` handle, which allows neither.
fn check_direction(copy: &OwnedFd, target: usize, what: &str) -> Result<()> {
    // SAFETY: F_GETFL on a valid fd has no memory effects.
    let flags = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(Error::from_io(
            ErrorKind::InvalidArgument,
            format!("{}: reading the flags of {what}", stream_name(target)),
            &io::Error::last_os_error(),
        ));
    }
    #[cfg(target_os = "linux")]
    let path_only = flags & libc::O_PATH != 0;
    #[cfg(not(target_os = "linux"))]
    let path_only = false;
    let mode = flags & libc::O_ACCMODE;
    let usable = !path_only
        && if target == 0 {
            mode == libc::O_RDONLY || mode == libc::O_RDWR
        } else {
            mode == libc::O_WRONLY || mode == libc::O_RDWR
        };
    if usable {
        return Ok(());
    }
    let needed = if target == 0 { "reading" } else { "writing" };
    Err(Error::from_errno(
        ErrorKind::InvalidArgument,
        format!("{}: {what} is not open for {needed}", stream_name(target)),
        Errno::EBADF,
    ))
}

/// Opens the pipes (or `/dev/null`, or copies of the caller's fds) that
/// `stdio` asks for.
pub(crate) fn stdio_ends(stdio: [Stdio; 3]) -> Result<StdioEnds> {
    let mut parent: [Option<OwnedFd>; 3] = [None, None, None];
    let mut child: Vec<ChildEnd> = Vec::with_capacity(3);
    let mut callers = [false; 3];
    for (target, stdio) in stdio.iter().enumerate() {
        callers[target] = match *stdio {
            Stdio::Inherit | Stdio::Fd(_) => true,
            Stdio::Stdout => callers[1],
            Stdio::Null | Stdio::Pipe => false,
        };
        match *stdio {
            Stdio::Null => {
                let flags = if target == 0 {
                    OFlag::O_RDONLY
                } else {
                    OFlag::O_WRONLY
                };
                let fd = nix::fcntl::open(
                    "/dev/null",
                    flags | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| Error::from_errno(ErrorKind::Io, "opening /dev/null", e))?;
                child.push(ChildEnd::Fd(lift_above_stdio(fd)?));
            }
            Stdio::Inherit => child.push(kept_caller_fd(target)?),
            Stdio::Fd(fd) => {
                let what = format!("fd {fd}");
                let copy = caller_fd(fd, target, &what)?;
                check_direction(&copy, target, &what)?;
                child.push(ChildEnd::Fd(copy));
            }
            Stdio::Stdout if target == 2 => {
                let copy = dup_above(child[1].raw(), 3).map_err(|e| {
                    Error::from_io(ErrorKind::Io, "stderr: sharing stdout's target", &e)
                })?;
                child.push(ChildEnd::Fd(copy));
            }
            Stdio::Stdout => {
                return Err(Error::invalid_argument(format!(
                    "{}: Stdio::Stdout is only for stderr",
                    stream_name(target)
                )));
            }
            Stdio::Pipe => {
                let (r, w) = pipe_above_stdio()?;
                let (mine, theirs) = if target == 0 { (w, r) } else { (r, w) };
                if target < 2 {
                    enlarge_pipe(&mine);
                }
                parent[target] = Some(mine);
                child.push(ChildEnd::Fd(theirs));
            }
        }
    }
    let child: [ChildEnd; 3] = child
        .try_into()
        .map_err(|_| Error::internal("three standard streams expected"))?;
    Ok(StdioEnds {
        parent,
        child,
        callers,
    })
}

struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> Result<Self> {
        let mut fa = MaybeUninit::uninit();
        // SAFETY: init writes a valid object into `fa`.
        check(
            unsafe { libc::posix_spawn_file_actions_init(fa.as_mut_ptr()) },
            "file actions",
        )?;
        // SAFETY: initialised just above.
        Ok(FileActions(unsafe { fa.assume_init() }))
    }

    fn dup2(&mut self, fd: RawFd, target: RawFd) -> Result<()> {
        // SAFETY: self.0 is initialised; fds are plain integers here.
        check(
            unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.0, fd, target) },
            "dup2 action",
        )
    }

    fn chdir(&mut self, dir: &CString) -> Result<()> {
        // SAFETY: self.0 is initialised; `dir` is NUL-terminated and the
        // action copies it.
        check(
            unsafe { libc::posix_spawn_file_actions_addchdir_np(&mut self.0, dir.as_ptr()) },
            "chdir action",
        )
    }

    #[cfg(not(target_os = "macos"))]
    fn close_from(&mut self, from: RawFd) -> Result<()> {
        // SAFETY: self.0 is initialised.
        check(
            unsafe { libc::posix_spawn_file_actions_addclosefrom_np(&mut self.0, from) },
            "closefrom action",
        )
    }

    /// On macOS the POSIX_SPAWN_CLOEXEC_DEFAULT attribute closes every fd
    /// the file actions do not set up (see [`Attributes::new`]).
    #[cfg(target_os = "macos")]
    fn close_from(&mut self, _from: RawFd) -> Result<()> {
        Ok(())
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in new(), destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    fn new(new_session: bool) -> Result<Self> {
        let mut attr = MaybeUninit::uninit();
        // SAFETY: init writes a valid object into `attr`.
        check(
            unsafe { libc::posix_spawnattr_init(attr.as_mut_ptr()) },
            "spawn attributes",
        )?;
        // SAFETY: initialised just above.
        let mut attr = Attributes(unsafe { attr.assume_init() });
        // SAFETY: every call below gets the initialised attr and valid sigsets.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigdelset(&mut all, libc::SIGKILL);
            libc::sigdelset(&mut all, libc::SIGSTOP);
            libc::sigemptyset(&mut none);
            check(
                libc::posix_spawnattr_setsigdefault(&mut attr.0, &all),
                "signal defaults",
            )?;
            check(
                libc::posix_spawnattr_setsigmask(&mut attr.0, &none),
                "signal mask",
            )?;
            check(
                libc::posix_spawnattr_setpgroup(&mut attr.0, 0),
                "process group",
            )?;
            #[cfg(not(target_os = "macos"))]
            let close_others = 0;
            #[cfg(target_os = "macos")]
            let close_others = libc::POSIX_SPAWN_CLOEXEC_DEFAULT;
            #[cfg(target_os = "linux")]
            let group = if new_session {
                libc::POSIX_SPAWN_SETSID as libc::c_int
            } else {
                libc::POSIX_SPAWN_SETPGROUP as libc::c_int
            };
            #[cfg(not(target_os = "linux"))]
            let group = {
                let _ = new_session;
                libc::POSIX_SPAWN_SETPGROUP as libc::c_int
            };
            let flags =
                group | libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK | close_others;
            check(
                libc::posix_spawnattr_setflags(&mut attr.0, flags as libc::c_short),
                "spawn flags",
            )?;
        }
        Ok(attr)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in new(), destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

fn check(rc: libc::c_int, what: &str) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::from_errno(
            ErrorKind::Spawn,
            format!("setting up {what}"),
            Errno::from_raw(rc),
        ))
    }
}

fn spawn(program: &Program, extra: &[BorrowedFd<'_>]) -> Result<Spawned> {
    let mut actions = FileActions::new()?;
    let ends = stdio_ends(program.stdio)?;
    let attrs = Attributes::new(program.new_session || ends.shares_caller_terminal())?;
    let StdioEnds { parent, child, .. } = ends;
    // A kept caller's stream needs nothing, unless it is close-on-exec: the
    // C library's actions do not clear that flag everywhere, a copy's dup2 does.
    let child = child
        .into_iter()
        .enumerate()
        .map(|(target, end)| {
            if end.clears_cloexec() {
                end.into_owned(target).map(ChildEnd::Fd)
            } else {
                Ok(end)
            }
        })
        .collect::<Result<Vec<ChildEnd>>>()?;
    // Lifted above the targets so that the dup2s onto 0.. cannot clobber
    // one another.
    let first_free = 3 + extra.len() as RawFd;
    let extra = extra
        .iter()
        .map(|fd| {
            fd.try_clone_to_owned()
                .map_err(|e| Error::from_io(ErrorKind::Io, "duplicating an fd for the child", &e))
                .and_then(|fd| lift_above(fd, first_free))
        })
        .collect::<Result<Vec<OwnedFd>>>()?;
    for (target, end) in child.iter().enumerate() {
        if let ChildEnd::Fd(fd) = end {
            actions.dup2(fd.as_raw_fd(), target as RawFd)?;
        }
    }
    for (i, fd) in extra.iter().enumerate() {
        actions.dup2(fd.as_raw_fd(), 3 + i as RawFd)?;
    }
    actions.close_from(first_free)?;
    if let Some(dir) = &program.cwd {
        actions.chdir(dir)?;
    }

    let mut argv: Vec<*mut libc::c_char> =
        program.argv.iter().map(|a| a.as_ptr() as *mut _).collect();
    argv.push(ptr::null_mut());
    let mut env_holder = Vec::new();
    let envp = program.envp(&mut env_holder) as *const *mut libc::c_char;

    let mut pid: libc::pid_t = 0;
    // SAFETY: all pointers are valid NUL-terminated strings / NULL-terminated
    // arrays that outlive the call; actions and attrs are initialised.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            program.path.as_ptr(),
            &actions.0,
            &attrs.0,
            argv.as_ptr(),
            envp,
        )
    };
    drop((child, extra));
    if rc != 0 {
        let name = OsStr::from_bytes(program.path.as_bytes());
        if let Some(dir) = &program.cwd {
            // The folder was checked before; it may have gone since.
            crate::attrs::check_folder(Path::new(OsStr::from_bytes(dir.as_bytes())))?;
        }
        return Err(match Errno::from_raw(rc) {
            Errno::ENOENT => Error::from_errno(
                ErrorKind::CommandNotFound,
                format!("{name:?} (or the interpreter it names) does not exist"),
                Errno::ENOENT,
            ),
            e => Error::from_errno(ErrorKind::Spawn, format!("starting {name:?}"), e),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn env_entries_split_at_the_first_equals() {
        let (k, v) = parse_env_entry(b"A=b=c").unwrap();
        assert_eq!(
            (k.as_os_str(), v.as_os_str()),
            (OsStr::new("A"), OsStr::new("b=c"))
        );
        let (k, v) = parse_env_entry(b"EMPTY=").unwrap();
        assert_eq!(
            (k.as_os_str(), v.as_os_str()),
            (OsStr::new("EMPTY"), OsStr::new(""))
        );
        assert!(parse_env_entry(b"NOVALUE").is_err());
        assert!(parse_env_entry(b"=x").is_err());
    }

    #[test]
    fn later_overrides_win() {
        let vars = with_overrides(
            vec![("A".into(), "0".into()), ("B".into(), "b".into())],
            &[
                ("RR_T_X".into(), "1".into()),
                ("A".into(), "a".into()),
                ("RR_T_X".into(), "2".into()),
            ],
        );
        let want: Vec<(OsString, OsString)> = vec![
            ("A".into(), "a".into()),
            ("B".into(), "b".into()),
            ("RR_T_X".into(), "2".into()),
        ];
        assert_eq!(vars, want);
    }

    #[test]
    fn programs_are_found_in_path() {
        let p = find_program(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin"))).unwrap();
        assert_eq!(p, PathBuf::from("/bin/sh"));
        let e = find_program(OsStr::new("no-such-cmd-rr"), Some(OsStr::new("/bin"))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound);
        assert!(e.message().contains("no-such-cmd-rr"), "{e}");
        let e = find_program(OsStr::new("/no/such/rr"), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound);
        let e = find_program(OsStr::new(""), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound);
    }

    #[test]
    fn a_folder_listed_twice_is_searched_once_in_order() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let tool = b.path().join("rr-twice");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([a.path(), b.path(), a.path(), b.path()]).unwrap();
        let found = find_program(OsStr::new("rr-twice"), Some(&path)).unwrap();
        assert_eq!(found, tool);
        let e = find_program(OsStr::new("rr-nowhere"), Some(&path)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound);
    }

    #[test]
    fn non_executable_files_are_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rr-not-exec"), "x").unwrap();
        let e = find_program(OsStr::new("rr-not-exec"), Some(dir.path().as_os_str())).unwrap_err();
        // root passes X_OK checks only when some execute bit is set.
        assert_eq!(e.kind(), ErrorKind::Spawn);
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    }

    fn inode(fd: RawFd) -> (u64, u64) {
        let st = nix::sys::stat::fstat(unsafe { BorrowedFd::borrow_raw(fd) }).unwrap();
        (st.st_dev as u64, st.st_ino as u64)
    }

    #[test]
    fn caller_fds_are_copied_above_stdio() {
        let file = tempfile::tempfile().unwrap();
        let ends = stdio_ends([Stdio::Null, Stdio::Fd(file.as_raw_fd()), Stdio::Stdout]).unwrap();
        assert!(ends.parent.iter().all(Option::is_none));
        for end in &ends.child {
            assert!(matches!(end, ChildEnd::Fd(_)), "{end:?}");
            assert!(end.raw() > 2, "child end {}", end.raw());
            // SAFETY: F_GETFD on a valid fd.
            let flags = unsafe { libc::fcntl(end.raw(), libc::F_GETFD) };
            assert!(flags & libc::FD_CLOEXEC != 0);
        }
        assert_ne!(ends.child[1].raw(), file.as_raw_fd());
        assert_eq!(inode(ends.child[1].raw()), inode(file.as_raw_fd()));
        assert_eq!(inode(ends.child[2].raw()), inode(file.as_raw_fd()));
        assert!(!ends.shares_caller_terminal());
    }

    #[test]
    fn stderr_to_stdout_shares_the_stdout_pipe() {
        let ends = stdio_ends([Stdio::Pipe, Stdio::Pipe, Stdio::Stdout]).unwrap();
        assert!(ends.parent[0].is_some() && ends.parent[1].is_some());
        assert!(ends.parent[2].is_none());
        assert_eq!(inode(ends.child[1].raw()), inode(ends.child[2].raw()));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn inherited_streams_stay_where_they_are() {
        let ends = stdio_ends([Stdio::Inherit, Stdio::Inherit, Stdio::Stdout]).unwrap();
        assert!(matches!(ends.child[0], ChildEnd::Kept { fd: 0, .. }));
        assert!(matches!(ends.child[1], ChildEnd::Kept { fd: 1, .. }));
        // Where stdout goes, as a copy: fd 2 of the child is not the caller's.
        assert!(matches!(ends.child[2], ChildEnd::Fd(_)));
        assert_eq!(inode(ends.child[2].raw()), inode(1));
        let [a, b, c] = StdioEnds::owned_child_ends(ends.child).unwrap();
        assert!(a.as_raw_fd() > 2 && b.as_raw_fd() > 2 && c.as_raw_fd() > 2);
        assert_eq!(inode(a.as_raw_fd()), inode(0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn bad_stdio_is_an_invalid_argument_naming_the_stream() {
        let write_only = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let read_only = std::fs::File::open("/dev/null").unwrap();
        let path_only = nix::fcntl::open(
            "/dev/null",
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        let cases = [
            (
                [Stdio::Stdout, Stdio::Pipe, Stdio::Pipe],
                "stdin: Stdio::Stdout",
            ),
            (
                [Stdio::Pipe, Stdio::Stdout, Stdio::Pipe],
                "stdout: Stdio::Stdout",
            ),
            (
                [Stdio::Fd(-1), Stdio::Pipe, Stdio::Pipe],
                "stdin: fd -1 is negative",
            ),
            (
                [Stdio::Pipe, Stdio::Fd(1_000_000), Stdio::Pipe],
                "stdout: fd 1000000 is not an open file descriptor",
            ),
            (
                [Stdio::Fd(write_only.as_raw_fd()), Stdio::Pipe, Stdio::Pipe],
                "is not open for reading",
            ),
            (
                [Stdio::Pipe, Stdio::Pipe, Stdio::Fd(read_only.as_raw_fd())],
                "stderr: fd",
            ),
            (
                [Stdio::Fd(path_only.as_raw_fd()), Stdio::Pipe, Stdio::Pipe],
                "is not open for reading",
            ),
        ];
        for (stdio, want) in cases {
            let e = stdio_ends(stdio).err().expect("an error");
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{stdio:?}: {e}");
            assert!(e.message().contains(want), "{stdio:?}: {e}");
        }
    }

    #[test]
    fn nul_bytes_are_rejected() {
        let e = Program::new(Path::new("/bin/true"), OsStr::from_bytes(b"a\0b")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
}
