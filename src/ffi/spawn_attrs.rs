//! Spawn attributes: per-spawn settings passed to `rr_spawn`.

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{guard, rr_error, rr_status};
use crate::attrs::SpawnAttrs;
use crate::error::Error;

/// Settings of one spawn that are neither the command nor the runner's
/// options (its working folder), in the spirit of `posix_spawnattr_t`:
/// created with `rr_spawn_attrs_new`, changed with `rr_spawn_attrs_set_*`,
/// passed to `rr_spawn`, freed with `rr_spawn_attrs_free`. `rr_spawn` only
/// reads it, so one object may serve many spawns, from many threads at
/// once as long as none changes it meanwhile.
pub struct rr_spawn_attrs {
    pub(super) inner: SpawnAttrs,
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
        let attrs =
            unsafe { attrs.as_mut() }.ok_or_else(|| Error::invalid_argument("attrs is NULL"))?;
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
