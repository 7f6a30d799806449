//! Spawned processes: starting one with pipes, waiting, signalling.

use std::ffi::{c_char, c_int, OsStr};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;
use std::ptr;
use std::time::Duration;

use super::{
    env_pairs, guard, handle, json, required, rr_error, rr_runner, rr_spawn_attrs, rr_status,
    string_array,
};
use crate::child::ExitStatus;
use crate::error::{Error, ErrorKind};
use crate::process::Process;
use crate::runner::Command;
use crate::spawn::Stdio;
use crate::template::Params;

/// One spawned process. Used by one thread at a time, except as
/// `rr_process_wait_exit` describes.
pub struct rr_process {
    pub(super) inner: Process,
}

/// How a process ended.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct rr_exit_status {
    /// 1 when the process exited normally, 0 when a signal ended it.
    pub exited: i32,
    /// The exit code when `exited` is 1, else 0.
    pub code: i32,
    /// The signal that ended the process when `exited` is 0, else 0.
    pub signal: i32,
}

impl From<ExitStatus> for rr_exit_status {
    fn from(s: ExitStatus) -> Self {
        match s {
            ExitStatus::Exited(code) => rr_exit_status {
                exited: 1,
                code,
                signal: 0,
            },
            ExitStatus::Signaled(signal) => rr_exit_status {
                exited: 0,
                code: 0,
                signal,
            },
        }
    }
}

/// Starts `cmd` with `args` under `runner` and hands back pipe fds to its
/// standard streams: `rr_spawn` with NULL attributes.
///
/// `cmd` is a program name (looked up in PATH) or path. `args` is a
/// NULL-terminated array of arguments not repeating `cmd`, or NULL. `env`
/// is a NULL-terminated array of `KEY=VALUE` entries added on top of the
/// environment the runner passes on (a later entry wins), or NULL: host
/// runners pass the caller's environment unless their `inherit_env` option
/// is false, then only what `pass_env` names; `docker` passes only what
/// `pass_env` names. `params_json` is a
/// JSON object whose values fill `{{ .name }}` placeholders in the runner's
/// options for this spawn only, or NULL.
///
/// On success `*stdin_fd` receives the write end of the child's stdin,
/// `*stdout_fd` and `*stderr_fd` the read ends of its stdout and stderr.
/// They are close-on-exec, owned by the caller, who must close them. A NULL
/// fd pointer connects that stream of the child to /dev/null instead.
/// `*out` receives the process handle, which `rr_wait` (or a completing
/// `rr_wait_timeout`) consumes.
///
/// The child gets exactly fds 0, 1 and 2, its own process group, default
/// signal dispositions and an empty signal mask. Writing to the stdin fd
/// after the child exited fails with EPIPE, and raises SIGPIPE in the
/// caller unless the caller ignores SIGPIPE (as Go, Rust and most servers do).
///
/// # Safety
/// Pointers are NULL or valid as described; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn rr_run_with_pipes(
    runner: *const rr_runner,
    cmd: *const c_char,
    args: *const *const c_char,
    env: *const *const c_char,
    params_json: *const c_char,
    stdin_fd: *mut c_int,
    stdout_fd: *mut c_int,
    stderr_fd: *mut c_int,
    out: *mut *mut rr_process,
    err: *mut *mut rr_error,
) -> rr_status {
    // SAFETY: the same contract; NULL attributes are the defaults.
    unsafe {
        rr_spawn(
            runner,
            cmd,
            args,
            env,
            params_json,
            ptr::null(),
            stdin_fd,
            stdout_fd,
            stderr_fd,
            out,
            err,
        )
    }
}

