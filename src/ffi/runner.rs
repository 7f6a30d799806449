//! Runners: creating, checking and freeing them.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{guard, handle, json, required, rr_error, rr_status};
use crate::error::Error;
use crate::runner::Runner;

/// A runner: a kind with its options. Immutable; may be used from many
/// threads at once. Its requirements are checked when it is built by
/// `rr_runner_new`; one built by `rr_runner_new_unchecked` is checked by
/// `rr_runner_check` and at its first spawn instead.
pub struct rr_runner {
    pub(super) inner: Runner,
}

/// Creates a runner of `kind` configured by `options_json`.
///
/// `kind` is one of `"exec"`, `"sandbox-exec"`, `"firejail"`, `"docker"`,
/// `"landrun"` (alias `"landlock"`). `options_json` is a UTF-8 JSON object
/// with that runner's option keys, or NULL for `{}`. Options are strict: an
/// unknown key, a key given twice or a wrong type is
/// `RR_ERR_INVALID_OPTIONS` naming the key. The runner's requirements are
/// checked here (`RR_ERR_REQUIREMENTS` says what is missing);
/// `rr_runner_new_unchecked` leaves that for later.
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

/// Creates a runner of `kind` configured by `options_json`, like
/// `rr_runner_new`, without checking the runner's requirements.
///
/// The kind and options are checked as strictly as by `rr_runner_new`
/// (`RR_ERR_UNKNOWN_RUNNER`, `RR_ERR_INVALID_OPTIONS`), but what the runner
/// needs on this machine (its OS, a program such as firejail, Landlock, an
/// engine that answers) is not looked at here: this succeeds wherever the
/// options are valid. The requirements are checked by `rr_runner_check`,
/// and by the first spawn (`rr_run_with_pipes`, `rr_run`,
/// `rr_run_cancelable`), which fails with `RR_ERR_REQUIREMENTS` while
/// something is missing. Once a check passed, spawns do not check again.
///
/// Use it to build a runner first and decide afterwards, with
/// `rr_runner_check`, whether to use it or fall back to another.
/// Ownership and errors are as for `rr_runner_new`.
///
/// # Safety
/// Pointers are NULL or valid as described; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn rr_runner_new_unchecked(
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
        let runner = Runner::new_unchecked(&String::from_utf8_lossy(kind), options)?;
        // SAFETY: checked non-NULL above.
        unsafe { *out = Box::into_raw(Box::new(rr_runner { inner: runner })) };
        Ok(())
    })
}

/// Checks now that what `runner` needs is on this machine: `RR_OK`, or
/// `RR_ERR_REQUIREMENTS` saying what is missing. Each call checks afresh
/// (for the docker runner this asks the engine, a few tens of ms). After a
/// check passed, spawns from `runner` no longer check. Thread-safe, like
/// every call taking a `const rr_runner *`.
///
/// # Safety
/// `runner` is NULL (`RR_ERR_INVALID_ARGUMENT`) or a live runner.
#[no_mangle]
pub unsafe extern "C" fn rr_runner_check(
    runner: *const rr_runner,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: pointer validity is this function's contract.
        let runner = unsafe { handle(runner, "runner") }?;
        runner.inner.check()
    })
}

/// Frees a runner. NULL is ignored. Processes spawned from it stay valid.
///
/// # Safety
/// `runner` is NULL or a runner from `rr_runner_new` or
/// `rr_runner_new_unchecked` not yet freed, and no other thread is using it.
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

/// Reclaims everything recorded by spawns of callers that are dead (they
/// crashed, were killed, or exited without waiting, and their watchdog is
/// gone too): kills their leftover processes, removes their containers,
/// profile files and cgroups, and the records. Never touches the spawns of
/// a process that is alive; several processes may run it at once, and it
/// may run while others spawn. On success `*reclaimed_out` (may be NULL)
/// receives how many spawns were reclaimed.
///
/// Each process already does this once, in the background, when it builds
/// its first runner; call it to reclaim at a moment of your choosing (a
/// service's start, a CI job's end).
///
/// # Safety
/// Pointers are NULL or valid as described.
#[no_mangle]
pub unsafe extern "C" fn rr_gc(reclaimed_out: *mut u32, err: *mut *mut rr_error) -> rr_status {
    guard(err, || {
        let n = crate::gc()?;
        if !reclaimed_out.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *reclaimed_out = n };
        }
        Ok(())
    })
}
