//! The C ABI: thin wrappers over the Rust API, one file per object as
//! rustls-ffi does (`runner`, `process`, `spawn_attrs`, `run`, `error`,
//! `docker`). This is
//! the only module with `extern "C"` functions; every one of them runs inside
//! `guard`, which turns errors into an `rr_error` object and a caught panic
//! into `RR_ERR_INTERNAL`, so nothing unwinds into the host.
//!
//! The header `include/restricted_runner.h` is generated from these files by
//! cbindgen (see `cbindgen.toml`); `tests/header.rs` fails when it drifts.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, CStr, OsString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::spawn::parse_env_entry;
use error::new_error;

mod docker;
mod error;
mod explain;
mod process;
mod run;
mod runner;
mod spawn_attrs;
mod wait_result;

pub use docker::*;
pub use error::*;
pub use explain::*;
pub use process::*;
pub use run::*;
pub use runner::*;
pub use spawn_attrs::*;
pub use wait_result::*;

/// Major version of this library; matches `rr_version()`.
pub const RR_VERSION_MAJOR: u32 = 0;
/// Minor version of this library.
pub const RR_VERSION_MINOR: u32 = 1;
/// Patch version of this library.
pub const RR_VERSION_PATCH: u32 = 0;

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

/// # Safety
/// `p` is NULL or points to a live object of type T that no other thread
/// uses.
unsafe fn handle_mut<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    // SAFETY: forwarded contract.
    unsafe { p.as_mut() }.ok_or_else(|| Error::invalid_argument(format!("{name} is NULL")))
}

fn env_pairs(entries: &[&[u8]]) -> Result<Vec<(OsString, OsString)>> {
    entries.iter().map(|e| parse_env_entry(e)).collect()
}

fn timeout_from_ms(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

/// A copy of `text` as a C string the caller frees with `rr_string_free`.
fn owned_string(text: String) -> Result<*mut c_char> {
    std::ffi::CString::new(text)
        .map(std::ffi::CString::into_raw)
        .map_err(|_| Error::internal("a returned string held a NUL byte"))
}

/// Frees a string this library returned through an `*_out` parameter
/// (`rr_process_enforcement`, ...). NULL is ignored.
///
/// # Safety
/// `s` is NULL or a string from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn rr_string_free(s: *mut c_char) {
    if !s.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: made by CString::into_raw in owned_string.
            drop(unsafe { std::ffi::CString::from_raw(s) });
        }));
    }
}

/// The library version, `"MAJOR.MINOR.PATCH"`; a static string.
#[no_mangle]
pub extern "C" fn rr_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

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