/// Starts `cmd` with `args` under `runner` with the spawn attributes
/// `attrs` (NULL: the defaults), and hands back pipe fds to the standard
/// streams the attributes leave as pipes.
///
/// Everything but `attrs` is as for `rr_run_with_pipes`. `attrs` is only
/// read during the call: the caller may free or change it afterwards. A
/// stream that `rr_spawn_attrs_set_stdio` sent elsewhere than a pipe
/// (/dev/null, the caller's own stream, an fd, stdout's target) is not
/// handed back: its fd pointer is not written and may be NULL. For a
/// stream left as `RR_STDIO_PIPE`, a NULL fd pointer still means /dev/null.
/// An attribute that cannot be applied fails the spawn with an error naming
/// it (a working folder that does not exist is `RR_ERR_SPAWN` naming the
/// folder), leaving no process and no fd behind.
///
/// # Safety
/// Pointers are NULL or valid as described; `attrs` is NULL or a live
/// object that no thread changes during the call; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn rr_spawn(
    runner: *const rr_runner,
    cmd: *const c_char,
    args: *const *const c_char,
    env: *const *const c_char,
    params_json: *const c_char,
    attrs: *const rr_spawn_attrs,
    stdin_fd: *mut c_int,
    stdout_fd: *mut c_int,
    stderr_fd: *mut c_int,
    out: *mut *mut rr_process,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: pointer validity is this function's contract.
        let runner = unsafe { handle(runner, "runner") }?;
        // SAFETY: as above.
        let command = unsafe { command_from(cmd, args, env, params_json, attrs) }?;
        if out.is_null() {
            return Err(Error::invalid_argument("out is NULL"));
        }
        // SAFETY: NULL or live per the contract.
        let modes = unsafe { attrs.as_ref() }.map_or([Stdio::Pipe; 3], |a| a.stdio);
        // A pipe is what the fd pointer asks for; NULL means /dev/null.
        let stdio = |mode: Stdio, p: *mut c_int| match mode {
            Stdio::Pipe if p.is_null() => Stdio::Null,
            other => other,
        };
        let command = command.stdio(
            stdio(modes[0], stdin_fd),
            stdio(modes[1], stdout_fd),
            stdio(modes[2], stderr_fd),
        );
        let mut process = runner.inner.spawn(&command)?;
        let fds = [
            (stdin_fd, process.take_stdin()),
            (stdout_fd, process.take_stdout()),
            (stderr_fd, process.take_stderr()),
        ];
        for (slot, fd) in fds {
            if let (false, Some(fd)) = (slot.is_null(), fd) {
                // SAFETY: non-NULL slot per the contract.
                unsafe { *slot = fd.into_raw_fd() };
            }
        }
        // SAFETY: checked non-NULL above.
        unsafe { *out = Box::into_raw(Box::new(rr_process { inner: process })) };
        Ok(())
    })
}

/// The command `rr_spawn` and `rr_runner_explain` describe with the same
/// arguments.
///
/// # Safety
/// As `rr_spawn`'s `cmd`, `args`, `env`, `params_json` and `attrs`.
pub(super) unsafe fn command_from(
    cmd: *const c_char,
    args: *const *const c_char,
    env: *const *const c_char,
    params_json: *const c_char,
    attrs: *const rr_spawn_attrs,
) -> crate::error::Result<Command> {
    // SAFETY: pointer validity is the caller's contract.
    let cmd = unsafe { required(cmd, "cmd") }?;
    // SAFETY: as above.
    let args = unsafe { string_array(args) };
    // SAFETY: as above.
    let env = env_pairs(&unsafe { string_array(env) })?;
    // SAFETY: as above.
    let params = Params::from_json(unsafe { json(params_json, "params_json") }?)?;
    let mut command = Command::new(OsStr::from_bytes(cmd))
        .args(args.iter().map(|a| OsStr::from_bytes(a)))
        .params(params);
    // SAFETY: NULL or live per the contract.
    if let Some(attrs) = unsafe { attrs.as_ref() } {
        command = command.attrs(attrs.inner.clone());
    }
    command.env = env;
    Ok(command)
}

/// Consumes `process`: waits for it to exit, reaps it, kills whatever is
/// left of its process group (or container), removes every profile file and
/// container its spawn created, and frees the handle, on every path, errors
/// included. `*status` (may be NULL) receives how it ended on success.
///
/// # Safety
/// `process` is NULL or a live handle from `rr_run_with_pipes`; it must not
/// be used after this call.
#[no_mangle]
pub unsafe extern "C" fn rr_wait(
    process: *mut rr_process,
    status: *mut rr_exit_status,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        if process.is_null() {
            return Err(Error::invalid_argument("process is NULL"));
        }
        // SAFETY: ownership returns to Rust exactly once, per the contract.
        let process = unsafe { Box::from_raw(process) };
        let s = process.inner.wait()?;
        if !status.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *status = s.into() };
        }
        Ok(())
    })
}

/// Like `rr_wait`, but gives up after `timeout_ms` milliseconds: then it
/// returns `RR_ERR_TIMEOUT`, the process keeps running, and the handle stays
/// valid. Any other return consumes the handle as `rr_wait` does.
/// `timeout_ms` 0 only checks; a negative value waits without limit.
///
/// # Safety
/// As `rr_wait`.
#[no_mangle]
pub unsafe extern "C" fn rr_wait_timeout(
    process: *mut rr_process,
    timeout_ms: i64,
    status: *mut rr_exit_status,
    err: *mut *mut rr_error,
) -> rr_status {
    if timeout_ms < 0 {
        // SAFETY: same contract.
        return unsafe { rr_wait(process, status, err) };
    }
    guard(err, || {
        if process.is_null() {
            return Err(Error::invalid_argument("process is NULL"));
        }
        // SAFETY: live handle per the contract; we take it back only when done.
        let p = unsafe { &mut *process };
        let waited = p
            .inner
            .wait_timeout(Duration::from_millis(timeout_ms as u64));
        if let Ok(None) = waited {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("pid {} still running after {timeout_ms} ms", p.inner.pid()),
            ));
        }
        // SAFETY: finished (or failed): ownership returns to Rust once.
        drop(unsafe { Box::from_raw(process) });
        let s = waited?.ok_or_else(|| Error::internal("wait_timeout lost its status"))?;
        if !status.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *status = s.into() };
        }
        Ok(())
    })
}

