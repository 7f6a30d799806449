//! `rr_runner_explain`: what a spawn would do, as JSON, without doing it.

use std::ffi::c_char;

use super::process::command_from;
use super::{guard, handle, owned_string};
use super::{rr_error, rr_runner, rr_spawn_attrs, rr_status};
use crate::error::Error;

/// Describes what `rr_spawn` would do with the same arguments, without
/// starting anything or writing any file, as a JSON object of the same
/// shape for every runner:
/// `{"runner", "program", "argv", "working_folder", "profile", "landlock",
/// "namespaces", "mounts", "seccomp", "capabilities", "network", "limits",
/// "containment", "environment", "notes"}`. `argv` is the argv that would be
/// executed, element by element (firejail's or the engine CLI's for those
/// runners, the program's own otherwise); `profile` is the rendered
/// firejail or Seatbelt profile; `landlock` the rules; `environment` the
/// `KEY=VALUE` entries the command would get; `notes` what is decided only
/// at spawn time (temporary file and container names) and what would make
/// the spawn fail. A key a runner has no layer for holds `null`, `[]` or
/// `{}`.
///
/// The arguments are `rr_spawn`'s: `cmd` and the NULL-terminated `args`
/// (without `cmd`), `env` (NULL-terminated `KEY=VALUE` entries added to the
/// caller's, or NULL), `params_json` (or NULL) and `attrs` (or NULL). A bad
/// param, path or option is the error the spawn would give. The runner's
/// requirements are not checked; a `docker` runner with engine `auto` asks
/// the engines which one answers, as its spawn would.
///
/// On success `*json_out` receives a NUL-terminated UTF-8 string that the
/// caller frees with `rr_string_free` (never with `free()`); on failure it
/// is left untouched. Safe to call from many threads on one runner.
///
/// # Safety
/// `runner` is NULL or a live runner; `cmd` is NULL or a NUL-terminated
/// string; `args` and `env` are NULL or NULL-terminated arrays of such
/// strings; `params_json` is NULL or a NUL-terminated string; `attrs` is
/// NULL or live; `json_out` is writable; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rr_runner_explain(
    runner: *const rr_runner,
    cmd: *const c_char,
    args: *const *const c_char,
    env: *const *const c_char,
    params_json: *const c_char,
    attrs: *const rr_spawn_attrs,
    json_out: *mut *mut c_char,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: pointer validity is this function's contract.
        let runner = unsafe { handle(runner, "runner") }?;
        // SAFETY: as above.
        let command = unsafe { command_from(cmd, args, env, params_json, attrs) }?;
        if json_out.is_null() {
            return Err(Error::invalid_argument("json_out is NULL"));
        }
        let text = runner.inner.explain(&command)?.to_json().to_string();
        let s = owned_string(text)?;
        // SAFETY: checked non-NULL above.
        unsafe { *json_out = s };
        Ok(())
    })
}
