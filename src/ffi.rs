//! The C ABI: thin wrappers over the Rust API. This is the only module with
//! `extern "C"` functions; every one of them runs inside [`guard`], which
//! turns errors into an `rr_error` object and a caught panic into
//! `RR_ERR_INTERNAL`, so nothing unwinds into the host.
//!
//! The header `include/restricted_runner.h` is generated from this file by
//! cbindgen (see `cbindgen.toml`); `tests/header.rs` fails when it drifts.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, CStr, CString, OsStr, OsString};
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::Duration;

use crate::child::ExitStatus;
use crate::error::{Error, ErrorKind, Result};
use crate::process::Process;
use crate::runner::{Command, Runner};
use crate::spawn::{parse_env_entry, Stdio};
use crate::template::Params;

/// Major version of this library; matches `rr_version()`.
pub const RR_VERSION_MAJOR: u32 = 0;
/// Minor version of this library.
pub const RR_VERSION_MINOR: u32 = 1;
/// Patch version of this library.
pub const RR_VERSION_PATCH: u32 = 0;

/// Status of a call. `RR_OK` is 0, so `if (rc != RR_OK)` and `if (rc)` both
/// test for failure. Values are stable and only ever appended.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rr_status {
    /// Success.
    RR_OK = 0,
    /// A required pointer was NULL, or an argument was malformed (an env
    /// entry without `=`, a string with an embedded NUL, a bad signal).
    RR_ERR_INVALID_ARGUMENT = 1,
    /// The runner kind is not known; the message lists the known kinds.
    RR_ERR_UNKNOWN_RUNNER = 2,
    /// The options or params JSON is malformed, has an unknown key or a
    /// value of the wrong type, names a missing param, or holds a value the
    /// runner cannot use safely. The message names the key.
    RR_ERR_INVALID_OPTIONS = 3,
    /// Something the runner needs is missing on this machine (a binary, a
    /// kernel feature, an engine); the message says what and how to get it.
    RR_ERR_REQUIREMENTS = 4,
    /// The command does not exist; the message names it.
    RR_ERR_COMMAND_NOT_FOUND = 5,
    /// The process could not be started.
    RR_ERR_SPAWN = 6,
    /// A system call failed while running, signalling or waiting.
    RR_ERR_IO = 7,
    /// The deadline passed first.
    RR_ERR_TIMEOUT = 8,
    /// A bug in this library (a caught panic).
    RR_ERR_INTERNAL = 9,
    /// The caller cancelled the call (see `rr_run_cancelable`).
    RR_ERR_CANCELED = 10,
}

impl From<ErrorKind> for rr_status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => rr_status::RR_ERR_INVALID_ARGUMENT,
            ErrorKind::UnknownRunner => rr_status::RR_ERR_UNKNOWN_RUNNER,
            ErrorKind::InvalidOptions => rr_status::RR_ERR_INVALID_OPTIONS,
            ErrorKind::Requirements => rr_status::RR_ERR_REQUIREMENTS,
            ErrorKind::CommandNotFound => rr_status::RR_ERR_COMMAND_NOT_FOUND,
            ErrorKind::Spawn => rr_status::RR_ERR_SPAWN,
            ErrorKind::Io => rr_status::RR_ERR_IO,
            ErrorKind::Timeout => rr_status::RR_ERR_TIMEOUT,
            ErrorKind::Internal => rr_status::RR_ERR_INTERNAL,
            ErrorKind::Canceled => rr_status::RR_ERR_CANCELED,
        }
    }
}

/// A runner: a kind with its options, checked when it was built. Immutable;
/// may be used from many threads at once.
pub struct rr_runner {
    inner: Runner,
}

/// One spawned process. Used by one thread at a time, except as
/// `rr_process_wait_exit` describes.
pub struct rr_process {
    inner: Process,
}