/// Waits until `process` has exited, without reaping it, cleaning up or
/// freeing the handle; `rr_wait` must still be called. Returns `RR_OK` once
/// it exited, `RR_ERR_TIMEOUT` if `timeout_ms` passed first (negative: no
/// limit).
///
/// While one thread is blocked here, other threads may call
/// `rr_process_kill` and `rr_process_pid` on the same handle. This is how a
/// binding lets a cancellation kill a process that another thread waits for.
///
/// # Safety
/// `process` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rr_process_wait_exit(
    process: *const rr_process,
    timeout_ms: i64,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: live handle per the contract.
        let p = unsafe { handle(process, "process") }?;
        let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        if p.inner.wait_exit(timeout)? {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Timeout,
                format!("pid {} still running after {timeout_ms} ms", p.inner.pid()),
            ))
        }
    })
}

/// Sends `signal` to the whole process tree of `process`: its process group,
/// or its container for container runners. Does not consume the handle; a
/// process that already exited and was reaped is not signalled.
///
/// # Safety
/// `process` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rr_process_kill(
    process: *mut rr_process,
    signal: c_int,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: live handle per the contract; only shared access is needed.
        let p = unsafe { handle(process as *const rr_process, "process") }?;
        if !(0..=64).contains(&signal) {
            return Err(Error::invalid_argument(format!(
                "signal {signal} is not a valid signal number"
            )));
        }
        p.inner.kill(signal)
    })
}

/// Gives a pollable fd that becomes readable (POLLIN) once `process` has
/// exited: a pidfd on Linux. An event loop waits on it for many processes
/// without a thread each, then calls `rr_wait`, which no longer blocks on
/// the exit.
///
/// The fd is owned by the handle: valid until the handle is consumed
/// (`rr_wait`, a completing `rr_wait_timeout`), close-on-exec, and the
/// caller must not close it, read it or change its flags. Every call gives
/// the same fd. `*fd_out` is written only on success.
///
/// `RR_ERR_REQUIREMENTS` where the system has no such fd (Linux before 5.3,
/// macOS): wait there with `rr_process_wait_exit` and a timeout (0 only
/// checks), polling at an interval.
///
/// # Safety
/// `process` is NULL or a live handle; `fd_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rr_process_exit_fd(
    process: *const rr_process,
    fd_out: *mut c_int,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: live handle per the contract.
        let p = unsafe { handle(process, "process") }?;
        if fd_out.is_null() {
            return Err(Error::invalid_argument("fd_out is NULL"));
        }
        let fd = p.inner.exit_fd()?.as_raw_fd();
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { *fd_out = fd };
        Ok(())
    })
}

/// The pid of the process's direct child (for container runners, the
/// engine CLI), or -1 for NULL. Until `rr_wait` reaps it the child stays
/// this process's child, a zombie once it exited, so the pid cannot be
/// reused meanwhile: a caller may wait for the exit itself without reaping
/// (`waitid` with `WNOWAIT`, or a pidfd from `pidfd_open`), then call
/// `rr_wait`.
///
/// # Safety
/// `process` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rr_process_pid(process: *const rr_process) -> i32 {
    // SAFETY: live handle per the contract.
    match unsafe { process.as_ref() } {
        Some(p) => p.inner.pid(),
        None => -1,
    }
}

/// Describes what the spawn of `process` enforced, layer by layer, as a
/// JSON object of the same shape for every runner:
/// `{"runner": ..., "best_effort": ..., "layers": {NAME: {"enforced": bool,
/// "method": string, ...details}}, "missing": [{"layer": ..., "reason": ...}]}`
/// with the layers `filesystem`, `network`, `namespaces`, `landlock`,
/// `seccomp`, `capabilities`, `no_new_privs`, `terminal`, `limits`,
/// `containment`, `die_with_caller` and `environment`, always all present.
/// `missing` lists the layers that would apply but could not (with
/// `best_effort`), and why. A host can log it, or refuse to go on with less
/// than it needs.
///
/// On success `*json_out` receives a NUL-terminated UTF-8 string that the
/// caller frees with `rr_string_free` (never with `free()`).
///
/// # Safety
/// `process` is NULL or a live handle; `json_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn rr_process_enforcement(
    process: *const rr_process,
    json_out: *mut *mut c_char,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: live handle per the contract.
        let p = unsafe { handle(process, "process") }?;
        if json_out.is_null() {
            return Err(Error::invalid_argument("json_out is NULL"));
        }
        let text = match p.inner.enforcement() {
            Some(e) => e.to_string(),
            None => return Err(Error::internal("the spawn left no enforcement report")),
        };
        let s = super::owned_string(text)?;
        // SAFETY: checked non-NULL above.
        unsafe { *json_out = s };
        Ok(())
    })
}
