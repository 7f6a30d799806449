//! Runners: creating, checking and freeing them.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{guard, json, required, rr_error, rr_status};
use crate::error::Error;
use crate::runner::Runner;

/// A runner: a kind with its options, checked when it was built. Immutable;
/// may be used from many threads at once.
pub struct rr_runner {
    pub(super) inner: Runner,
}

/// Creates a runner of `kind` configured by `options_json`.
///
/// `kind` is one of `"exec"`, `"sandbox-exec"`, `"firejail"`, `"docker"`,
/// `"landrun"` (alias `"landlock"`). `options_json` is a UTF-8 JSON object
/// with that runner's option keys, or NULL for `{}`. Options are strict: an
/// unknown key, a key given twice or a wrong type is
/// `RR_ERR_INVALID_OPTIONS` naming the key.
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