/// An error: a status code, a message, and the OS errno where one exists.
pub struct rr_error {
    code: rr_status,
    message: CString,
    os_error: i32,
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

/// What `rr_run` captured. Each buffer holds `*_len` bytes followed by a NUL
/// (so text output can be used as a C string), is owned by this struct and
/// is released by `rr_output_free`, never by `free()`.
#[repr(C)]
pub struct rr_output {
    /// Everything the command wrote to stdout.
    pub stdout_data: *mut c_char,
    /// Length of `stdout_data`, without the trailing NUL.
    pub stdout_len: usize,
    /// Everything the command wrote to stderr.
    pub stderr_data: *mut c_char,
    /// Length of `stderr_data`, without the trailing NUL.
    pub stderr_len: usize,
    /// How the command ended.
    pub status: rr_exit_status,
}

fn new_error(e: &Error) -> rr_error {
    let text = e.to_string().replace('\0', "\\0");
    rr_error {
        code: e.kind().into(),
        message: CString::new(text).unwrap_or_default(),
        os_error: e.raw_os_error().unwrap_or(0),
    }
}

/// Runs `f`, turning its error or panic into a status and an error object.
fn guard<F>(err: *mut *mut rr_error, f: F) -> rr_status
where
    F: FnOnce() -> Result<()>,
{
    let e = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return rr_status::RR_OK,
        Ok(Err(e)) => e,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Error::internal(format!("panic: {what}"))
        }
    };
    let code = e.kind().into();
    if !err.is_null() {
        // Building the error object cannot panic in practice; if it did,
        // the caller still gets the status code.
        if let Ok(obj) = catch_unwind(|| Box::into_raw(Box::new(new_error(&e)))) {
            // SAFETY: the caller passed a writable `rr_error **`.
            unsafe { *err = obj };
        }
    }
    code
}

/// # Safety
/// `p` is NULL or a valid NUL-terminated string that outlives `'a`.
unsafe fn required<'a>(p: *const c_char, name: &str) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    // SAFETY: checked non-NULL; validity is the caller's contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// # Safety
/// As [`required`].
unsafe fn json<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    let bytes = unsafe { required(p, name) }?;
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|e| Error::invalid_options(format!("{name} is not valid UTF-8: {e}")))
}

/// # Safety
/// `p` is NULL or a NULL-terminated array of valid NUL-terminated strings.
unsafe fn string_array<'a>(p: *const *const c_char) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    if p.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        // SAFETY: the array is NULL-terminated per the caller's contract.
        let item = unsafe { *p.add(i) };
        if item.is_null() {
            return out;
        }
        // SAFETY: each item is a valid NUL-terminated string.
        out.push(unsafe { CStr::from_ptr(item) }.to_bytes());
        i += 1;
    }
}

/// # Safety
/// `p` is NULL or points to a live object of type T.
unsafe fn handle<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: forwarded contract.
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid_argument(format!("{name} is NULL")))
}

fn env_pairs(entries: &[&[u8]]) -> Result<Vec<(OsString, OsString)>> {
    entries.iter().map(|e| parse_env_entry(e)).collect()
}

fn timeout_from_ms(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

/// Creates a runner of `kind` configured by `options_json`.
///
/// `kind` is one of `"exec"`, `"sandbox-exec"`, `"firejail"`, `"docker"`,
/// `"landrun"` (alias `"landlock"`). `options_json` is a UTF-8 JSON object
/// with that runner's option keys, or NULL for `{}`. Options are strict: an
/// unknown key or a wrong type is `RR_ERR_INVALID_OPTIONS` naming the key.
/// The runner's requirements are checked here (`RR_ERR_REQUIREMENTS`).
///
/// On success `*out` receives a runner that the caller frees with
/// `rr_runner_free`. On failure `*out` is not written and, if `err` is not
/// NULL, `*err` receives an error to free with `rr_error_free` (this holds
/// for every function taking `rr_error **err`; on success `*err` is not
/// touched).
///
/// # Safety
/// Pointers are NULL or valid as described; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn rr_runner_new(
    kind: *const c_char,
    options_json: *const c_char,
    out: *mut *mut rr_runner,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        if out.is_null() {
            return Err(Error::invalid_argument("out is NULL"));
        }
        // SAFETY: C strings per this function's contract.
        let kind = unsafe { required(kind, "kind") }?;
        // SAFETY: as above.
        let options = unsafe { json(options_json, "options_json") }?;
        let runner = Runner::new(&String::from_utf8_lossy(kind), options)?;
        // SAFETY: checked non-NULL above.
        unsafe { *out = Box::into_raw(Box::new(rr_runner { inner: runner })) };
        Ok(())
    })
}

