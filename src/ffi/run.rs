//! The one-shot run: `shell -c command` with both streams captured.

use std::ffi::{c_char, c_int, OsStr, OsString};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use super::{
    env_pairs, guard, handle, json, required, rr_error, rr_exit_status, rr_runner, rr_status,
    string_array, timeout_from_ms,
};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::template::Params;

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
        let a = unsafe { RunArgs::parse(runner, shell, command, env, params_json, cancel_fd) }?;
        if out.is_null() {
            return Err(Error::invalid_argument("out is NULL"));
        }
        let output = a.runner.run_cancelable(
            a.shell,
            a.command,
            &a.env,
            &a.params,
            timeout_from_ms(timeout_ms),
            a.cancel,
        )?;
        // SAFETY: checked non-NULL above.
        unsafe { *out = rr_output::from(output) };
        Ok(())
    })
}

/// The arguments `rr_run_cancelable` and `rr_run_info` share, checked and
/// converted.
pub(super) struct RunArgs<'a> {
    pub(super) runner: &'a crate::Runner,
    pub(super) shell: Option<&'a OsStr>,
    pub(super) command: &'a OsStr,
    pub(super) env: Vec<(OsString, OsString)>,
    pub(super) params: Params,
    pub(super) cancel: Option<BorrowedFd<'a>>,
}

impl<'a> RunArgs<'a> {
    /// # Safety
    /// As `rr_run_cancelable`'s arguments.
    pub(super) unsafe fn parse(
        runner: *const rr_runner,
        shell: *const c_char,
        command: *const c_char,
        env: *const *const c_char,
        params_json: *const c_char,
        cancel_fd: c_int,
    ) -> Result<RunArgs<'a>> {
        // SAFETY: pointer validity is the caller's contract.
        let runner = unsafe { handle(runner, "runner") }?;
        // SAFETY: as above.
        let command = unsafe { required(command, "command") }?;
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
        Ok(RunArgs {
            runner: &runner.inner,
            shell,
            command: OsStr::from_bytes(command),
            env,
            params,
            cancel,
        })
    }
}

impl From<Output> for rr_output {
    fn from(output: Output) -> rr_output {
        let (stdout_data, stdout_len) = into_c_buffer(output.stdout);
        let (stderr_data, stderr_len) = into_c_buffer(output.stderr);
        rr_output {
            stdout_data,
            stdout_len,
            stderr_data,
            stderr_len,
            status: output.status.into(),
        }
    }
}

pub(super) fn into_c_buffer(mut data: Vec<u8>) -> (*mut c_char, usize) {
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
