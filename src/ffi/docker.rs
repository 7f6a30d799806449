//! Housekeeping for the `docker` runner.

use std::ffi::c_char;

use super::{guard, json, rr_error, rr_status};

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