/// Frees a runner. NULL is ignored. Processes spawned from it stay valid.
///
/// # Safety
/// `runner` is NULL or a runner from `rr_runner_new` not yet freed, and no
/// other thread is using it.
#[no_mangle]
pub unsafe extern "C" fn rr_runner_free(runner: *mut rr_runner) {
    if !runner.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: ownership returns to Rust exactly once, per the contract.
            drop(unsafe { Box::from_raw(runner) });
        }));
    }
}

/// Checks that `options_json` is valid for `kind` and that the runner's
/// requirements are met on this machine, without creating a runner.
/// Returns `RR_OK`, or the error `rr_runner_new` would return.
///
/// # Safety
/// Pointers are NULL or valid NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn rr_check_requirements(
    kind: *const c_char,
    options_json: *const c_char,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: C strings per this function's contract.
        let kind = unsafe { required(kind, "kind") }?;
        // SAFETY: as above.
        let options = unsafe { json(options_json, "options_json") }?;
        Runner::check_requirements(&String::from_utf8_lossy(kind), options)
    })
}

/// Starts `cmd` with `args` under `runner` and hands back pipe fds to its
/// standard streams.
///
/// `cmd` is a program name (looked up in PATH) or path. `args` is a
/// NULL-terminated array of arguments not repeating `cmd`, or NULL. `env`
/// is a NULL-terminated array of `KEY=VALUE` entries added on top of the
/// caller's environment (a later entry wins), or NULL. `params_json` is a
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
    guard(err, || {
        // SAFETY: pointer validity is this function's contract.
        let runner = unsafe { handle(runner, "runner") }?;
        // SAFETY: as above.
        let cmd = unsafe { required(cmd, "cmd") }?;
        if out.is_null() {
            return Err(Error::invalid_argument("out is NULL"));
        }
        // SAFETY: as above.
        let args = unsafe { string_array(args) };
        // SAFETY: as above.
        let env = env_pairs(&unsafe { string_array(env) })?;
        // SAFETY: as above.
        let params = Params::from_json(unsafe { json(params_json, "params_json") }?)?;
        let stdio = |p: *mut c_int| {
            if p.is_null() {
                Stdio::Null
            } else {
                Stdio::Pipe
            }
        };
        let mut command = Command::new(OsStr::from_bytes(cmd))
            .args(args.iter().map(|a| OsStr::from_bytes(a)))
            .params(params)
            .stdio(stdio(stdin_fd), stdio(stdout_fd), stdio(stderr_fd));
        command.env = env;
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

/// The pid of the process's direct child (for container runners, the
/// engine CLI), or -1 for NULL.
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

/// Runs `shell -c command` under `runner` to completion and captures both
/// streams (go-restricted-runner's `Run`). An empty or NULL `shell` means
/// the runner's `shell` option, else `$SHELL`, else `/bin/sh` (container
/// runners default to `/bin/sh` in the container). The command's stdin is
/// /dev/null. `env` and `params_json` are as for `rr_run_with_pipes`.
///
/// When the command exits, whatever is left of its process tree is killed,
/// so a background grandchild holding the output pipes cannot hang the call.
/// With `timeout_ms` > 0 the tree is killed once that time passed and the
/// call returns `RR_ERR_TIMEOUT`; 0 or less means no limit.
///
/// On success (whatever the command's exit code) `*out` is filled and must
/// be released with `rr_output_free`; the exit code is in `out->status`.
///
/// # Safety
/// Pointers are NULL or valid as described; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn rr_run(
    runner: *const rr_runner,
    shell: *const c_char,
    command: *const c_char,
    env: *const *const c_char,
    params_json: *const c_char,
    timeout_ms: i64,
    out: *mut rr_output,
    err: *mut *mut rr_error,
) -> rr_status {
    // SAFETY: same contract; -1 is no cancel fd.
    unsafe {
        rr_run_cancelable(
            runner,
            shell,
            command,
            env,
            params_json,
            timeout_ms,
            -1,
            out,
            err,
        )
    }
}

/// Like `rr_run`, and also stops early when `cancel_fd` becomes readable or
/// hung up: another thread writes a byte to, or closes, the other end of a
/// pipe whose read end is `cancel_fd`. The command's process tree is then
/// killed, reaped and cleaned up, and the call returns `RR_ERR_CANCELED`
/// with `*out` not written. `cancel_fd` stays the caller's (it is only
/// polled, never read or closed); a negative value means no cancellation,
/// which makes this call `rr_run`.
///
/// # Safety
/// As `rr_run`; `cancel_fd` is negative or an open fd for the whole call.
#[no_mangle]
pub unsafe extern "C" fn rr_run_cancelable(
    runner: *const rr_runner,
    shell: *const c_char,
    command: *const c_char,
    env: *const *const c_char,
    params_json: *const c_char,
    timeout_ms: i64,
    cancel_fd: c_int,
    out: *mut rr_output,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: pointer validity is this function's contract.
        let runner = unsafe { handle(runner, "runner") }?;
        // SAFETY: as above.
        let command = unsafe { required(command, "command") }?;
        if out.is_null() {
            return Err(Error::invalid_argument("out is NULL"));
        }
        let shell = if shell.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(OsStr::from_bytes(unsafe { required(shell, "shell") }?))
        };
        // SAFETY: as above.
        let env = env_pairs(&unsafe { string_array(env) })?;
        // SAFETY: as above.
        let params = Params::from_json(unsafe { json(params_json, "params_json") }?)?;
        // SAFETY: open for the whole call per the contract; only borrowed.
        let cancel = (cancel_fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(cancel_fd) });
        let output = runner.inner.run_cancelable(
            shell,
            OsStr::from_bytes(command),
            &env,
            &params,
            timeout_from_ms(timeout_ms),
            cancel,
        )?;
        let (stdout_data, stdout_len) = into_c_buffer(output.stdout);
        let (stderr_data, stderr_len) = into_c_buffer(output.stderr);
        // SAFETY: checked non-NULL above.
        unsafe {
            *out = rr_output {
                stdout_data,
                stdout_len,
                stderr_data,
                stderr_len,
                status: output.status.into(),
            }
        };
        Ok(())
    })
}

