//! Status codes and error objects.

use std::ffi::{c_char, CString};

use crate::error::{Error, ErrorKind};

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
    /// The options or params JSON is malformed, has an unknown key, a key
    /// given twice or a value of the wrong type, names a missing param, or
    /// holds a value the runner cannot use safely. The message names the
    /// key, and the param when a param's value is refused.
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

/// An error: a status code, a message, and the OS errno where one exists.
pub struct rr_error {
    code: rr_status,
    message: CString,
    os_error: i32,
}

pub(super) fn new_error(e: &Error) -> rr_error {
    let text = e.to_string().replace('\0', "\\0");
    rr_error {
        code: e.kind().into(),
        message: CString::new(text).unwrap_or_default(),
        os_error: e.raw_os_error().unwrap_or(0),
    }
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
