//! Spawn attributes: per-spawn settings passed to `rr_spawn`.

use std::ffi::{c_char, c_int, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{guard, handle_mut, rr_error, rr_status};
use crate::attrs::SpawnAttrs;
use crate::error::{Error, ErrorKind};
use crate::spawn::Stdio;

/// Settings of one spawn that are neither the command nor the runner's
/// options (its working folder, where its standard streams go), in the
/// spirit of `posix_spawnattr_t`: created with `rr_spawn_attrs_new`,
/// changed with `rr_spawn_attrs_set_*`, passed to `rr_spawn`, freed with
/// `rr_spawn_attrs_free`. `rr_spawn` only reads it, so one object may serve
/// many spawns, from many threads at once as long as none changes it
/// meanwhile.
pub struct rr_spawn_attrs {
    pub(super) inner: SpawnAttrs,
    /// Where fds 0, 1 and 2 go; `Pipe` leaves it to `rr_spawn`'s fd pointer.
    pub(super) stdio: [Stdio; 3],
}

/// Where one standard stream of the child goes, for
/// `rr_spawn_attrs_set_stdio` (which takes it as a `uint32_t`). Values are
/// stable and only ever appended.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rr_stdio_mode {
    /// A new pipe whose other end `rr_spawn` hands back through the
    /// stream's fd pointer, or /dev/null when that pointer is NULL: what a
    /// spawn without attributes does.
    RR_STDIO_PIPE = 0,
    /// /dev/null.
    RR_STDIO_NULL = 1,
    /// The caller's own fd of the same number (0, 1 or 2), shared with the
    /// child: a terminal stays a terminal.
    RR_STDIO_INHERIT = 2,
    /// The caller's fd given to `rr_spawn_attrs_set_stdio`, duplicated for
    /// the child at spawn.
    RR_STDIO_FD = 3,
    /// stderr only: the same target as stdout, whatever that is (`2>&1`).
    RR_STDIO_STDOUT = 4,
}

impl TryFrom<u32> for rr_stdio_mode {
    type Error = Error;

    fn try_from(mode: u32) -> Result<Self, Error> {
        Ok(match mode {
            0 => rr_stdio_mode::RR_STDIO_PIPE,
            1 => rr_stdio_mode::RR_STDIO_NULL,
            2 => rr_stdio_mode::RR_STDIO_INHERIT,
            3 => rr_stdio_mode::RR_STDIO_FD,
            4 => rr_stdio_mode::RR_STDIO_STDOUT,
            _ => {
                return Err(Error::invalid_argument(format!(
                    "mode {mode} is not an rr_stdio_mode (RR_STDIO_PIPE 0 to RR_STDIO_STDOUT 4)"
                )))
            }
        })
    }
}

/// Creates spawn attributes with every setting at its default (what
/// `rr_spawn` does with NULL attributes). `*out` receives an object the
/// caller frees with `rr_spawn_attrs_free`.
///
/// # Safety
/// `out` is NULL or writable; `err` as for every call.
#[no_mangle]
pub unsafe extern "C" fn rr_spawn_attrs_new(
    out: *mut *mut rr_spawn_attrs,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        if out.is_null() {
            return Err(Error::invalid_argument("out is NULL"));
        }
        let attrs = Box::new(rr_spawn_attrs {
            inner: SpawnAttrs::new(),
            stdio: [Stdio::Pipe; 3],
        });
        // SAFETY: checked non-NULL above.
        unsafe { *out = Box::into_raw(attrs) };
        Ok(())
    })
}

/// Frees spawn attributes. NULL is ignored. Processes spawned with them are
/// not affected.
///
/// # Safety
/// `attrs` is NULL or an object from `rr_spawn_attrs_new` not yet freed,
/// and no other thread is using it.
#[no_mangle]
pub unsafe extern "C" fn rr_spawn_attrs_free(attrs: *mut rr_spawn_attrs) {
    if !attrs.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: ownership returns to Rust exactly once, per the contract.
            drop(unsafe { Box::from_raw(attrs) });
        }));
    }
}

/// Sets the folder the command starts in; NULL clears it (the command then
/// starts in the caller's current folder).
///
/// The path is bytes (no UTF-8 demanded). A relative path is resolved
/// against the caller's current folder when `rr_spawn` runs, and a folder
/// that does not exist then is `RR_ERR_SPAWN` naming it (errno ENOENT or
/// ENOTDIR). Every runner honours it: `exec` and `sandbox-exec` change
/// there between spawn and exec; under `firejail` the jail's program starts
/// there (the profile must make the folder visible); under `landrun` the
/// child changes there just before exec (the folder must be reachable by
/// the command's rules). Under `docker` it is a path **inside the
/// container** (absolute, UTF-8) and overrides the `workdir` option; one
/// the container lacks fails the command with the engine's message (exit
/// status 126 with podman), not the spawn.
///
/// # Safety
/// `attrs` is NULL or a live object used by no other thread; `cwd` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rr_spawn_attrs_set_cwd(
    attrs: *mut rr_spawn_attrs,
    cwd: *const c_char,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: live and exclusive per the contract.
        let attrs = unsafe { handle_mut(attrs, "attrs") }?;
        if cwd.is_null() {
            attrs.inner.set_cwd(None::<&OsStr>);
            return Ok(());
        }
        // SAFETY: a NUL-terminated string per the contract.
        let bytes = unsafe { CStr::from_ptr(cwd) }.to_bytes();
        if bytes.is_empty() {
            return Err(Error::invalid_argument(
                "cwd is empty (pass NULL to start in the caller's current folder)",
            ));
        }
        attrs.inner.set_cwd(Some(OsStr::from_bytes(bytes)));
        Ok(())
    })
}