fn into_c_buffer(mut data: Vec<u8>) -> (*mut c_char, usize) {
    let len = data.len();
    data.push(0);
    (Box::into_raw(data.into_boxed_slice()) as *mut c_char, len)
}

/// # Safety
/// `data` is NULL or came from `into_c_buffer` with this `len`.
unsafe fn free_c_buffer(data: *mut c_char, len: usize) {
    if !data.is_null() {
        // SAFETY: reconstructs exactly the boxed slice into_c_buffer leaked.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(data as *mut u8, len + 1)) });
    }
}

/// Releases the buffers of an `rr_output` filled by `rr_run` and sets its
/// pointers to NULL and lengths to 0, so a second call is harmless. NULL is
/// ignored. The struct itself belongs to the caller.
///
/// # Safety
/// `out` is NULL, zero-filled, or filled by `rr_run` and not modified since.
#[no_mangle]
pub unsafe extern "C" fn rr_output_free(out: *mut rr_output) {
    // SAFETY: per the contract.
    let Some(out) = (unsafe { out.as_mut() }) else {
        return;
    };
    // SAFETY: buffers came from rr_run with these lengths.
    unsafe {
        free_c_buffer(out.stdout_data, out.stdout_len);
        free_c_buffer(out.stderr_data, out.stderr_len);
    }
    out.stdout_data = ptr::null_mut();
    out.stdout_len = 0;
    out.stderr_data = ptr::null_mut();
    out.stderr_len = 0;
}

/// The status code of `err` (`RR_OK` for NULL).
///
/// # Safety
/// `err` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn rr_error_code(err: *const rr_error) -> rr_status {
    // SAFETY: per the contract.
    unsafe { err.as_ref() }.map_or(rr_status::RR_OK, |e| e.code)
}

/// The message of `err`: UTF-8, NUL-terminated, owned by `err` and valid
/// until `rr_error_free`. An empty string for NULL.
///
/// # Safety
/// `err` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn rr_error_message(err: *const rr_error) -> *const c_char {
    // SAFETY: per the contract.
    match unsafe { err.as_ref() } {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// The OS error number (errno) behind `err`, or 0 when no system call
/// failed (and for NULL).
///
/// # Safety
/// `err` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn rr_error_os_code(err: *const rr_error) -> i32 {
    // SAFETY: per the contract.
    unsafe { err.as_ref() }.map_or(0, |e| e.os_error)
}

/// Frees an error object. NULL is ignored.
///
/// # Safety
/// `err` is NULL or an error from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn rr_error_free(err: *mut rr_error) {
    if !err.is_null() {
        // SAFETY: ownership returns to Rust exactly once, per the contract.
        drop(unsafe { Box::from_raw(err) });
    }
}

/// Removes the containers that `docker` runners created for processes that
/// no longer exist: owners that crashed or exited without `rr_wait`, whose
/// containers may still run. Every container this library starts carries
/// the label `io.restricted-runner.owner` naming its owner by machine, boot,
/// pid and process start time, so a reused pid is not mistaken for the
/// owner, containers of live owners are never touched, and containers
/// created from another machine sharing the engine are left alone.
///
/// `options_json` is a `docker` runner's options, or NULL for `{}`; only
/// `engine` matters here and `image` may be left out. Containers are
/// removed by force, without a graceful-stop wait. On success
/// `*removed_out` (may be NULL) receives how many were removed.
/// `RR_ERR_REQUIREMENTS` means the engine CLI is missing or its engine does
/// not answer; `RR_ERR_IO` that listing or removing failed.
///
/// Typically called once when a host program starts, before it creates
/// runners.
///
/// # Safety
/// Pointers are NULL or valid as described.
#[no_mangle]
pub unsafe extern "C" fn rr_docker_remove_orphans(
    options_json: *const c_char,
    removed_out: *mut u32,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: a C string per this function's contract.
        let options = unsafe { json(options_json, "options_json") }?;
        let removed = crate::docker::remove_orphans(options)?;
        if !removed_out.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *removed_out = removed };
        }
        Ok(())
    })
}

/// The library version, `"MAJOR.MINOR.PATCH"`; a static string.
#[no_mangle]
pub extern "C" fn rr_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_message(f: impl FnOnce() -> Result<()>) -> (rr_status, String) {
        let mut err: *mut rr_error = ptr::null_mut();
        let status = guard(&mut err, f);
        // SAFETY: err is NULL or an error object from guard.
        let message = unsafe { CStr::from_ptr(rr_error_message(err)) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as above, freed once.
        unsafe { rr_error_free(err) };
        (status, message)
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let (status, message) = status_and_message(|| panic!("boom at the boundary"));
        assert_eq!(status, rr_status::RR_ERR_INTERNAL);
        assert!(message.contains("boom at the boundary"), "{message}");
    }

    #[test]
    fn errors_keep_their_code_and_success_writes_nothing() {
        let (status, message) = status_and_message(|| Err(Error::invalid_options("option \"x\"")));
        assert_eq!(status, rr_status::RR_ERR_INVALID_OPTIONS);
        assert!(message.contains("option \"x\""), "{message}");
        let mut err: *mut rr_error = ptr::null_mut();
        assert_eq!(guard(&mut err, || Ok(())), rr_status::RR_OK);
        assert!(err.is_null());
    }

    #[test]
    fn status_values_are_stable() {
        let expected = [
            (rr_status::RR_OK, 0),
            (rr_status::RR_ERR_INVALID_ARGUMENT, 1),
            (rr_status::RR_ERR_UNKNOWN_RUNNER, 2),
            (rr_status::RR_ERR_INVALID_OPTIONS, 3),
            (rr_status::RR_ERR_REQUIREMENTS, 4),
            (rr_status::RR_ERR_COMMAND_NOT_FOUND, 5),
            (rr_status::RR_ERR_SPAWN, 6),
            (rr_status::RR_ERR_IO, 7),
            (rr_status::RR_ERR_TIMEOUT, 8),
            (rr_status::RR_ERR_INTERNAL, 9),
            (rr_status::RR_ERR_CANCELED, 10),
        ];
        for (status, value) in expected {
            assert_eq!(status as u32, value, "{status:?}");
        }
    }
}