/// Sets whether the spawn's wait measures what the run cost: the CPU times
/// and peak memory `rr_wait_info` reports (`RR_MEASURED_CPU`,
/// `RR_MEASURED_PEAK_RSS`): `measure` non-zero, the default, or 0. A caller
/// that never reads them (it waits with `rr_wait`) may turn it off:
/// `rr_wait_info` then reports
/// `measured` 0 and zero times, and the `exec` runner skips reading the CPU
/// counters of the command's cgroup at each wait.
///
/// # Safety
/// `attrs` is NULL or a live object used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn rr_spawn_attrs_set_measure_usage(
    attrs: *mut rr_spawn_attrs,
    measure: c_int,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: live and exclusive per the contract.
        let attrs = unsafe { handle_mut(attrs, "attrs") }?;
        attrs.inner.set_measure_usage(measure != 0);
        Ok(())
    })
}

/// Sets where the child's standard stream `stream` (0 stdin, 1 stdout,
/// 2 stderr) goes: `mode` is an `rr_stdio_mode`. `fd` is read only for
/// `RR_STDIO_FD`: the caller's fd to give the child, open for reading
/// (stdin) or writing (stdout, stderr). It is duplicated when `rr_spawn`
/// runs; the caller keeps it and must keep it open until then. Every
/// stream starts as `RR_STDIO_PIPE`.
///
/// For a stream whose mode is not `RR_STDIO_PIPE`, `rr_spawn` does not
/// write the matching fd pointer (which may be NULL). With
/// `RR_STDIO_STDOUT`, stderr goes wherever stdout goes: into the stdout
/// pipe, the stdout fd, /dev/null...
///
/// Whatever the modes, the child gets exactly fds 0, 1 and 2 and no other
/// fd of the caller's. A terminal given to it (`RR_STDIO_INHERIT`,
/// `RR_STDIO_FD`) stays a terminal (`isatty` is true in the child) under
/// `exec`, `sandbox-exec`, `firejail` and `landrun`. When it is the
/// caller's controlling terminal the child starts in a session of its own
/// (on Linux): it can read it and change its modes without being stopped
/// by job control (SIGTTIN, SIGTTOU), has no controlling terminal, and so
/// cannot push input into it (TIOCSTI) unless privileged; `firejail` and
/// `landrun` always start their command in a session of its own. Under
/// `docker` the engine's CLI gets the streams and relays them: the data
/// reaches the same targets, but the command in the container sees pipes,
/// not the caller's fd, and stderr sent to stdout may interleave
/// differently from the order the command wrote them.
///
/// Errors, all `RR_ERR_INVALID_ARGUMENT` naming the argument: `attrs` is
/// NULL; `stream` is not 0, 1 or 2; `mode` is not an `rr_stdio_mode`;
/// `RR_STDIO_STDOUT` for a stream other than 2; `RR_STDIO_FD` with an `fd`
/// that is negative or not open. At spawn, an fd that is no longer open, or
/// not open in the stream's direction, fails `rr_spawn` with
/// `RR_ERR_INVALID_ARGUMENT` naming the stream and the fd; so does
/// `RR_STDIO_INHERIT` when the caller's own fd of that number is closed.
///
/// # Safety
/// `attrs` is NULL or a live object used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn rr_spawn_attrs_set_stdio(
    attrs: *mut rr_spawn_attrs,
    stream: i32,
    mode: u32,
    fd: i32,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: live and exclusive per the contract.
        let attrs = unsafe { handle_mut(attrs, "attrs") }?;
        let index = match stream {
            0..=2 => stream as usize,
            _ => {
                return Err(Error::invalid_argument(format!(
                    "stream {stream} is not 0 (stdin), 1 (stdout) or 2 (stderr)"
                )))
            }
        };
        let stdio = match rr_stdio_mode::try_from(mode)? {
            rr_stdio_mode::RR_STDIO_PIPE => Stdio::Pipe,
            rr_stdio_mode::RR_STDIO_NULL => Stdio::Null,
            rr_stdio_mode::RR_STDIO_INHERIT => Stdio::Inherit,
            rr_stdio_mode::RR_STDIO_FD => {
                // SAFETY: F_GETFD on any integer only queries.
                if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                    return Err(Error::from_errno(
                        ErrorKind::InvalidArgument,
                        format!("fd {fd} (for stream {stream}) is not an open file descriptor"),
                        nix::errno::Errno::EBADF,
                    ));
                }
                Stdio::Fd(fd)
            }
            rr_stdio_mode::RR_STDIO_STDOUT if index == 2 => Stdio::Stdout,
            rr_stdio_mode::RR_STDIO_STDOUT => {
                return Err(Error::invalid_argument(format!(
                    "mode RR_STDIO_STDOUT is only for stream 2 (stderr), not stream {stream}"
                )))
            }
        };
        attrs.stdio[index] = stdio;
        Ok(())
    })
}
